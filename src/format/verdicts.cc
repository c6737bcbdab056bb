#include "format/verdicts.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <utility>

#include "format/conntrack_format.h"
#include "parse/bytes.h"

namespace ctrack {
namespace {

void AddNote(std::string* notes, const std::string& note) {
  if (!notes->empty()) *notes += ',';
  *notes += note;
}

// kernel-ct's short protocol names for summaries: "proto<N>" where it has none.
std::string SummaryProtoName(uint8_t proto) {
  const char* n = OracleL4Name(proto);
  return n != nullptr ? n : "proto" + std::to_string(proto);
}

// "<proto> <src>[:port]><dst>[:port] [flags]" as kernel-ct decodes it. `l4` is the layer-4
// offset in `b` (-1 when unknown, e.g. a non-first fragment); `end` bounds the datagram.
std::string L4Summary(uint8_t proto, const uint8_t* b, int64_t l4, uint32_t end,
                      const std::string& src, const std::string& dst) {
  std::string name = SummaryProtoName(proto);
  std::string s = name + " " + src + ">" + dst;
  if (l4 < 0 || l4 >= end) return s;
  uint32_t off = static_cast<uint32_t>(l4);
  bool ported = ProtoInfo(proto).has_ports || proto == kProtoDccp;
  if (ported && off + 4 <= end) {
    s = name + " " + src + ":" + std::to_string(Load16(b + off)) + ">" + dst + ":" +
        std::to_string(Load16(b + off + 2));
    if (proto == kProtoTcp && off + 14 <= end) {
      uint8_t fl = b[off + 13];
      s += " [";
      const char* letters = "FSRPAUEC";
      for (int i = 0; i < 8; ++i) {
        if (fl & (1u << i)) s += letters[i];
      }
      s += ']';
    }
    return s;
  }
  if ((proto == kProtoIcmp || proto == kProtoIcmpv6) && off + 2 <= end) {
    s += " type=" + std::to_string(b[off]) + " code=" + std::to_string(b[off + 1]);
  }
  return s;
}

std::string Ipv4Summary(const uint8_t* b, uint32_t len) {
  if (len < 20 || b[0] >> 4 != 4) return "ipv4-malformed";
  uint32_t ihl = (b[0] & 15u) * 4;
  uint32_t tot = Load16(b + 2);
  uint16_t fo = Load16(b + 6);
  uint32_t end = tot >= 20 ? std::min(tot, len) : len;
  char a[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, b + 12, a, sizeof a);
  inet_ntop(AF_INET, b + 16, c, sizeof c);
  int64_t l4 = (fo & 0x1fff) ? -1 : static_cast<int64_t>(ihl);
  std::string s = L4Summary(b[9], b, l4, end, a, c);
  if (fo & 0x3fff) {
    s += " frag(off=" + std::to_string((fo & 0x1fff) * 8) + ((fo & 0x2000) ? ",MF)" : ")");
  }
  return s;
}

std::string Ipv6Summary(const uint8_t* b, uint32_t len) {
  if (len < 40 || b[0] >> 4 != 6) return "ipv6-malformed";
  uint32_t plen = Load16(b + 4);
  uint32_t end = plen ? std::min(40 + plen, len) : len;
  char a[INET6_ADDRSTRLEN], c[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b + 8, a, sizeof a);
  inet_ntop(AF_INET6, b + 24, c, sizeof c);
  uint8_t nh = b[6];
  int64_t off = 40;
  std::string frag;
  // Walks hop-by-hop, routing, destination options, fragment and AH headers, bounded by the
  // captured length (not the payload length), as kernel-ct does.
  while ((nh == 0 || nh == 43 || nh == 60 || nh == 44 || nh == 51) && off + 8 <= len) {
    const uint8_t* h = b + off;
    if (nh == 44) {
      uint16_t fo = Load16(h + 2);
      frag = " frag(off=" + std::to_string(fo & 0xfff8) + ((fo & 1) ? ",MF)" : ")");
      nh = h[0];
      if (fo & 0xfff8) {
        off = -1;
        break;
      }
      off += 8;
    } else if (nh == 51) {
      nh = h[0];
      off += (h[1] + 2) * 4;
    } else {
      nh = h[0];
      off += (h[1] + 1) * 8;
    }
  }
  return L4Summary(nh, b, off, end, std::string("[") + a + "]", std::string("[") + c + "]") + frag;
}

}  // namespace

const char* VerdictsHeader() {
  return "#index\tverdict\tdir\tstate\tstatus\tentry\tfwd\tnote\tsummary\tt_replay\n";
}

namespace {

// kernel-ct's note for a frame that carries no IP datagram, as its frame_to_l3() words it.
std::string NotIpNote(const FrameFacts& f) {
  char buf[48];
  switch (f.not_ip) {
    case NotIp::kNo:
      return "";
    case NotIp::kShortFrame:
      return "short-frame";
    case NotIp::kEmpty:
      return "empty";
    case NotIp::kRawNotIp:
      return "raw-not-ip";
    case NotIp::kFamily:
      return "loopback-family-" + std::to_string(f.not_ip_value);
    case NotIp::kEtherType:
      if (f.not_ip_value <= 1500) return "non-ip-802.3";
      std::snprintf(buf, sizeof buf, "non-ip-ethertype-0x%04x", f.not_ip_value);
      return buf;
    case NotIp::kLinkType:
      return "unsupported-linktype-" + std::to_string(f.not_ip_value);
  }
  return "";
}

}  // namespace

FrameInfo DescribeFrame(const FrameFacts& f) {
  FrameInfo fi;
  if (f.vlan) fi.link_notes = "vlan-stripped";
  if (f.ip_version == 0) {
    AddNote(&fi.link_notes, NotIpNote(f));
    fi.summary = "non-ip";
    return fi;
  }
  fi.ip = true;
  // The summary is kernel-ct's description of the bytes as captured (its inspect_l3()), which
  // reads malformed and trimmed datagrams its own way; it does not follow the receive checks.
  fi.summary = f.ip_version == 4 ? Ipv4Summary(f.l3, f.l3_caplen) : Ipv6Summary(f.l3, f.l3_caplen);
  return fi;
}

FrameInfo DescribeFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen) {
  return DescribeFrame(DecodeFrame(linktype, data, caplen, caplen));
}

