// Hash flooding: crafted tuples must not make one chain long when the table hash is keyed with a
// seed the attacker does not know.
//
// Two attack sets, both of UDP flows from one source host to one server (so that they differ only
// in ports, the cheapest thing for an attacker to vary):
//  - "unkeyed": the table's mixing function (src/core/table.cc) with its key words fixed to zero
//    maps every IPv4 tuple to hash 0, because the upper eight bytes of each IPv4 address are zero
//    and a multiply by zero stays zero. Any IPv4 flood collides completely without the key.
//  - "known key": hash_seed 0 selects a built-in key that is public (it is in the source), so an
//    attacker can brute-force ports that all land in one bucket of the real Table::Bucket().
// The test inserts each set into a table keyed with other seeds and compares the worst chain
// (Conntrack::chain_stats().max_chain, in nodes) with that of random flows: it must stay within
// 2x. It also checks that the same sets do flood the table they were built for, so the test can
// fail.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/table.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using testing::Bytes;
using testing::PacketBuilder;

constexpr uint32_t kBuckets = 1024;
constexpr uint32_t kFlows = 1024;      // 2048 nodes: load factor 2
constexpr uint32_t kSrc = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kDst = 0xc0000201;  // 192.0.2.1
// Seeds of the defending tables (any value the attacker does not know).
constexpr uint32_t kSeeds[] = {0x9e3779b9u, 0x1234567u,  0xdeadbeefu, 0x31415926u,
                               0x27182818u, 0x5eed5eedu, 0x0badf00du, 0x7fffffffu};

struct Flow {
  uint32_t src, dst;
  uint16_t sport, dport;
};

Tuple UdpTuple(const Flow& f) {
  Tuple t;
  std::memset(&t, 0, sizeof t);
  for (int i = 0; i < 4; ++i) {
    t.src[i] = static_cast<uint8_t>(f.src >> (24 - 8 * i));
    t.dst[i] = static_cast<uint8_t>(f.dst >> (24 - 8 * i));
  }
  t.src_id = f.sport;
  t.dst_id = f.dport;
  t.l3num = kAfInet;
  t.protonum = kProtoUdp;
  return t;
}

std::string Ip(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string(a >> 16 & 255) + "." +
         std::to_string(a >> 8 & 255) + "." + std::to_string(a & 255);
}

// The table's mixing with every key word zero (the "unkeyed" hash): see table.cc Table::Hash.
uint64_t UnkeyedHash(const Tuple& t) {
  auto mum = [](uint64_t a, uint64_t b) {
    __extension__ using U128 = unsigned __int128;
    U128 r = static_cast<U128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
  };
  uint64_t w[5];
  std::memcpy(w, &t, sizeof w);
  return mum(mum(w[0], w[1]) ^ mum(w[2], w[3]), w[4]);
}

Config TableConfig(uint32_t seed) {
  Config cfg;
  cfg.nf_conntrack_max = 4 * kFlows;
  cfg.nf_conntrack_buckets = kBuckets;
  cfg.hash_seed = seed;
  return cfg;
}

// Inserts one UDP entry per flow and returns the longest chain in nodes.
uint32_t MaxChain(const Config& cfg, const std::vector<Flow>& flows, bool constant_hash = false) {
  Conntrack ct(cfg);
  ct.SetConstantHashForTest(constant_hash);
  for (const Flow& f : flows) {
    Bytes p = PacketBuilder().Ipv4(Ip(f.src), Ip(f.dst)).Udp(f.sport, f.dport).Payload(8).Build();
    PacketResult r = ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), kNsPerSec);
    EXPECT_EQ(r.verdict, Verdict::kNew);
  }
  EXPECT_EQ(ct.count(), flows.size());
  Conntrack::ChainStats s = ct.chain_stats();
  EXPECT_EQ(s.nodes, 2 * flows.size());
  return s.max_chain;
}

// Flows from one host to one server on port 53, differing only in the source port.
std::vector<Flow> PortSweep() {
  std::vector<Flow> v;
  for (uint32_t i = 0; i < kFlows; ++i)
    v.push_back({kSrc, kDst, static_cast<uint16_t>(1024 + i), 53});
  return v;
}

