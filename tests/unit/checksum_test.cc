// The word-at-a-time one's-complement sum must equal the plain 16-bit big-endian definition
// (RFC 1071) for every length and alignment, after folding.
#include "parse/checksum.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace ctrack {
namespace {

uint16_t ReferenceFold(const uint8_t* p, uint32_t n, uint64_t start) {
  uint64_t sum = start;
  uint32_t i = 0;
  for (; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (i < n) sum += static_cast<uint32_t>(p[i] << 8);
  return CsumFold(sum);
}

TEST(ChecksumTest, MatchesReferenceForAllLengthsAndAlignments) {
  std::mt19937 rng(42);
  std::vector<uint8_t> buf(4096 + 16);
  int checked = 0;
  for (int round = 0; round < 4; ++round) {
    for (auto& b : buf) b = static_cast<uint8_t>(round == 3 ? 0xff : rng());  // 0xff: max carries
    for (uint32_t off = 0; off < 8; ++off) {
      for (uint32_t len = 0; len <= 300; ++len) {
        uint64_t start = rng() % 3 == 0 ? 0 : rng();
        ASSERT_EQ(CsumFold(CsumPartial(buf.data() + off, len, start)),
                  ReferenceFold(buf.data() + off, len, start))
            << "off " << off << " len " << len;
        ++checked;
      }
    }
    ASSERT_EQ(CsumFold(CsumPartial(buf.data() + 3, 4096, 7)),
              ReferenceFold(buf.data() + 3, 4096, 7));
    // Segment sizes up to a jumbo frame, at every alignment.
    for (uint32_t len = 301; len <= 4096; len += 1 + rng() % 61) {
      const uint32_t off = rng() % 16;
      ASSERT_EQ(CsumFold(CsumPartial(buf.data() + off, len, 0)),
                ReferenceFold(buf.data() + off, len, 0))
          << "off " << off << " len " << len;
    }
  }
  EXPECT_EQ(checked, 4 * 8 * 301);
}

}  // namespace
}  // namespace ctrack
