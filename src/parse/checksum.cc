// Internet checksums and CRC32c, computed the way the kernel's netfilter helpers
// (nf_ip_checksum*, nf_ip6_checksum*, net/netfilter/utils.c (v6.18)) verify them.
#include "parse/checksum.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CTRACK_CSUM_AVX2 1
#endif

#include "parse/bytes.h"

namespace ctrack {
namespace {

constexpr bool kLittle = std::endian::native == std::endian::little;

// The one's-complement sum does not depend on byte order (RFC 1071 §2(B)): on a little-endian
// machine the bytes are added as native 32-bit words into 64-bit accumulators (no carry is lost
// before 2^32 words), and the result, folded to 16 bits, is the byte-swapped network-order sum.
// NativeSum returns that accumulation unfolded; callers add further native-order terms to it and
// fold once. Little-endian only.
// The part of NativeSum after its vector loop: bytes [i, len) added to the accumulators.
inline uint64_t NativeSumTail(const uint8_t* data, uint32_t i, uint32_t len, uint64_t a0,
                              uint64_t a1) {
  for (; i + 16 <= len; i += 16) {
    uint64_t w0, w1;
    std::memcpy(&w0, data + i, 8);
    std::memcpy(&w1, data + i + 8, 8);
    a0 += (w0 & 0xffffffffu) + (w0 >> 32);
    a1 += (w1 & 0xffffffffu) + (w1 >> 32);
  }
  for (; i + 4 <= len; i += 4) {
    uint32_t w;
    std::memcpy(&w, data + i, 4);
    a0 += w;
  }
  if (i + 2 <= len) {
    uint16_t w;
    std::memcpy(&w, data + i, 2);
    a1 += w;
    i += 2;
  }
  if (i < len) a1 += data[i];  // a lone last byte is the high byte of its network-order word
  return a0 + a1;              // both are far below 2^63
}

#if defined(CTRACK_CSUM_AVX2)
// The SSE2 loop below at twice the width, for CPUs with AVX2 (chosen at run time: the build
// targets baseline x86-64). 64 bytes a step; 32-bit words widened into 64-bit lanes as there.
__attribute__((target("avx2"))) uint64_t NativeSumAvx2(const uint8_t* data, uint32_t len) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i v0 = zero, v1 = zero;
  uint32_t i = 0;
  for (; i + 64 <= len; i += 64) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 32));
    v0 = _mm256_add_epi64(v0, _mm256_unpacklo_epi32(x, zero));
    v1 = _mm256_add_epi64(v1, _mm256_unpackhi_epi32(x, zero));
    v0 = _mm256_add_epi64(v0, _mm256_unpacklo_epi32(y, zero));
    v1 = _mm256_add_epi64(v1, _mm256_unpackhi_epi32(y, zero));
  }
  const __m256i v = _mm256_add_epi64(v0, v1);
  const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const uint64_t a0 = static_cast<uint64_t>(_mm_cvtsi128_si64(h));
  const uint64_t a1 = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(h, h)));
  return NativeSumTail(data, i, len, a0, a1);
}

// Read once, before main() (a call before that takes the SSE2 path, which sums the same).
const bool g_have_avx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();
#endif

inline uint64_t NativeSum(const uint8_t* data, uint32_t len) {
#if defined(CTRACK_CSUM_AVX2)
  // Below two steps the wider loop's setup and reduction cost more than they save.
  if (len >= 128 && g_have_avx2) return NativeSumAvx2(data, len);
#endif
  uint64_t a0 = 0, a1 = 0;
  uint32_t i = 0;
#if defined(__SSE2__)
  // 32 bytes a step: each 32-bit word is widened into a 64-bit lane (unpack with zero) and added
  // there, four lanes in two accumulators; half the scalar loop's operations per byte.
  if (len >= 64) {
    const __m128i zero = _mm_setzero_si128();
    __m128i v0 = zero, v1 = zero;
    for (; i + 32 <= len; i += 32) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
      const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 16));
      v0 = _mm_add_epi64(v0, _mm_unpacklo_epi32(x, zero));
      v1 = _mm_add_epi64(v1, _mm_unpackhi_epi32(x, zero));
      v0 = _mm_add_epi64(v0, _mm_unpacklo_epi32(y, zero));
      v1 = _mm_add_epi64(v1, _mm_unpackhi_epi32(y, zero));
    }
    const __m128i v = _mm_add_epi64(v0, v1);
    a0 = static_cast<uint64_t>(_mm_cvtsi128_si64(v));
    a1 = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)));
  }
