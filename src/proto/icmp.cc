// ICMP and ICMPv6: echo-style query/reply entries, and the error handler that attaches error
// messages to the flow they quote.
//
// Mirrors nf_conntrack_icmp_packet(), nf_conntrack_icmpv4_error(), nf_conntrack_inet_error()
// (net/netfilter/nf_conntrack_proto_icmp.c) and nf_conntrack_icmpv6_packet(),
// nf_conntrack_icmpv6_error(), nf_conntrack_icmpv6_redirect()
// (net/netfilter/nf_conntrack_proto_icmpv6.c), v6.18.
#include "proto/icmp.h"

#include <cstdint>

#include "parse/checksum.h"
#include "parse/l3.h"
#include "proto/l4proto.h"

namespace ctrack {
namespace {

constexpr uint32_t kIcmpHeaderLen = 8;  // type, code, checksum, 4 bytes (id/seq or unused)
constexpr uint8_t kNrIcmpTypes = 18;    // highest ICMPv4 type the kernel knows
constexpr uint8_t kNdiscRedirect = 137;
// Redirect message: ICMPv6 header, target and destination addresses, then options.
constexpr uint32_t kRedirectMsgLen = kIcmpHeaderLen + 16 + 16;
constexpr uint32_t kNdOptHeaderLen = 2;
constexpr uint8_t kNdOptRedirectHdr = 4;
// The Redirected Header option: type, length, 6 reserved bytes, then the quoted packet.
constexpr uint32_t kRedirectHdrOptPrefix = 8;

// ICMPv4 has no pseudo-header: the one's-complement sum over the whole message must be 0xffff.
// The kernel sums from the IP header on; a valid header adds a negative zero (0xffff), which only
// matters for an all-zero message (it then passes), so the sum starts there.
bool IcmpChecksumOk(const ParsedPacket& pkt) {
  uint64_t sum = CsumPartial(pkt.l4(), pkt.l4_len(), 0xffff);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// ICMPv6 types that are never tracked: MLD query/report/done (130-132), router and neighbour
// discovery (133-136), the MLDv2 report (143) and multicast router advertisement / solicitation
// (151, 152; older kernels lack these two, 6.18 has them: checked with kernel-ct).
bool Icmpv6IsUntracked(uint8_t type) {
  return (type >= 130 && type <= 136) || type == 143 || type == 151 || type == 152;
}

// ipv6_addr_type(addr) & IPV6_ADDR_LINKLOCAL: fe80::/10 unicast, or multicast of link-local
// scope.
bool Ipv6IsLinkLocal(const uint8_t* a) {
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return true;
  return a[0] == 0xff && (a[1] & 0x0f) == 0x02;
}

// nf_conntrack_inet_error() up to the lookup: the quoted packet's tuple, inverted (the quoted
// packet was sent by the receiver of the error, so its inverse is what the erring flow's peer
// sent). The engine does the lookup and the outer-destination check.
IcmpErrorResult InnerLookup(const ParsedPacket& pkt, uint32_t inner_off, uint16_t zone) {
  IcmpErrorResult r;
  r.action = IcmpErrorAction::kError;
  if (inner_off > pkt.l4_len()) return r;
  Tuple orig;
  if (!GetInnerTuple(pkt.l4() + inner_off, pkt.l4_len() - inner_off, pkt.l3num, zone, &orig)) {
    return r;
  }
  Tuple inv;
  if (!InvertTuple(orig, &inv)) return r;  // e.g. an error quoting an error
  r.action = IcmpErrorAction::kLookup;
  r.lookup = inv;
  return r;
}

// nf_conntrack_icmpv6_redirect(): the redirect quotes the packet that triggered it in its first
// option, if that option is a Redirected Header.
IcmpErrorResult Icmpv6Redirect(const ParsedPacket& pkt, uint16_t zone) {
  IcmpErrorResult r;
  const uint8_t* l4 = pkt.l4();
  const uint32_t len = pkt.l4_len();
  if (len < kRedirectMsgLen) {  // short redirect
    r.action = IcmpErrorAction::kError;
    return r;
  }
  if (l4[1] != 0) return r;  // code != 0: normal processing (which rejects type 137)

  const uint8_t hop_limit = pkt.l3[7];
  const uint8_t* saddr = pkt.l3 + 8;
  if (hop_limit != 255 || !Ipv6IsLinkLocal(saddr)) {
    r.action = IcmpErrorAction::kError;
    return r;
  }
  if (len < kRedirectMsgLen + kNdOptHeaderLen || l4[kRedirectMsgLen + 1] == 0) {
    r.action = IcmpErrorAction::kError;  // no options, or a zero-length first option
    return r;
  }
  // Only the first option is looked at.
  if (l4[kRedirectMsgLen] != kNdOptRedirectHdr) return r;
  return InnerLookup(pkt, kRedirectMsgLen + kRedirectHdrOptPrefix, zone);
}

}  // namespace

IcmpErrorResult IcmpError(const ParsedPacket& pkt, uint16_t zone, const Config& cfg) {
  IcmpErrorResult r;
  if (pkt.l4_len() < kIcmpHeaderLen) {
    r.action = IcmpErrorAction::kError;
    return r;
  }
  if (cfg.nf_conntrack_checksum && !IcmpChecksumOk(pkt)) {
    r.action = IcmpErrorAction::kError;
    return r;
  }
  const uint8_t type = pkt.l4()[0];
  // Unknown types are to be discarded silently (RFC 1122 3.2.2).
  if (type > kNrIcmpTypes) {
    r.action = IcmpErrorAction::kError;
    return r;
  }
  if (!IcmpErrorType(kAfInet, type)) return r;
  return InnerLookup(pkt, kIcmpHeaderLen, zone);
}

IcmpErrorResult Icmpv6Error(const ParsedPacket& pkt, uint16_t zone, const Config& cfg) {
  IcmpErrorResult r;
  if (pkt.l4_len() < kIcmpHeaderLen) {
    r.action = IcmpErrorAction::kError;
    return r;
  }
  if (cfg.nf_conntrack_checksum && !VerifyL4Checksum(pkt, kProtoIcmpv6, pkt.l4_len())) {
    r.action = IcmpErrorAction::kError;
    return r;
  }
  const uint8_t type = pkt.l4()[0];
  if (Icmpv6IsUntracked(type)) {
    r.action = IcmpErrorAction::kUntracked;
    return r;
  }
  if (type == kNdiscRedirect) return Icmpv6Redirect(pkt, zone);
  if (!IcmpErrorType(kAfInet6, type)) return r;  // informational: not an error
  // Every type below 128 is treated as an error message, assigned or not.
  return InnerLookup(pkt, kIcmpHeaderLen, zone);
}

// One timeout per ICMP family, whatever the state (nf_icmp_net / nf_icmpv6_net).
uint32_t IcmpTimeout(const Config& cfg, uint8_t /*state*/) { return cfg.nf_conntrack_icmp_timeout; }
uint32_t Icmpv6Timeout(const Config& cfg, uint8_t /*state*/) {
  return cfg.nf_conntrack_icmpv6_timeout;
}

L4Verdict IcmpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx) {
  // ICMP carried in IPv6 reaches this tracker by protocol number and is refused here.
  if (pkt.l3num != kAfInet) return L4Verdict::kInvalid;
  // Only query types may own an entry; a reply type whose inverse matched nothing arrives here on
  // a fresh entry and is refused. The kernel checks the original tuple on every packet.
  switch (ct.orig.icmp_type()) {
    case 8:   // echo request
    case 13:  // timestamp
    case 15:  // information request
    case 17:  // address mask request
      break;
    default:
      return L4Verdict::kInvalid;
  }
  // Not deleted after the reply, so duplicate replies still match; never ASSURED.
  ctx.Refresh(IcmpTimeout(*ctx.cfg, 0));
  return L4Verdict::kAccept;
}

L4Verdict Icmpv6Packet(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx) {
  if (pkt.l3num != kAfInet6) return L4Verdict::kInvalid;
  if (!ct.confirmed()) {
    const uint8_t type = ct.orig.icmp_type();
    if (type != 128 && type != 139) return L4Verdict::kInvalid;  // echo request, NI query
  }
  ctx.Refresh(Icmpv6Timeout(*ctx.cfg, 0));
  return L4Verdict::kAccept;
}

}  // namespace ctrack
