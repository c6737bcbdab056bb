// A packet as the tracker sees it: one whole IP datagram with its layer-4 header located.
#ifndef CTRACK_PACKET_H_
#define CTRACK_PACKET_H_

#include <ctrack/tuple.h>

#include <cstdint>

namespace ctrack {

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
