// Link-layer decoding: a captured frame to the IP datagram it carries.
#ifndef CTRACK_PARSE_LINK_H_
#define CTRACK_PARSE_LINK_H_

#include <ctrack/decode.h>
#include <ctrack/packet.h>

#include <cstddef>
#include <cstdint>

#include "parse/bytes.h"

namespace ctrack {

// Result of link decoding. `l3` points into the frame; `len` is the number of captured bytes
// from l3 on. ip_version is 4 or 6, or 0 when the frame carries no IP datagram (ARP, MPLS, ...);
// not_ip and not_ip_value then say why (see FrameFacts).
struct LinkResult {
  const uint8_t* l3 = nullptr;
  uint32_t len = 0;
  uint8_t ip_version = 0;
  bool vlan = false;  // one or more 802.1Q/802.1ad tags were stripped
  NotIp not_ip = NotIp::kNo;
  uint32_t not_ip_value = 0;
};

namespace link_detail {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;

inline bool IsVlanTpid(uint16_t t) { return t == 0x8100 || t == 0x88a8 || t == 0x9100; }

// An IP datagram under an EtherType; anything else (ARP, MPLS, PPPoE, ...) carries no IP
// datagram the kernel's IP stack would receive (ip_version 0, verdict none).
inline LinkResult FromEtherType(uint16_t type, const uint8_t* l3, size_t len) {
  LinkResult r;
  r.l3 = l3;
  r.len = static_cast<uint32_t>(len);
  if (type == kEthIpv4) {
    r.ip_version = 4;
  } else if (type == kEthIpv6) {
    r.ip_version = 6;
  } else {
    r.not_ip = NotIp::kEtherType;
    r.not_ip_value = type;
  }
  return r;
}

// `type` is the EtherType that ends at `off`. Strips any number of 802.1Q / 802.1ad / QinQ tags
// (4 bytes each: TCI, then the next EtherType), as the oracle does for Ethernet and both cooked
// formats. A truncated tag leaves a VLAN type, which is not IP.
inline LinkResult StripTags(uint16_t type, const uint8_t* data, size_t off, size_t caplen) {
  bool vlan = false;
  while (IsVlanTpid(type) && caplen >= off + 4) {
    type = Load16(data + off + 2);
    off += 4;
    vlan = true;
  }
  LinkResult r = FromEtherType(type, data + off, caplen - off);
  r.vlan = vlan;
  return r;
}

// Raw IP: the version nibble decides; an empty frame is not IP.
inline LinkResult FromVersionNibble(const uint8_t* l3, size_t len) {
  LinkResult r;
  r.l3 = l3;
  r.len = static_cast<uint32_t>(len);
  if (len == 0) {
    r.not_ip = NotIp::kEmpty;
    return r;
  }
  const uint8_t v = l3[0] >> 4;
  if (v == 4 || v == 6) {
    r.ip_version = v;
  } else {
    r.not_ip = NotIp::kRawNotIp;
  }
  return r;
}

// Loopback address families: AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24
// (NetBSD/OpenBSD), 28 (FreeBSD) or 30 (macOS).
inline uint8_t VersionFromAf(uint32_t af) {
  if (af == 2) return 4;
  if (af == 10 || af == 24 || af == 28 || af == 30) return 6;
  return 0;
}

}  // namespace link_detail

// Never reads past data + caplen. Inline: the per-packet decode keeps the result in registers
// (returned through memory, its byte fields were read back wider than they were written, a
// store-forwarding stall on every packet).
[[gnu::always_inline]] inline LinkResult DecodeLink(uint32_t linktype, const uint8_t* data,
                                                    size_t caplen) {
  LinkResult none;
  none.not_ip = NotIp::kShortFrame;
  if (data == nullptr) caplen = 0;  // read as an empty frame
  switch (linktype) {
    case kLinkEthernet:
      if (caplen < 14) return none;
      return link_detail::StripTags(Load16(data + 12), data, 14, caplen);
    case kLinkSll:  // protocol at bytes 14-15 of a 16-byte header
      if (caplen < 16) return none;
      return link_detail::StripTags(Load16(data + 14), data, 16, caplen);
    case kLinkSll2:  // protocol at bytes 0-1 of a 20-byte header
      if (caplen < 20) return none;
      return link_detail::StripTags(Load16(data), data, 20, caplen);
    case kLinkRaw:
    case kLinkRawAlt:
    case kLinkRawAlt2:
      return link_detail::FromVersionNibble(data, caplen);
    case kLinkIpv4:
    case kLinkIpv6: {
      // The link type fixes the protocol; a wrong version nibble is then rejected by the IP
      // input checks (ip_rcv_core / ip6_rcv_core), not here.
      LinkResult r;
      r.l3 = data;
      r.len = static_cast<uint32_t>(caplen);
      r.ip_version = linktype == kLinkIpv4 ? 4 : 6;
      return r;
    }
    case kLinkNull:
    case kLinkLoop: {
      if (caplen < 4) return none;
      // LOOP is in network order; NULL in the capturing host's order, so (like tcpdump and the
      // oracle) a little-endian value below 256 is taken as is, else the big-endian one.
      const uint32_t be = Load32(data);
      const uint32_t le = Load32Le(data);
      LinkResult r;
      r.l3 = data + 4;
      r.len = static_cast<uint32_t>(caplen - 4);
      const uint32_t af = linktype == kLinkLoop || le >= 256 ? be : le;
      r.ip_version = link_detail::VersionFromAf(af);
      if (r.ip_version == 0) {
        r.not_ip = NotIp::kFamily;
        r.not_ip_value = af;
      }
      return r;
    }
    default:
      none.not_ip = NotIp::kLinkType;
      none.not_ip_value = linktype;
      return none;
  }
}

}  // namespace ctrack

#endif  // CTRACK_PARSE_LINK_H_
