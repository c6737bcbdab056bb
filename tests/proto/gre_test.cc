// GRE packet sequences (gre_pkt_to_tuple(), nf_conntrack_gre_packet(),
// net/netfilter/nf_conntrack_proto_gre.c).
// Expectations checked with kernel-ct (Linux 6.18, --timing real); see seq_runner.h.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "proto/seq_runner.h"
#include "testing/packet_builder.h"

namespace ctrack::testing::seq {
namespace {

constexpr const char* kC = "10.0.3.1";
constexpr const char* kS = "10.0.3.2";

Bytes Gre0(const char* src, const char* dst) {
  return PacketBuilder().Ipv4(src, dst).Gre(0x0000, 0x0800).Payload(20).Build();
}
// Enhanced GRE (PPTP): key bit and version 1; the key field holds payload length and call id.
Bytes Gre1(const char* src, const char* dst, uint16_t proto, uint16_t call_id) {
  return PacketBuilder()
      .Ipv4(src, dst)
      .Gre(0x2001, proto,
           {0x00, 0x08, static_cast<uint8_t>(call_id >> 8), static_cast<uint8_t>(call_id)})
      .Payload(8)
      .Build();
}

std::vector<Case> Cases() {
  std::vector<Case> v;
  // nf_conntrack_gre_packet(): 30 s until a reply has been seen, then 180 s and ASSURED.
  v.push_back({"gre_v0",
               {},
               {
                   New(Gre0(kC, kS), 0.0, kConf, 30, 0),
                   Est(Gre0(kS, kC), 0.1, Dir::kReply, kSeen | kConf, 30, 0),
                   Est(Gre0(kC, kS), 0.2, Dir::kOriginal, kSeen | kAssd | kConf, 180, 0),
                   // Two bytes of GRE: keys 0/0, the same entry.
                   Est(PacketBuilder().Ipv4(kC, kS).Proto(47).Payload({0x00, 0x00}).Build(), 0.3,
                       Dir::kOriginal, kSeen | kAssd | kConf, 180, 0),
               },
               0,
               0});
  v.push_back({"gre_v1",
               {},
               {
                   // PPTP GRE: the call id is the destination key, so calls are separate entries.
                   New(Gre1(kC, kS, 0x880b, 0x1234), 0.0, kConf, 30, 0),
                   New(Gre1(kC, kS, 0x880b, 0x5678), 0.1, kConf, 30, 1),
                   // Before any reply, original-direction packets stay NEW.
                   New(Gre1(kC, kS, 0x880b, 0x1234), 0.2, kConf, 30, 0),
                   // Version 1 carrying anything but PPP: no tuple.
                   Inv(Gre1(kC, kS, 0x0800, 0x1234), 0.3),
               },
               1,
               0});
  // The timeouts come from the sysctls at creation.
  v.push_back({"gre_sysctl",
               {{"nf_conntrack_gre_timeout", "20"}, {"nf_conntrack_gre_timeout_stream", "90"}},
               {
                   New(Gre0(kC, kS), 0.0, kConf, 20, 0),
                   Est(Gre0(kS, kC), 0.1, Dir::kReply, kSeen | kConf, 20, 0),
                   Est(Gre0(kS, kC), 0.2, Dir::kReply, kSeen | kAssd | kConf, 90, 0),
               },
               0,
               0});
  return v;
}

class GreSeqTest : public ::testing::TestWithParam<Case> {};

TEST_P(GreSeqTest, MatchesKernel) { RunCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Gre, GreSeqTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace ctrack::testing::seq
