// The word-at-a-time one's-complement sum must equal the plain 16-bit big-endian definition
// (RFC 1071) for every length and alignment, after folding.
#include "parse/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// VerifyL4Checksum and VerifyIpv4HeaderChecksum fold everything into one native-order sum;
// here the pseudo-header is laid out as bytes (RFC 768 / RFC 8200 §8.1) and summed by the plain
// definition. Random segments are checked as they are (almost always wrong), with the checksum
// that makes them right, and with one bit flipped after that.
TEST(ChecksumTest, VerifyMatchesPseudoHeaderReference) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(40 + 1600 + 8);
  const uint8_t protos[] = {kProtoTcp, kProtoUdp, kProtoUdplite, kProtoIcmp, kProtoIcmpv6, 47};
  int right = 0, wrong = 0;
  for (int round = 0; round < 3000; ++round) {
    const bool v6 = rng() & 1;
    const uint32_t hdr = v6 ? 40 : 20;
    const uint32_t l4_len = round < 100 ? static_cast<uint32_t>(round) : rng() % 1600;
    for (auto& b : buf) b = static_cast<uint8_t>(round % 50 == 0 ? 0xff : rng());
    const uint8_t proto = protos[rng() % 6];
    ParsedPacket pkt;
    pkt.l3 = buf.data();
    pkt.len = hdr + l4_len;
    pkt.l4_off = hdr;
    pkt.l3num = v6 ? kAfInet6 : kAfInet;
    pkt.protonum = proto;
    const uint32_t cover = rng() % 4 == 0 ? rng() % (l4_len + 9) : l4_len;
    auto reference = [&] {
      std::vector<uint8_t> ph;
      const bool pseudo = v6 || proto == kProtoTcp || proto == kProtoUdp;
      if (pseudo) {
        const uint32_t a = v6 ? 8 : 12, alen = v6 ? 32 : 8;
        ph.assign(buf.begin() + a, buf.begin() + a + alen);
        const uint8_t len_proto[8] = {static_cast<uint8_t>(l4_len >> 24),
                                      static_cast<uint8_t>(l4_len >> 16),
                                      static_cast<uint8_t>(l4_len >> 8),
                                      static_cast<uint8_t>(l4_len),
                                      0,
                                      0,
                                      0,
                                      proto};
        ph.insert(ph.end(), len_proto, len_proto + 8);
      }
      const uint32_t c = std::min(cover, l4_len);
      ph.insert(ph.end(), buf.begin() + hdr, buf.begin() + hdr + c);
      return ReferenceFold(ph.data(), static_cast<uint32_t>(ph.size()), 0xffff);
    };
    ASSERT_EQ(VerifyL4Checksum(pkt, proto, cover), reference() == 0) << "round " << round;
    if (l4_len < 8 || cover < 8 || cover > l4_len) continue;
    // Make it right: the word at offset 6 of the segment (an even offset in the summed bytes)
    // takes the inverted sum of the rest.
    buf[hdr + 6] = buf[hdr + 7] = 0;
    const uint16_t fix = reference();
    buf[hdr + 6] = static_cast<uint8_t>(fix >> 8);
    buf[hdr + 7] = static_cast<uint8_t>(fix);
    ASSERT_EQ(reference(), 0);
    ASSERT_TRUE(VerifyL4Checksum(pkt, proto, cover)) << "round " << round;
    ++right;
    buf[hdr + rng() % cover] ^= static_cast<uint8_t>(1u << (rng() % 8));
    ASSERT_EQ(VerifyL4Checksum(pkt, proto, cover), reference() == 0) << "round " << round;
    wrong += reference() != 0;
  }
  EXPECT_GT(right, 1000);
  EXPECT_GT(wrong, 1000);
  // IPv4 headers of 20 to 60 bytes: right, then broken.
  for (uint32_t ihl = 5; ihl <= 15; ++ihl) {
    for (int k = 0; k < 50; ++k) {
      for (uint32_t i = 0; i < 4 * ihl; ++i) buf[i] = static_cast<uint8_t>(rng());
      buf[10] = buf[11] = 0;
      const uint16_t c = ReferenceFold(buf.data(), 4 * ihl, 0);
      buf[10] = static_cast<uint8_t>(c >> 8);
      buf[11] = static_cast<uint8_t>(c);
      ASSERT_TRUE(VerifyIpv4HeaderChecksum(buf.data(), 4 * ihl)) << ihl;
      if (ihl == 5) {
        ASSERT_TRUE(VerifyIpv4Header20Checksum(buf.data()));
      }
      buf[rng() % (4 * ihl)] ^= 0x10;
      ASSERT_FALSE(VerifyIpv4HeaderChecksum(buf.data(), 4 * ihl)) << ihl;
      if (ihl == 5) {
        ASSERT_FALSE(VerifyIpv4Header20Checksum(buf.data()));
      }
    }
  }
}

}  // namespace
}  // namespace ctrack
