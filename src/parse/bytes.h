// Reads of fixed-width integers from packet and file bytes. The one place that knows the byte
// orders; every layer that decodes bytes uses it (the tools layer sees this header alone of the
// engine's private ones, see cmake/CtrackLayers.cmake).
//
// The caller has checked that the bytes are there: these functions never check bounds.
#ifndef CTRACK_PARSE_BYTES_H_
#define CTRACK_PARSE_BYTES_H_

#include <cstdint>

namespace ctrack {

// Network (big-endian) order, as every header field on the wire.
inline constexpr uint16_t Load16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline constexpr uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline constexpr uint64_t Load64(const uint8_t* p) {
  return static_cast<uint64_t>(Load32(p)) << 32 | Load32(p + 4);
}
// Little-endian order (capture files written on such hosts, BSD loopback headers).
inline constexpr uint16_t Load16Le(const uint8_t* p) {
  return static_cast<uint16_t>(p[1] << 8 | p[0]);
}
inline constexpr uint32_t Load32Le(const uint8_t* p) {
  return static_cast<uint32_t>(p[3]) << 24 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[1]) << 8 | p[0];
}

}  // namespace ctrack

#endif  // CTRACK_PARSE_BYTES_H_
