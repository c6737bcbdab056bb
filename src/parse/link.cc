// Link-layer decoding for the capture link types the oracle accepts. What counts as "an IP
// datagram" follows how the oracle injects frames into its TUN device: the EtherType (or link
// type) picks IPv4 or IPv6, and the IP input checks then judge the bytes.
#include "parse/link.h"

#include "parse/bytes.h"

namespace ctrack {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;

bool IsVlanTpid(uint16_t t) { return t == 0x8100 || t == 0x88a8 || t == 0x9100; }

// An IP datagram under an EtherType; anything else (ARP, MPLS, PPPoE, ...) carries no IP
// datagram the kernel's IP stack would receive (ip_version 0, verdict none).
LinkResult FromEtherType(uint16_t type, const uint8_t* l3, size_t len) {
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
LinkResult StripTags(uint16_t type, const uint8_t* data, size_t off, size_t caplen) {
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
LinkResult FromVersionNibble(const uint8_t* l3, size_t len) {
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
uint8_t VersionFromAf(uint32_t af) {
  if (af == 2) return 4;
  if (af == 10 || af == 24 || af == 28 || af == 30) return 6;
  return 0;
}

}  // namespace

bool LinkTypeSupported(uint32_t linktype) {
  switch (linktype) {
    case kLinkNull:
    case kLinkEthernet:
    case kLinkRaw:
    case kLinkLoop:
    case kLinkSll:
    case kLinkIpv4:
    case kLinkIpv6:
    case kLinkSll2:
    case kLinkRawAlt:
    case kLinkRawAlt2:
      return true;
    default:
      return false;
  }
}

const char* LinkTypeName(uint32_t linktype) {
  switch (linktype) {
    case kLinkNull:
      return "null";
    case kLinkEthernet:
      return "ethernet";
    case kLinkRaw:
      return "raw";
    case kLinkLoop:
      return "loop";
    case kLinkSll:
      return "linux-sll";
    case kLinkIpv4:
      return "ipv4";
    case kLinkIpv6:
      return "ipv6";
    case kLinkSll2:
      return "linux-sll2";
    case kLinkRawAlt:
      return "raw";
    case kLinkRawAlt2:
      return "raw";
    default:
      return "unknown";
  }
}

LinkResult DecodeLink(uint32_t linktype, const uint8_t* data, size_t caplen) {
  LinkResult none;
  none.not_ip = NotIp::kShortFrame;
  if (data == nullptr) caplen = 0;  // read as an empty frame
  switch (linktype) {
    case kLinkEthernet:
      if (caplen < 14) return none;
      return StripTags(Load16(data + 12), data, 14, caplen);
    case kLinkSll:  // protocol at bytes 14-15 of a 16-byte header
      if (caplen < 16) return none;
      return StripTags(Load16(data + 14), data, 16, caplen);
    case kLinkSll2:  // protocol at bytes 0-1 of a 20-byte header
      if (caplen < 20) return none;
      return StripTags(Load16(data), data, 20, caplen);
    case kLinkRaw:
    case kLinkRawAlt:
    case kLinkRawAlt2:
      return FromVersionNibble(data, caplen);
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
      r.ip_version = VersionFromAf(af);
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
