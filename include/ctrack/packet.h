// A packet as the tracker sees it: one whole IP datagram with its layer-4 header located.
#ifndef CTRACK_PACKET_H_
#define CTRACK_PACKET_H_

#include <ctrack/tuple.h>

#include <cstdint>

namespace ctrack {

// pcap link types (DLT_* / LINKTYPE_* values as they appear in capture files).
enum LinkType : uint32_t {
  kLinkNull = 0,      // BSD loopback: 4-byte host-order AF
  kLinkEthernet = 1,  // Ethernet II, with 802.1Q / 802.1ad / QinQ tags stripped
  kLinkRaw = 101,     // raw IPv4/IPv6
  kLinkLoop = 108,    // OpenBSD loopback: 4-byte network-order AF
  kLinkSll = 113,     // Linux cooked v1
  kLinkIpv4 = 228,    // raw IPv4
  kLinkIpv6 = 229,    // raw IPv6
  kLinkSll2 = 276,    // Linux cooked v2
  kLinkRawAlt = 12,   // DLT_RAW on some BSDs (LINKTYPE_RAW written with the DLT value)
  kLinkRawAlt2 = 14,  // DLT_RAW on OpenBSD
};
// Whether the engine decodes frames of this link type, and its short name ("EN10MB", ...).
bool LinkTypeSupported(uint32_t linktype);
const char* LinkTypeName(uint32_t linktype);

// Virtual time in nanoseconds. Every call carries it; the engine never reads a clock.
using Timestamp = int64_t;
inline constexpr Timestamp kNsPerSec = 1000000000;

// Filled by ParseL3() (src/parse/l3.h). Pointers refer to the caller's buffer, which must
// outlive the call that uses the struct. Invariant: l4_off <= len.
struct ParsedPacket {
  const uint8_t* l3 = nullptr;  // first byte of the IPv4/IPv6 header
  uint32_t len = 0;             // datagram length: IP total length, never beyond the capture
  uint32_t l4_off = 0;          // offset of the layer-4 header from l3 (after IPv6 ext headers)
  uint8_t l3num = 0;            // kAfInet or kAfInet6
  uint8_t protonum = 0;         // layer-4 protocol (after IPv6 extension headers)

  const uint8_t* l4() const { return l3 + l4_off; }
  uint32_t l4_len() const { return len - l4_off; }
};

}  // namespace ctrack

#endif  // CTRACK_PACKET_H_
