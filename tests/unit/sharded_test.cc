// ShardedConntrack's entry reservations: the pool never grants more than nf_conntrack_max, a
// single shard behaves exactly like one Conntrack (same verdicts, same table-full counters), and
// two shards filled from two threads at once never hold more than max together while still
// filling the table up to the documented headroom.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/sharded.h>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "gen/traffic.h"

namespace ctrack {
namespace {

TEST(CountPool, NeverGrantsMoreThanMax) {
  CountPool pool(1000, 2);
  uint32_t total = 0, last = CountPool::kGrant;
  for (int i = 0; i < 10000; ++i) {
    uint32_t g = pool.Reserve();
    if (g == 0) break;
    EXPECT_LE(g, last);  // grants shrink as the pool runs out
    last = g;
    total += g;
  }
  EXPECT_EQ(total, 1000u);
  EXPECT_EQ(pool.reserved(), 1000u);
  EXPECT_EQ(pool.Reserve(), 0u);
  pool.Release(10);
  EXPECT_EQ(pool.Reserve(), 1u);  // a quarter per shard of what is left, at least 1
}

std::vector<std::vector<uint8_t>> FloodFrames(uint32_t n, uint32_t seed) {
  FrameSynth fs;
  std::mt19937 rng(seed);
  static const uint8_t kMss[4] = {2, 4, 5, 0xb4};
  static const uint8_t kPayload[8] = {};
  std::vector<std::vector<uint8_t>> out;
  for (uint32_t i = 0; i < n; ++i) {
    Endpoint src = V4(0x64400000u | (rng() & 0x3fffff), static_cast<uint16_t>(rng()));
    Endpoint dst = V4(0xc6336400u | (rng() & 0xff), 443);
    FrameSynth::View v = i % 2 ? fs.Udp(src, dst, kPayload, sizeof kPayload)
                               : fs.Tcp(src, dst, rng(), 0, 0x02, 1024, kMss, 4, nullptr, 0);
    out.emplace_back(v.data, v.data + v.len);
  }
  return out;
}

TEST(ShardedConntrack, OneShardIsOneTable) {
  Config cfg;
  cfg.nf_conntrack_max = 512;
  cfg.nf_conntrack_buckets = 128;
  Conntrack plain(cfg);
  ShardedConntrack sh(cfg, 1);
  std::vector<std::vector<uint8_t>> frames = FloodFrames(20000, 1);
  Timestamp now = 0;
  for (const auto& f : frames) {
    now += 50 * 1000 * 1000;  // 20 packets per second: entries expire while the flood runs
    uint32_t len = static_cast<uint32_t>(f.size());
    PacketResult a = plain.ProcessFrame(kLinkEthernet, f.data(), len, len, now);
    PacketResult b = sh.shard(0).ProcessFrame(kLinkEthernet, f.data(), len, len, now);
    ASSERT_EQ(a.verdict, b.verdict);
    ASSERT_EQ(a.entry, b.entry);
    ASSERT_EQ(plain.count(), sh.count());
    ASSERT_LE(sh.reserved(), cfg.nf_conntrack_max);
  }
  EXPECT_GT(plain.stats().early_drop, 0u);
  EXPECT_EQ(plain.stats().early_drop, sh.shard(0).stats().early_drop);
  EXPECT_EQ(plain.stats().drop, sh.shard(0).stats().drop);
  EXPECT_EQ(plain.counters().expired, sh.shard(0).counters().expired);
}

TEST(ShardedConntrack, TwoThreadsStayWithinMax) {
  Config cfg;
  cfg.nf_conntrack_max = 2000;
  cfg.nf_conntrack_buckets = 512;
  ShardedConntrack sh(cfg, 2);
  std::vector<std::vector<uint8_t>> frames = FloodFrames(40000, 2);
  std::vector<std::vector<const std::vector<uint8_t>*>> part(2);
  for (const auto& f : frames) {
    part[sh.ShardOf(kLinkEthernet, f.data(), static_cast<uint32_t>(f.size()))].push_back(&f);
  }
  ASSERT_GT(part[0].size(), 10000u);
  ASSERT_GT(part[1].size(), 10000u);
  std::atomic<bool> over{false};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < 2; ++t) {
    pool.emplace_back([&, t] {
      Timestamp now = 0;
      for (const auto* f : part[t]) {
        now += 1000;
        uint32_t len = static_cast<uint32_t>(f->size());
        sh.shard(t).ProcessFrame(kLinkEthernet, f->data(), len, len, now);
        // Reservations bound the sum of the shards' counts; neither may pass max.
        if (sh.reserved() > cfg.nf_conntrack_max) over = true;
      }
    });
  }
  for (std::thread& th : pool) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_LE(sh.count(), cfg.nf_conntrack_max);
  EXPECT_EQ(sh.count(), sh.shard(0).count() + sh.shard(1).count());
  // Full up to the headroom other shards may keep reserved (under 2 grants each).
  EXPECT_GE(sh.count(), cfg.nf_conntrack_max - 2 * 2 * CountPool::kGrant);
  EXPECT_GT(sh.shard(0).stats().early_drop + sh.shard(1).stats().early_drop, 0u);
}

}  // namespace
}  // namespace ctrack
