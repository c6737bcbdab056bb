// Internet checksums, as the kernel verifies them at PREROUTING when nf_conntrack_checksum=1.
#ifndef CTRACK_PARSE_CHECKSUM_H_
#define CTRACK_PARSE_CHECKSUM_H_

#include <cstdint>

#include <ctrack/packet.h>

namespace ctrack {

// One's-complement sum of `len` bytes (not folded, not inverted).
uint64_t CsumPartial(const uint8_t* data, uint32_t len, uint64_t sum);
uint16_t CsumFold(uint64_t sum);

// Verifies the L4 checksum of `pkt` over `cover` bytes of the L4 segment, with the IPv4/IPv6
// pseudo-header built from the packet's addresses, `proto` and the full L4 length (UDP-Lite passes
// 17 here on purpose: the kernel's pseudo-header quirk). True when the checksum is correct.
bool VerifyL4Checksum(const ParsedPacket& pkt, uint8_t proto, uint32_t cover);

// IPv4 header checksum over `ihl_bytes`.
bool VerifyIpv4HeaderChecksum(const uint8_t* hdr, uint32_t ihl_bytes);

}  // namespace ctrack

#endif  // CTRACK_PARSE_CHECKSUM_H_
