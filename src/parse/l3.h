// Layer-3/4 parsing for conntrack: the L4 offset and protocol (nf_conntrack_in step 2,
// ipv6_skip_exthdr) and the tuple (nf_ct_get_tuple). Bounds-checked, no allocation, no throws.
#ifndef CTRACK_PARSE_L3_H_
#define CTRACK_PARSE_L3_H_

#include <ctrack/packet.h>
#include <ctrack/tuple.h>

#include <cstdint>

namespace ctrack {

enum class L3Parse : uint8_t {
  kOk,
  kInvalid,  // count `invalid`: unreadable header, non-first fragment, bad ext-header chain,
             // "no next header"
};

// `data`/`len` is one whole datagram (already trimmed and, if fragmented, reassembled).
// `fragment`, when given, is set for an IPv4 datagram with MF or an offset, or an IPv6 one whose
// extension-header walk meets a fragment header; it is set even when the parse fails there.
L3Parse ParseL3(const uint8_t* data, uint32_t len, ParsedPacket* out, bool* fragment = nullptr);

// Builds the tuple of a parsed packet. Returns false when the layer-4 ids cannot be read
// (TCP/UDP/UDP-Lite/SCTP need 4 bytes, ICMP/ICMPv6 8, GRE v1 a PPP protocol field).
// ICMP carried in IPv6 (and ICMPv6 in IPv4) still yields a tuple; the tracker rejects it.
bool GetTuple(const ParsedPacket& pkt, uint16_t zone, Tuple* out);

// Whether an ICMP (kAfInet) or ICMPv6 (kAfInet6) type is an error message that quotes a
// datagram: icmp_is_err() (unreachable, source quench, redirect, time exceeded, parameter
// problem), and for ICMPv6 every type below 128 (RFC 4443 2.1), as nf_conntrack_icmpv6_error()
// treats them.
inline bool IcmpErrorType(uint8_t l3num, uint8_t type) {
  if (l3num == kAfInet6) return type < 128;
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

// ICMP over IPv4 or ICMPv6 over IPv6: the packets nf_conntrack_handle_icmp() hands to an error
// handler (the other pairings skip it; see GetTuple). The protocol byte is tested alone first:
// ParseL3 has just stored l3num and protonum a byte each, and a test of both that the compiler
// merges into one 16-bit load stalls on store forwarding.
inline bool IcmpFamily(const ParsedPacket& pkt) {
  const uint8_t proto = pkt.protonum;
  if (proto != kProtoIcmp && proto != kProtoIcmpv6) return false;
  return (pkt.l3num == kAfInet) == (proto == kProtoIcmp);
}

// The ICMP error handler's view of the embedded ("inner") packet: `data`/`len` start at the
// embedded IP header, which may be truncated (the error carries a prefix of the datagram).
// Mirrors nf_ct_get_tuplepr(): fails on an unreadable header, an embedded non-first fragment or
// too few layer-4 bytes. `outer_l3num` must match the embedded version.
bool GetInnerTuple(const uint8_t* data, uint32_t len, uint8_t outer_l3num, uint16_t zone,
                   Tuple* out);

}  // namespace ctrack

#endif  // CTRACK_PARSE_L3_H_
