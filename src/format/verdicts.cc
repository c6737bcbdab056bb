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

// Where a frame's link header says the IP datagram starts, as kernel-ct's frame_to_l3() reads
// it: `ethertype` (0x0800 / 0x86dd, or what a tagged link carries) at `offset`. False: the frame
// is not IP; `fi` then holds the note and summary.
struct LinkView {
  uint16_t ethertype = 0;
  uint32_t offset = 0;
  bool tagged = false;  // Ethernet and the cooked formats carry VLAN tags and other EtherTypes
};

bool NotIp(FrameInfo* fi, std::string note) {
  fi->link_notes = std::move(note);
  fi->summary = "non-ip";
  return false;
}

bool ReadLinkHeader(uint32_t linktype, const uint8_t* data, uint32_t caplen, FrameInfo* fi,
                    LinkView* v) {
  switch (linktype) {
    case kLinkEthernet:  // EtherType at 12 of a 14-byte header
      if (caplen < 14) return NotIp(fi, "short-frame");
      *v = {Load16(data + 12), 14, true};
      return true;
    case kLinkSll:  // protocol at 14 of a 16-byte header
      if (caplen < 16) return NotIp(fi, "short-frame");
      *v = {Load16(data + 14), 16, true};
      return true;
    case kLinkSll2:  // protocol at 0 of a 20-byte header
      if (caplen < 20) return NotIp(fi, "short-frame");
      *v = {Load16(data), 20, true};
      return true;
    case kLinkRawAlt:
    case kLinkRawAlt2:
    case kLinkRaw: {
      if (caplen == 0) return NotIp(fi, "empty");
      const uint8_t version = data[0] >> 4;
      if (version != 4 && version != 6) return NotIp(fi, "raw-not-ip");
      v->ethertype = version == 4 ? 0x0800 : 0x86dd;
      return true;
    }
    case kLinkIpv4:
      v->ethertype = 0x0800;
      return true;
    case kLinkIpv6:
      v->ethertype = 0x86dd;
      return true;
    case kLinkNull:
    case kLinkLoop: {
      if (caplen < 4) return NotIp(fi, "short-frame");
      // LOOP is in network order; NULL in the capturing host's, read as kernel-ct does.
      const uint32_t be = Load32(data);
      const uint32_t le = Load32Le(data);
      const uint32_t fam = linktype == kLinkLoop ? be : (le < 256 ? le : be);
      if (fam == 2) {
        v->ethertype = 0x0800;
      } else if (fam == 10 || fam == 24 || fam == 28 || fam == 30) {
        v->ethertype = 0x86dd;
      } else {
        return NotIp(fi, "loopback-family-" + std::to_string(fam));
      }
      v->offset = 4;
      return true;
    }
    default:
      return NotIp(fi, "unsupported-linktype-" + std::to_string(linktype));
  }
}

// Strips 802.1Q / 802.1ad / QinQ tags; false (with the note) when what remains is not IP.
bool StripVlanTags(const uint8_t* data, uint32_t caplen, FrameInfo* fi, LinkView* v) {
  while ((v->ethertype == 0x8100 || v->ethertype == 0x88a8 || v->ethertype == 0x9100) &&
         caplen >= v->offset + 4) {
    v->ethertype = Load16(data + v->offset + 2);
    v->offset += 4;
    if (fi->link_notes.empty()) fi->link_notes = "vlan-stripped";
  }
  if (v->ethertype == 0x0800 || v->ethertype == 0x86dd) return true;
  char buf[40];
  if (v->ethertype <= 1500) {
    std::snprintf(buf, sizeof buf, "non-ip-802.3");
  } else {
    std::snprintf(buf, sizeof buf, "non-ip-ethertype-0x%04x", v->ethertype);
  }
  AddNote(&fi->link_notes, buf);
  fi->summary = "non-ip";
  return false;
}

}  // namespace

FrameInfo DescribeFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen) {
  // Mirrors kernel-ct's frame_to_l3() and inspect_l3() so that summaries and notes match.
  FrameInfo fi;
  LinkView v;
  if (!ReadLinkHeader(linktype, data, caplen, &fi, &v)) return fi;
  if (v.tagged && !StripVlanTags(data, caplen, &fi, &v)) return fi;
  fi.ip = true;
  const uint8_t* l3 = data + v.offset;
  uint32_t len = caplen - v.offset;
  fi.summary = v.ethertype == 0x0800 ? Ipv4Summary(l3, len) : Ipv6Summary(l3, len);
  return fi;
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
