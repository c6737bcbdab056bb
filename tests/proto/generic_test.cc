// Generic-protocol packet sequences (generic_packet(), net/netfilter/nf_conntrack_core.c,
// with nf_conntrack_generic_timeout from nf_conntrack_proto_generic.c).
// Expectations checked with kernel-ct (Linux 6.18, --timing real); see seq_runner.h.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "proto/seq_runner.h"
#include "testing/packet_builder.h"

namespace ctrack::testing::seq {
namespace {

constexpr const char* kC = "10.0.4.1";
constexpr const char* kS = "10.0.4.2";

Bytes Raw(const char* src, const char* dst, uint8_t proto, const Bytes& payload) {
  return PacketBuilder().Ipv4(src, dst).Proto(proto).Payload(payload).Build();
}

std::vector<Case> Cases() {
  std::vector<Case> v;
  const Bytes spi1 = {0, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0xbb};
  const Bytes spi2 = {0, 0, 0, 2, 0, 0, 0, 1, 0xaa, 0xbb};
  v.push_back({"generic",
               {},
               {
                   // ESP: one entry per address pair whatever the SPI; 600 s; never ASSURED.
                   New(Raw(kC, kS, 50, spi1), 0.0, kConf, 600, 0),
                   Est(Raw(kS, kC, 50, spi2), 0.1, Dir::kReply, kSeen | kConf, 600, 0),
                   Est(Raw(kC, kS, 50, spi2), 0.2, Dir::kOriginal, kSeen | kConf, 600, 0),
                   Est(Raw(kS, kC, 50, spi1), 0.3, Dir::kReply, kSeen | kConf, 600, 0),
                   // DCCP has no tracker; protocol 253 with an empty payload.
                   New(Raw(kC, kS, 33, {0, 1, 0, 2, 0, 0, 0, 0}), 0.4, kConf, 600, 1),
                   New(Raw(kC, kS, 253, {}), 0.5, kConf, 600, 2),
                   New(PacketBuilder().Ipv6("2001:db8:4::1", "2001:db8:4::2").Proto(253).Build(),
                       0.6, kConf, 600, 3),
               },
               0,
               0});
  v.push_back({"generic_sysctl",
               {{"nf_conntrack_generic_timeout", "100"}},
               {
                   New(Raw(kC, kS, 50, spi1), 0.0, kConf, 100, 0),
                   Est(Raw(kS, kC, 50, spi1), 0.1, Dir::kReply, kSeen | kConf, 100, 0),
               },
               0,
               0});
  return v;
}

class GenericSeqTest : public ::testing::TestWithParam<Case> {};

TEST_P(GenericSeqTest, MatchesKernel) { RunCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Generic, GenericSeqTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace ctrack::testing::seq