// Flows whose original tuples all land in bucket 0 of a table keyed with hash_seed 0.
std::vector<Flow> KnownKeyCollisions() {
  Table t(TableConfig(0));
  std::vector<Flow> v;
  for (uint32_t sport = 1; sport <= 0xffff && v.size() < kFlows; ++sport) {
    for (uint32_t dport = 1; dport <= 0xffff && v.size() < kFlows; ++dport) {
      Flow f{kSrc, kDst, static_cast<uint16_t>(sport), static_cast<uint16_t>(dport)};
      if (t.Bucket(UdpTuple(f)) == 0) v.push_back(f);
      if (dport == 4096) break;  // spread the search over source ports
    }
  }
  return v;
}

std::vector<Flow> RandomFlows(uint32_t seed) {
  std::mt19937 rng(seed);
  auto next = [&rng] { return static_cast<uint32_t>(rng()); };
  std::vector<Flow> v;
  for (uint32_t i = 0; i < kFlows; ++i) {
    uint32_t src = 0x0a000000u | (next() & 0xffffff), dst = 0xc0000000u | (next() & 0xffff);
    v.push_back(
        {src, dst, static_cast<uint16_t>(1024 + next() % 60000), static_cast<uint16_t>(next())});
  }
  return v;
}

TEST(HashFlood, UnkeyedHashMapsEveryIpv4TupleToOneValue) {
  // Without key material the port sweep (and any IPv4 set) collides completely.
  for (const Flow& f : PortSweep()) ASSERT_EQ(UnkeyedHash(UdpTuple(f)), 0u);
  for (const Flow& f : RandomFlows(1)) ASSERT_EQ(UnkeyedHash(UdpTuple(f)), 0u);
}

TEST(HashFlood, ConstantHashIsDetected) {
  // The degenerate hash puts every node in one chain: the statistic sees a flood.
  EXPECT_EQ(MaxChain(TableConfig(kSeeds[0]), PortSweep(), /*constant_hash=*/true), 2 * kFlows);
}

TEST(HashFlood, KnownKeyCollisionsFloodOnlyTheirOwnTable) {
  std::vector<Flow> attack = KnownKeyCollisions();
  ASSERT_EQ(attack.size(), kFlows);
  // Against the public default key the attack works: one chain holds every original node.
  uint32_t own = MaxChain(TableConfig(0), attack);
  EXPECT_GE(own, kFlows);
  std::printf(
      "hash flood: %u colliding flows, max chain %u nodes with the key they were built for\n",
      kFlows, own);
}

// The measured claim: with a keyed hash the worst chain under either attack set stays within 2x
// of the worst chain of random flows (summed over several seeds to smooth the maximum).
TEST(HashFlood, KeyedHashKeepsWorstChainWithinTwiceRandom) {
  std::vector<Flow> sweep = PortSweep(), known = KnownKeyCollisions();
  uint64_t sum_random = 0, sum_sweep = 0, sum_known = 0;
  uint32_t worst_ratio_num = 0, worst_ratio_den = 1;
  for (uint32_t seed : kSeeds) {
    Config cfg = TableConfig(seed);
    uint32_t r = MaxChain(cfg, RandomFlows(seed));
    uint32_t s = MaxChain(cfg, sweep);
    uint32_t k = MaxChain(cfg, known);
    sum_random += r;
    sum_sweep += s;
    sum_known += k;
    uint32_t worst = std::max(s, k);
    if (static_cast<uint64_t>(worst) * worst_ratio_den >
        static_cast<uint64_t>(worst_ratio_num) * r) {
      worst_ratio_num = worst;
      worst_ratio_den = r;
    }
    std::printf("hash flood: seed %08x max chain random %u, port sweep %u, known-key set %u\n",
                seed, r, s, k);
  }
  double ratio_sweep = static_cast<double>(sum_sweep) / static_cast<double>(sum_random);
  double ratio_known = static_cast<double>(sum_known) / static_cast<double>(sum_random);
  std::printf(
      "hash flood: mean max chain random %.2f, port sweep %.2f (ratio %.2f), known-key set %.2f "
      "(ratio %.2f); worst single-seed ratio %.2f\n",
      sum_random / 8.0, sum_sweep / 8.0, ratio_sweep, sum_known / 8.0, ratio_known,
      static_cast<double>(worst_ratio_num) / worst_ratio_den);
  RecordProperty("ratio_sweep_x100", static_cast<int>(ratio_sweep * 100));
  RecordProperty("ratio_known_x100", static_cast<int>(ratio_known * 100));
  EXPECT_LE(ratio_sweep, 2.0);
  EXPECT_LE(ratio_known, 2.0);
  // Every single seed too: a keyed table never lets either set build a chain 2x the random one.
  EXPECT_LE(worst_ratio_num, 2 * worst_ratio_den);
}

}  // namespace
}  // namespace ctrack
