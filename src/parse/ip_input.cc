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

}  // namespace

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
