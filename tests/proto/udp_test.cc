// UDP and UDP-Lite packet sequences (udp_error(), udplite_error(),
// nf_conntrack_udp_packet(), net/netfilter/nf_conntrack_proto_udp.c).
// Expectations checked with kernel-ct (Linux 6.18, --timing real); see seq_runner.h.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "proto/seq_runner.h"
#include "testing/packet_builder.h"

namespace ctrack::testing::seq {
namespace {

constexpr const char* kC = "10.0.1.1";
constexpr const char* kS = "10.0.1.2";

Bytes Udp(const char* src, const char* dst, uint16_t sp, uint16_t dp, size_t payload = 16) {
  return PacketBuilder().Ipv4(src, dst).Udp(sp, dp).Payload(payload).Build();
}
Bytes Udp6(const char* src, const char* dst, uint16_t sp, uint16_t dp) {
  return PacketBuilder().Ipv6(src, dst).Udp(sp, dp).Payload(16).Build();
}

// Rewrites the UDP length field of an IPv4 datagram (no IP options) and clears the checksum so
// that only the length rule decides.
Bytes WithUdpLen(Bytes p, uint16_t len) {
  p[20 + 4] = static_cast<uint8_t>(len >> 8);
  p[20 + 5] = static_cast<uint8_t>(len);
  p[20 + 6] = p[20 + 7] = 0;
  return p;
}

// The RFC 3828 checksum (pseudo-header protocol 136) from the builder's kernel-style one
// (protocol 17): the one's-complement sum grows by 136 - 17.
Bytes RfcUdpLite(Bytes p) {
  uint32_t c = static_cast<uint32_t>(p[20 + 6] << 8 | p[20 + 7]);
  uint32_t sum = (~c & 0xffff) + (136 - 17);
  sum = (sum & 0xffff) + (sum >> 16);
  uint16_t out = static_cast<uint16_t>(~sum & 0xffff);
  if (out == 0) out = 0xffff;
  p[20 + 6] = static_cast<uint8_t>(out >> 8);
  p[20 + 7] = static_cast<uint8_t>(out);
  return p;
}

Bytes Lite(const char* src, const char* dst, uint16_t sp, uint16_t dp, uint16_t cov = 0) {
  return PacketBuilder().Ipv4(src, dst).UdpLite(sp, dp, cov).Payload(16).Build();
}

std::vector<Case> Cases() {
  std::vector<Case> v;
  // nf_conntrack_udp_packet(): request, reply and a third packet within 2 s: 30 s, never ASSURED.
  v.push_back({"udp_within_2s",
               {},
               {
                   New(Udp(kC, kS, 1000, 53), 0.0, kConf, 30, 0),
                   Est(Udp(kS, kC, 53, 1000), 0.5, Dir::kReply, kSeen | kConf, 30, 0),
                   Est(Udp(kC, kS, 1000, 53), 1.0, Dir::kOriginal, kSeen | kConf, 30, 0),
               },
               0,
               0});
  // After 2 s with a reply seen: 120 s and ASSURED, in either direction.
  v.push_back({"udp_stream_after_2s",
               {},
               {
                   New(Udp(kC, kS, 1001, 53), 0.0, kConf, 30, 0),
                   Est(Udp(kS, kC, 53, 1001), 0.5, Dir::kReply, kSeen | kConf, 30, 0),
                   Est(Udp(kS, kC, 53, 1001), 2.5, Dir::kReply, kSeen | kAssd | kConf, 120, 0),
                   Est(Udp(kC, kS, 1001, 53), 3.0, Dir::kOriginal, kSeen | kAssd | kConf, 120, 0),
               },
               0,
               0});
  // A first reply after 2 s still gets 30 s (SEEN_REPLY is set only after it); the next packet
  // makes the stream.
  v.push_back({"udp_first_reply_late",
               {},
               {
                   New(Udp(kC, kS, 1002, 53), 0.0, kConf, 30, 0),
                   New(Udp(kC, kS, 1002, 53), 1.0, kConf, 30, 0),
                   Est(Udp(kS, kC, 53, 1002), 2.5, Dir::kReply, kSeen | kConf, 30, 0),
                   Est(Udp(kC, kS, 1002, 53), 3.0, Dir::kOriginal, kSeen | kAssd | kConf, 120, 0),
               },
               0,
               0});
  // udp_error(): header and checksum rules.
  v.push_back(
      {"udp_malformed",
       {},
       {
           // Checksum 0 means "none", on IPv4 and on IPv6.
           New(PacketBuilder().Ipv4(kC, kS).Udp(2000, 9).Payload(8).L4Checksum(0).Build(), 0.0,
               kConf, 30, 0),
           New(PacketBuilder()
                   .Ipv6("2001:db8::1", "2001:db8::2")
                   .Udp(2001, 9)
                   .Payload(8)
                   .L4Checksum(0)
                   .Build(),
               0.01, kConf, 30, 1),
           // A bad checksum is invalid at PREROUTING with nf_conntrack_checksum=1.
           Inv(PacketBuilder().Ipv4(kC, kS).Udp(2002, 9).Payload(8).BadL4Checksum().Build(), 0.02),
           Inv(PacketBuilder()
                   .Ipv6("2001:db8::1", "2001:db8::2")
                   .Udp(2003, 9)
                   .Payload(8)
                   .BadL4Checksum()
                   .Build(),
               0.03),
           // Length field beyond the datagram, below 8, and shorter than the datagram (fine).
           Inv(WithUdpLen(Udp(kC, kS, 2004, 9, 10), 19), 0.04),
           Inv(WithUdpLen(Udp(kC, kS, 2005, 9, 10), 7), 0.05),
           New(WithUdpLen(Udp(kC, kS, 2006, 9, 10), 8), 0.06, kConf, 30, 2),
           // Only 4 bytes of UDP: the ports make a tuple, but the header is short.
           Inv(PacketBuilder().Ipv4(kC, kS).Proto(17).Payload({0x07, 0xd7, 0x00, 0x09}).Build(),
               0.07),
           // IPv6 flow, reply and third packet.
           New(Udp6("2001:db8::1", "2001:db8::2", 2008, 9), 0.08, kConf, 30, 3),
           Est(Udp6("2001:db8::2", "2001:db8::1", 9, 2008), 0.09, Dir::kReply, kSeen | kConf, 30,
               3),
       },
       5,
       0});
  // With nf_conntrack_checksum=0 a bad checksum is not looked at.
  v.push_back({"udp_checksum_off",
               {{"nf_conntrack_checksum", "0"}},
               {
                   New(PacketBuilder().Ipv4(kC, kS).Udp(2100, 9).Payload(8).BadL4Checksum().Build(),
                       0.0, kConf, 30, 0),
                   // The length rules still apply.
                   Inv(WithUdpLen(Udp(kC, kS, 2101, 9, 10), 19), 0.01),
               },
               1,
               0});
  // udplite_error() and nf_conntrack_udplite_packet(): UDP-Lite.
  v.push_back(
      {"udplite",
       {},
       {
           // Checksum computed with protocol 17 in the pseudo-header: accepted (kernel quirk).
           New(Lite(kC, kS, 3000, 9), 0.0, kConf, 30, 0),
           // The RFC-correct checksum (protocol 136) fails.
           Inv(RfcUdpLite(Lite(kC, kS, 3001, 9)), 0.01),
           // Coverage of the header only.
           New(Lite(kC, kS, 3002, 9, 8), 0.02, kConf, 30, 1),
           // Coverage below 8 or beyond the datagram.
           Inv(Lite(kC, kS, 3003, 9, 4), 0.03),
           Inv(Lite(kC, kS, 3004, 9, 200), 0.04),
           // UDP-Lite requires a checksum.
           Inv(PacketBuilder().Ipv4(kC, kS).UdpLite(3005, 9).Payload(16).L4Checksum(0).Build(),
               0.05),
           // No 2 s rule: the packet after the first reply makes it a stream.
           Est(Lite(kS, kC, 9, 3000), 0.1, Dir::kReply, kSeen | kConf, 30, 0),
           Est(Lite(kC, kS, 3000, 9), 0.2, Dir::kOriginal, kSeen | kAssd | kConf, 120, 0),
       },
       4,
       0});
  v.push_back(
      {"udplite_checksum_off",
       {{"nf_conntrack_checksum", "0"}},
       {
           New(RfcUdpLite(Lite(kC, kS, 3100, 9)), 0.0, kConf, 30, 0),
           // Checksum 0 and coverage rules are not checksum verification: still invalid.
           Inv(PacketBuilder().Ipv4(kC, kS).UdpLite(3101, 9).Payload(16).L4Checksum(0).Build(),
               0.01),
           Inv(Lite(kC, kS, 3102, 9, 4), 0.02),
       },
       2,
       0});
  return v;
}

class UdpSeqTest : public ::testing::TestWithParam<Case> {};

TEST_P(UdpSeqTest, MatchesKernel) { RunCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Udp, UdpSeqTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace ctrack::testing::seq
