// Internet checksums, as the kernel verifies them at PREROUTING when nf_conntrack_checksum=1.
#ifndef CTRACK_PARSE_CHECKSUM_H_
#define CTRACK_PARSE_CHECKSUM_H_

#include <ctrack/packet.h>

#include <cstdint>
#include <cstring>

namespace ctrack {

// One's-complement sum of `len` bytes as big-endian 16-bit words (not folded, not inverted);
// an odd trailing byte is padded with zero, so only the last block of a chain may be odd.
uint64_t CsumPartial(const uint8_t* data, uint32_t len, uint64_t sum);
// Folds to 16 bits and inverts, like the kernel's csum_fold(): 0 for a correct checksum.
uint16_t CsumFold(uint64_t sum);

// Verifies the L4 checksum of `pkt` over `cover` bytes of the L4 segment, with the IPv4/IPv6
// pseudo-header built from the packet's addresses, `proto` and the full L4 length (UDP-Lite passes
// 17 here on purpose: the kernel's pseudo-header quirk). True when the checksum is correct.
bool VerifyL4Checksum(const ParsedPacket& pkt, uint8_t proto, uint32_t cover);

// IPv4 header checksum over `ihl_bytes`.
bool VerifyIpv4HeaderChecksum(const uint8_t* hdr, uint32_t ihl_bytes);
// The same for a header of exactly 20 bytes, inline for the decode's fast branch: the five
// 32-bit words summed in native order and folded end-around to 16 bits give 0xffff exactly when
// the header's checksum is right, in either byte order (RFC 1071 2(B)).
inline bool VerifyIpv4Header20Checksum(const uint8_t* h) {
  uint32_t w[5];
  std::memcpy(w, h, sizeof(w));
  uint64_t s = uint64_t{w[0]} + w[1] + w[2] + w[3] + w[4];  // < 2^35
  s = (s & 0xffffffffu) + (s >> 32);                        // < 2^32 + 8
  s = (s & 0xffff) + (s >> 16);                             // < 2^17
  s = (s & 0xffff) + (s >> 16);                             // <= 0xffff + 1
  s = (s & 0xffff) + (s >> 16);
  return s == 0xffff;
}

// CRC32c (Castagnoli) as SCTP uses it; `crc` chains blocks (start with 0).
uint32_t Crc32c(const uint8_t* data, uint32_t len, uint32_t crc = 0);
// SCTP common-header checksum of the whole L4 segment (sctp_compute_cksum; stored little-endian).
bool VerifySctpChecksum(const ParsedPacket& pkt);

}  // namespace ctrack

#endif  // CTRACK_PARSE_CHECKSUM_H_