std::string FormatVerdictRow(uint64_t index, const PacketResult& r, const ConnInfo* ci,
                             const FrameInfo& frame, bool truncated, Timestamp t_replay) {
  std::string notes = frame.link_notes;
  if (truncated) AddNote(&notes, "truncated-capture");
  // The engine says whether the packet reached the last POSTROUTING hook; "-" where the oracle
  // never saw the packet in PREROUTING.
  const char* fwd = r.forwarded ? "1" : "0";
  if (!frame.ip) {
    AddNote(&notes, "not-injected");
    fwd = "-";
  } else if (r.verdict == Verdict::kNone) {
    if (r.notes & kNoteFragHeld) {
      AddNote(&notes, "fragment-held-by-defrag");
    } else {
      AddNote(&notes, "not-seen-in-prerouting");
      fwd = "-";
    }
  } else if (r.verdict == Verdict::kDrop) {
    AddNote(&notes, "dropped-in-defrag-or-conntrack");
  }
  if (r.notes & kNoteReassembled) AddNote(&notes, "reassembled");
  if (r.destroyed != kNoConn) {
    AddNote(&notes, "destroyed-entry:" + std::to_string(r.destroyed) + "(" +
                        DestroyReasonName(r.destroyed_reason) + ")");
  }
  if (notes.empty()) notes = "-";

  std::string row = std::to_string(index);
  row += '\t';
  row += VerdictName(r.verdict);
  row += '\t';
  // The direction stays known when the entry was deleted while the packet was processed (TCP RST
  // without reply); kernel-ct reports nft's `ct direction` then too.
  bool attached = r.verdict == Verdict::kNew || r.verdict == Verdict::kEstablished ||
                  r.verdict == Verdict::kRelated;
  row += attached ? (r.dir == Dir::kOriginal ? "original" : "reply") : "-";
  row += '\t';
  if (ci != nullptr) {
    row += StateName(ci->orig.protonum, ci->state);
    row += '\t';
    std::string st = StatusNames(ci->status);
    row += st.empty() ? "-" : st;
    row += '\t';
    row += std::to_string(ci->id);
  } else if (r.entry != kNoConn) {
    row += "-\t-\t";
    row += std::to_string(r.entry);
  } else {
    row += "-\t-\t-";
  }
  row += '\t';
  row += fwd;
  row += '\t';
  row += notes;
  row += '\t';
  row += frame.summary;
  row += '\t';
  if (frame.ip) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(t_replay) / 1e9);
    row += buf;
  } else {
    row += '-';
  }
  row += '\n';
  return row;
}

}  // namespace ctrack