#endif
  return NativeSumTail(data, i, len, a0, a1);
}

inline uint32_t Fold16(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint32_t>(acc);
}

// A network-order 16-bit value as NativeSum would have added it from memory.
inline uint64_t Native16(uint32_t v) { return ((v & 0xff) << 8) | ((v >> 8) & 0xff); }

uint64_t PseudoHeaderSum(const ParsedPacket& pkt, uint8_t proto) {
  const uint32_t alen = pkt.l3num == kAfInet6 ? 16 : 4;
  const uint32_t src_off = pkt.l3num == kAfInet6 ? 8 : 12;
  uint64_t sum = CsumPartial(pkt.l3 + src_off, 2 * alen, 0);  // src and dst are adjacent
  sum += pkt.l4_len();
  sum += proto;
  return sum;
}

}  // namespace

uint64_t CsumPartial(const uint8_t* data, uint32_t len, uint64_t sum) {
  if constexpr (!kLittle) {
    uint32_t i = 0;
    for (; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
    if (i < len) sum += static_cast<uint32_t>(data[i] << 8);
    return sum;
  }
  return sum + Native16(Fold16(NativeSum(data, len)));
}

uint16_t CsumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

bool VerifyIpv4HeaderChecksum(const uint8_t* hdr, uint32_t ihl_bytes) {
  if (ihl_bytes == 20) return VerifyIpv4Header20Checksum(hdr);
  if constexpr (kLittle) return Fold16(NativeSum(hdr, ihl_bytes)) == 0xffff;
  return CsumFold(CsumPartial(hdr, ihl_bytes, 0)) == 0;
}

bool VerifyL4Checksum(const ParsedPacket& pkt, uint8_t proto, uint32_t cover) {
  if (pkt.l3 == nullptr || pkt.l4_off > pkt.len) return false;
  if (cover > pkt.l4_len()) cover = pkt.l4_len();
  // IPv4 adds a pseudo-header only for TCP and UDP (UDP-Lite passes 17); ICMP has none.
  // IPv6 always has one.
  const bool pseudo = pkt.l3num == kAfInet6 || proto == kProtoTcp || proto == kProtoUdp;
  // The kernel sums from the network header on, so a correct header (whose own sum is the
  // negative zero 0xffff) is included; that makes an all-zero segment with checksum 0 pass.
  if constexpr (kLittle) {
    // One accumulation in native order, folded once: the segment, the addresses, and the
    // length (as two 16-bit words: IPv6's is 32 bits) and protocol as they would sit in memory.
    uint64_t acc = NativeSum(pkt.l4(), cover) + 0xffff;
    if (pseudo) {
      const uint32_t l4_len = pkt.l4_len();
      if (pkt.l3num == kAfInet6) {
        acc += NativeSum(pkt.l3 + 8, 32);
      } else {
        uint32_t src, dst;
        std::memcpy(&src, pkt.l3 + 12, 4);
        std::memcpy(&dst, pkt.l3 + 16, 4);
        acc += uint64_t{src} + dst;
      }
      // The length's two words and the protocol, summed in host order: a 16-bit one's-complement
      // value times 256 (mod 0xffff) is the same value byte-swapped, which is how NativeSum
      // would have added them from memory.
      acc += (uint64_t{l4_len} + proto) << 8;
    }
    // acc >= 0xffff, so it folds to 0xffff (negative zero) exactly when it is a multiple of
    // 0xffff: one multiply instead of the folding loop.
    return acc % 0xffff == 0;
  }
  uint64_t sum = pseudo ? PseudoHeaderSum(pkt, proto) : 0;
  sum += 0xffff;
  return CsumFold(CsumPartial(pkt.l4(), cover, sum)) == 0;
}

uint32_t Crc32c(const uint8_t* data, uint32_t len, uint32_t crc) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (uint32_t i = 0; i < len; ++i) crc = kTable[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

bool VerifySctpChecksum(const ParsedPacket& pkt) {
  if (pkt.l3 == nullptr || pkt.l4_len() < 12) return false;
  const uint8_t* sh = pkt.l4();
  const uint32_t stored = Load32Le(sh + 8);  // the CRC32c is stored little-endian
  static constexpr uint8_t kZero[4] = {0, 0, 0, 0};
  uint32_t crc = Crc32c(sh, 8, 0);
  crc = Crc32c(kZero, 4, crc);
  crc = Crc32c(sh + 12, pkt.l4_len() - 12, crc);
  return crc == stored;
}

}  // namespace ctrack
