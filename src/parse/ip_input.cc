// The IP receive checks that run before the PREROUTING hook.
//
// The oracle injects packets through a TUN device, so the receiving device is not loopback,
// skb->pkt_type is PACKET_HOST, IPv6 is enabled on it and IOAM is not; the checks below assume
// exactly that device.
#include "parse/ip_input.h"

#include "parse/bytes.h"
#include "parse/checksum.h"

namespace ctrack {
namespace {

constexpr uint32_t kIpv6HdrLen = 40;
constexpr uint8_t kNextHdrHop = 0;
constexpr int kMaxHbhOptsCnt = 8;  // net.ipv6.max_hbh_opts_number default

bool IsLoopback6(const uint8_t* a) {
  for (int i = 0; i < 15; ++i) {
    if (a[i] != 0) return false;
  }
  return a[15] == 1;
}
bool IsMulticast6(const uint8_t* a) { return a[0] == 0xff; }
uint8_t McastScope6(const uint8_t* a) { return a[1] & 0x0f; }

// Hop-by-hop options, as ipv6_parse_hopopts() / ip6_parse_tlv(), net/ipv6/exthdrs.c (v6.18)
// judge them on receive. `data` holds the (trimmed) datagram, `len` its length; `*len_out` may
// shrink for a valid jumbogram. False means the packet is dropped.
bool HopOptsOk(const uint8_t* data, uint32_t* len) {
  const uint32_t off0 = kIpv6HdrLen;
  if (*len < off0 + 8) return false;
  const uint32_t extlen = (data[off0 + 1] + 1u) * 8;
  if (*len < off0 + extlen) return false;
  uint32_t off = off0 + 2;
  int remaining = static_cast<int>(extlen) - 2;
  int padlen = 0;
  int tlv_count = 0;
  while (remaining > 0) {
    const uint8_t type = data[off];
    if (type == 0) {  // Pad1: at most 7 bytes of padding in a row
      if (++padlen > 7) return false;
      ++off;
      --remaining;
      continue;
    }
    if (remaining < 2) return false;
    const int optlen = data[off + 1] + 2;
    if (optlen > remaining) return false;
    if (type == 1) {  // PadN: at most 7 bytes in a row, and only zero bytes
      padlen += optlen;
      if (padlen > 7) return false;
      for (int i = 2; i < optlen; ++i) {
        if (data[off + i] != 0) return false;
      }
    } else {
      if (++tlv_count > kMaxHbhOptsCnt) return false;
      switch (type) {
        case 0x05:  // router alert: length must be 2
          if (data[off + 1] != 2) return false;
          break;
        case 0x31:  // IOAM: must be 4n-aligned; otherwise ignored (not enabled on the device)
          if (off & 3) return false;
          break;
        case 0xc2: {  // jumbo payload
          if (data[off + 1] != 4 || (off & 3) != 2) return false;
          const uint32_t pkt_len = Load32(data + off + 2);
          if (pkt_len <= 65535) return false;
          if (Load16(data + 4) != 0) return false;
          if (pkt_len > *len - kIpv6HdrLen) return false;
          *len = pkt_len + kIpv6HdrLen;
          break;
        }
        case 0x07:  // CALIPSO: needs a configured DOI, which the oracle's namespace lacks
          return false;
        default:
          // Unknown option: the two high bits say what to do; only "skip" (00) survives.
          if ((type & 0xc0) != 0) return false;
          break;
      }
      padlen = 0;
    }
    off += static_cast<uint32_t>(optlen);
    remaining -= optlen;
  }
  return remaining == 0;
}

// IPv4 option types (RFC 791, RFC 1108, RFC 2113; CIPSO from the FIPS-188 draft).
constexpr uint8_t kOptEnd = 0;
constexpr uint8_t kOptNoop = 1;
constexpr uint8_t kOptRr = 7;
constexpr uint8_t kOptTimestamp = 68;
constexpr uint8_t kOptLsrr = 131;
constexpr uint8_t kOptCipso = 134;
constexpr uint8_t kOptSsrr = 137;
constexpr uint8_t kOptRa = 148;
// Timestamp flags (low nibble of the fourth byte).
constexpr uint8_t kTsAndAddr = 1;
constexpr uint8_t kTsPrespec = 3;

// The receive-side verdict of ip_options_compile() (called with the skb) followed by
// ip_rcv_options()'s source-route handling, net/ipv4/ip_options.c and ip_input.c (v6.18), on the
// oracle's host. False: the datagram is dropped (the kernel answers with a parameter problem).
//
// Invariants of the walk: `l` bytes of option space are left at `opt + i`; End stops the walk
// (the kernel overwrites whatever follows with End bytes, which drops nothing); every other
// option except No-op needs a length byte within the space, at least 2 and at most `l`.
// Route records, timestamps, source routes and CIPSO may appear once each.
bool Ipv4OptionsForward(const uint8_t* opt, uint32_t optlen) {
  bool seen_srr = false, seen_rr = false, seen_ts = false;
  bool strict = false;
  uint32_t i = 0;
  uint32_t l = optlen;
  while (l > 0) {
    const uint8_t type = opt[i];
    if (type == kOptEnd) break;
    if (type == kOptNoop) {
      ++i;
      --l;
      continue;
    }
    if (l < 2) return false;  // a type byte with no room for its length
    const uint32_t len = opt[i + 1];
    if (len < 2 || len > l) return false;
    // The pointer byte, when the option has one (len >= 3 is checked before it is used).
    const uint32_t ptr = len >= 3 ? opt[i + 2] : 0;
    switch (type) {
      case kOptLsrr:
      case kOptSsrr:
        if (len < 3 || ptr < 4 || seen_srr) return false;
        seen_srr = true;
        strict = type == kOptSsrr;
        break;
      case kOptRr:
        if (seen_rr || len < 3 || ptr < 4) return false;
        // Room left: the next slot must fit whole. A full option (pointer past the end) is fine.
        if (ptr <= len && ptr + 3 > len) return false;
        seen_rr = true;
        break;
      case kOptTimestamp: {
        if (seen_ts || len < 4 || ptr < 5) return false;
        const uint8_t flag = opt[i + 3] & 0x0f;
        if (ptr <= len) {
          if (ptr + 3 > len) return false;
          // Address + time slots are 8 bytes; an unknown flag is let through untouched.
          if ((flag == kTsAndAddr || flag == kTsPrespec) && ptr + 7 > len) return false;
        } else if (flag != kTsPrespec && (opt[i + 3] >> 4) == 15) {
          return false;  // full, and the overflow counter cannot count one more hop
        }
        seen_ts = true;
        break;
      }
      case kOptRa:
        if (len < 4) return false;
        break;
      case kOptCipso:
        // cipso_v4_validate() needs the option's DOI to be configured; the oracle's host has no
        // CIPSO DOI, so every CIPSO option (and a second one all the more) is refused.
        return false;
      default:
        break;  // security, stream id and unknown options are carried as they are
    }
    i += len;
    l -= len;
  }
  // ip_options_rcv_srr(): the destination has a unicast route (it is not this host), so a loose
  // source route is simply forwarded, and a strict one is refused: the next hop must be the
  // listed address, not the route's.
  return !strict;
}

}  // namespace

bool Ipv4Forwards(const uint8_t* data, uint32_t len) {
  if (data == nullptr || len < 20) return true;
  const uint32_t hlen = (data[0] & 0x0fu) * 4;
  if (hlen <= 20 || hlen > len) return true;
  // ip_forward(): TTL, xfrm policy, strict route via a gateway and ip_exceeds_mtu() cannot stop
  // a datagram there: the TTL is rewritten to 64 at PREROUTING, no policy is set, a strict route
  // never gets past the options check, and no IPv4 datagram (reassembled ones included: the
  // defragmenter refuses more than 65535 bytes) exceeds the 65535-byte MTU.
  return Ipv4OptionsForward(data + 20, hlen - 20);
}

// Mirrors ip6_pkt_too_big() in ip6_forward(), net/ipv6/ip6_output.c (v6.18), for an egress MTU
// of 65535. Defragmentation sets ignore_df, and the largest fragment it records (a 16-bit
// field) can never exceed the MTU, so a reassembled datagram always passes. Nothing else in
// ip6_forward() can stop a packet on the oracle's host: forwarding is on, the source and hop
// limit are rewritten to a global address and 64, and no router-alert socket exists.
bool Ipv6Forwards(uint32_t len, bool from_defrag) {
  constexpr uint32_t kEgressMtu = 65535;
  return from_defrag || len <= kEgressMtu;
}

bool OracleRewriteAppliesIpv6(const uint8_t* data, uint32_t len) {
  constexpr uint8_t kRouting = 43, kFragment = 44, kAuth = 51, kNone = 59, kDest = 60;
  if (len < kIpv6HdrLen) return true;
  uint8_t nexthdr = data[6];
  uint32_t start = kIpv6HdrLen;
  // The headers ipv6_ext_hdr() names; NEXTHDR_NONE ends the walk as the transport protocol.
  while (nexthdr == kNextHdrHop || nexthdr == kRouting || nexthdr == kFragment ||
         nexthdr == kAuth || nexthdr == kDest) {
    if (start > len || len - start < 2) return true;          // -EBADMSG: no layer 4 known
    if (nexthdr == kRouting && len - start < 4) return true;  // it reads struct ipv6_rt_hdr
    if (nexthdr == kAuth) return true;  // tprot is AH: no layer-4 checksum to fix
    uint32_t hdrlen;
    if (nexthdr == kFragment) {
      if (len - start < 4) return true;
      if (Load16(data + start + 2) & ~0x7u) return true;  // a later fragment: fragoff set
      hdrlen = 8;
    } else {
      hdrlen = (data[start + 1] + 1u) * 8;
    }
    nexthdr = data[start];
    start += hdrlen;
  }
  if (nexthdr == kNone || start > 0xffff) return true;
  // A transport header that starts past the end has its checksum field past the end too.
  return OracleRewriteApplies(nexthdr, start > len ? 0 : len - start);
}

bool Ipv4OwnHeaderForwards(const uint8_t* data) {
  const uint32_t saddr = Load32(data + 12);
  const uint32_t daddr = Load32(data + 16);
  auto multicast = [](uint32_t a) { return (a >> 28) == 0xe; };
  auto loopback = [](uint32_t a) { return (a >> 24) == 127; };
  constexpr uint32_t kLimitedBroadcast = 0xffffffffu;
  // Delivered locally (limited broadcast, 0.0.0.0 to 0.0.0.0) or refused: multicast that this
  // host has not joined and does not forward, martian destinations and sources. Only the
  // all-zero address counts as "this network" here; the rest of 0.0.0.0/8 is routed.
  if (daddr == kLimitedBroadcast || multicast(daddr) || loopback(daddr) || daddr == 0) return false;
  if (saddr == 0 || saddr == kLimitedBroadcast || multicast(saddr) || loopback(saddr)) return false;
  return data[8] > 1;  // ip_forward(): a TTL of 0 or 1 cannot be decremented (time exceeded)
}

bool Ipv6OwnHeaderForwards(const uint8_t* data) {
  const uint8_t* saddr = data + 8;
  const uint8_t* daddr = data + 24;
  auto link_local = [](const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; };
  bool src_any = true;
  for (int i = 0; i < 16; ++i) src_any = src_any && saddr[i] == 0;
  // Multicast is not forwarded (no multicast routing), link-local destinations have no route
  // on the input device, and a link-local or unspecified source must not leave its link.
  if (IsMulticast6(daddr) || link_local(daddr) || link_local(saddr) || src_any) return false;
  return data[7] > 1;  // ip6_forward(): hop limit exhausted
}

// Mirrors ip_rcv_core(), net/ipv4/ip_input.c (v6.18).
IpInputResult Ipv4Input(const uint8_t* data, uint32_t caplen) {
  IpInputResult drop;
  if (data == nullptr || caplen < 20) return drop;
  const uint32_t ihl = data[0] & 0x0f;
  if (ihl < 5 || (data[0] >> 4) != 4) return drop;
  const uint32_t hlen = ihl * 4;
  if (caplen < hlen) return drop;
  if (!VerifyIpv4HeaderChecksum(data, hlen)) return drop;
  const uint32_t tot_len = Load16(data + 2);
  if (caplen < tot_len) return drop;  // truncated datagram
  if (tot_len < hlen) return drop;
  return {IpInput::kOk, tot_len};  // trailing bytes (Ethernet padding) trimmed off
}

// Mirrors ip6_rcv_core(), net/ipv6/ip6_input.c (v6.18), for a non-loopback device.
IpInputResult Ipv6Input(const uint8_t* data, uint32_t caplen) {
  IpInputResult drop;
  if (data == nullptr || caplen < kIpv6HdrLen) return drop;
  if ((data[0] >> 4) != 6) return drop;
  const uint8_t* saddr = data + 8;
  const uint8_t* daddr = data + 24;
  // ::1 must not arrive from outside the node (RFC 4291 2.5.3), as source or destination.
  if (IsLoopback6(saddr) || IsLoopback6(daddr)) return drop;
  // Interface-local (scope 1) multicast only exists on loopback (RFC 4291 errata 3480), and
  // scope 0 is reserved (RFC 4291 2.7).
  if (IsMulticast6(daddr) && (McastScope6(daddr) == 1 || McastScope6(daddr) == 0)) return drop;
  if (IsMulticast6(saddr)) return drop;  // multicast never is a source (RFC 4291 2.7)

  uint32_t len = caplen;
  const uint32_t pkt_len = Load16(data + 4);
  const uint8_t nexthdr = data[6];
  // A zero payload length is allowed only with a hop-by-hop header (it may carry a jumbo
  // option); then the datagram is not trimmed here.
  if (pkt_len != 0 || nexthdr != kNextHdrHop) {
    if (pkt_len + kIpv6HdrLen > caplen) return drop;  // truncated datagram
    len = pkt_len + kIpv6HdrLen;
  }
  if (nexthdr == kNextHdrHop && !HopOptsOk(data, &len)) return drop;
  return {IpInput::kOk, len};
}

}  // namespace ctrack
