// The body of DecodeFrame(), inline so that the batch path's per-packet decode is not a call
// that writes the facts to memory only to read them back (see include/ctrack/decode.h).
#ifndef CTRACK_PARSE_DECODE_IMPL_H_
#define CTRACK_PARSE_DECODE_IMPL_H_

#include <ctrack/decode.h>

#include "parse/checksum.h"
#include "parse/ip_input.h"
#include "parse/l3.h"
#include "parse/link.h"

namespace ctrack {
namespace decode_detail {

constexpr uint32_t kIcmpHeaderLen = 8;
constexpr uint32_t kIpv4HeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;

// The offset of the quoted IP header of an ICMP error, when the whole fixed header is there.
inline uint32_t IcmpInnerOffset(const ParsedPacket& pkt) {
  if (!IcmpFamily(pkt) || pkt.l4_len() < kIcmpHeaderLen) return 0;
  if (!IcmpErrorType(pkt.l3num, pkt.l4()[0])) return 0;
  const uint32_t inner_hdr = pkt.l3num == kAfInet ? kIpv4HeaderLen : kIpv6HeaderLen;
  if (pkt.l4_len() < kIcmpHeaderLen + inner_hdr) return 0;
  return pkt.l4_off + kIcmpHeaderLen;
}

// The IP receive checks and the layer-3 parse (Ipv4Input() then ParseL3()) for an IPv4 header of
// exactly 20 bytes, the common case, with the same outcome in every field of `f`; `f` has the
// link fields set and ip_ok, ip_len, fragment, parsed, icmp_inner_off cleared. The general
// path handles everything else, and the parse tests compare the two on every header.
inline void Ipv4Fast(FrameFacts& f) {
  const uint8_t* ip = f.l3;
  const uint32_t tot_len = Load16(ip + 2);
  if (tot_len < kIpv4HeaderLen || tot_len > f.l3_caplen || !VerifyIpv4Header20Checksum(ip)) return;
  f.ip_ok = true;
  f.ip_len = tot_len;
  const uint16_t frag = Load16(ip + 6);
  f.fragment = (frag & 0x3fff) != 0;  // MF or an offset
  if (frag & 0x1fff) return;          // a later fragment: no layer-4 header (Ipv4L4Offset)
  f.pkt.l3 = ip;
  f.pkt.len = tot_len;
  f.pkt.l4_off = kIpv4HeaderLen;
  f.pkt.l3num = kAfInet;
  f.pkt.protonum = ip[9];
  f.parsed = true;
  f.icmp_inner_off = IcmpInnerOffset(f.pkt);
}

}  // namespace decode_detail

// `general`: skip the IPv4 fast branch (decode_detail::Ipv4Fast), for the tests that compare the
// two.
[[gnu::always_inline]] inline void DecodeFrameInline(uint32_t linktype, const uint8_t* data,
                                                     uint32_t caplen, uint32_t wirelen,
                                                     FrameFacts* out, bool general = false) {
  // Every field is written on every path (no zeroing of the whole struct first: this runs for
  // every packet). pkt is left as it was when the datagram does not parse (parsed false).
  FrameFacts& f = *out;
  const LinkResult link = DecodeLink(linktype, data, caplen);
  f.l3 = link.l3;
  f.l3_caplen = link.len;
  f.ip_version = link.ip_version;
  f.vlan = link.vlan;
  f.truncated = wirelen > caplen;
  f.not_ip = link.not_ip;
  f.not_ip_value = link.not_ip_value;
  f.ip_ok = false;
  f.ip_len = 0;
  f.fragment = false;
  f.parsed = false;
  f.icmp_inner_off = 0;
  if (f.ip_version == 0) return;
  if (f.ip_version == 4 && f.l3_caplen >= 20 && f.l3[0] == 0x45 && !general) {
    decode_detail::Ipv4Fast(f);
    return;
  }

  // A record cut short by the capture's snaplen never reached the kernel whole: the receive
  // checks see fewer bytes than the IP length and drop it.
  const IpInputResult in =
      f.ip_version == 4 ? Ipv4Input(f.l3, f.l3_caplen) : Ipv6Input(f.l3, f.l3_caplen);
  if (in.status != IpInput::kOk) return;
  f.ip_ok = true;
  f.ip_len = in.len;
  f.parsed = ParseL3(f.l3, f.ip_len, &f.pkt, &f.fragment) == L3Parse::kOk;
  if (f.parsed) f.icmp_inner_off = decode_detail::IcmpInnerOffset(f.pkt);
}

}  // namespace ctrack

#endif  // CTRACK_PARSE_DECODE_IMPL_H_
