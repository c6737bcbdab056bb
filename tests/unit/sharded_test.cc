// ShardedConntrack's entry reservations: the pool never grants more than nf_conntrack_max, a
// single shard behaves exactly like one Conntrack (same verdicts, same table-full counters), and
// two shards filled from two threads at once never hold more than max together while still
// filling the table up to the documented headroom.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/decode.h>
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

// ShardOf(frame) reads only the link header and the addresses when the datagram cannot be an ICMP
// error; it must pick the shard the full decode picks for every frame, well formed or not. Frames
// of every family and protocol (ICMP errors quoting a datagram, IPv6 extension headers, VLAN
// tags), then each with random bytes changed and random truncation.
TEST(ShardedConntrack, FrameShardMatchesDecodedShard) {
  std::mt19937 rng(17);
  auto byte = [&] { return static_cast<uint8_t>(rng()); };
  const uint8_t protos4[] = {kProtoTcp, kProtoUdp,     kProtoIcmp, kProtoIcmpv6, kProtoSctp,
                             kProtoGre, kProtoUdplite, 0,          200};
  const uint8_t nexts6[] = {
      kProtoTcp, kProtoUdp, kProtoIcmpv6, kProtoIcmp, kProtoSctp, kProtoGre, kProtoUdplite,
      0,         43,        44,           51,         59,         60,        200};
  std::vector<ShardedConntrack> sharded;
  Config cfg;
  cfg.nf_conntrack_max = 1000;
  cfg.nf_conntrack_buckets = 64;
  for (unsigned n = 2; n <= 5; ++n) sharded.emplace_back(cfg, n);
  size_t checked = 0, fast_family = 0, quoting = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> f;
    const uint32_t linktype = rng() % 4 == 0 ? kLinkRaw : kLinkEthernet;
    const bool v6 = rng() & 1;
    if (linktype == kLinkEthernet) {
      for (int i = 0; i < 12; ++i) f.push_back(byte());
      if (rng() % 4 == 0) f.insert(f.end(), {0x81, 0x00, byte(), byte()});
      f.push_back(v6 ? 0x86 : 0x08);
      f.push_back(v6 ? 0xdd : 0x00);
    }
    // An IP header, then an L4 header whose first bytes may be an ICMP error quoting another
    // IP header.
    auto ip = [&](bool six, uint8_t proto) {
      std::vector<uint8_t> h(six ? 40 : 20);
      for (auto& b : h) b = byte();
      if (six) {
        h[0] = 0x60;
        h[6] = proto;
      } else {
        h[0] = 0x45;
        h[6] = h[7] = 0;  // not a fragment
        h[9] = proto;
      }
      return h;
    };
    const uint8_t proto = v6 ? nexts6[rng() % 14] : protos4[rng() % 9];
    std::vector<uint8_t> h = ip(v6, proto);
    f.insert(f.end(), h.begin(), h.end());
    if (proto == kProtoIcmp || proto == kProtoIcmpv6) {
      const uint8_t err4[] = {3, 11, 12, 8}, err6[] = {1, 2, 3, 4, 128};
      f.push_back(v6 ? err6[rng() % 5] : err4[rng() % 4]);
      for (int i = 0; i < 7; ++i) f.push_back(byte());
      std::vector<uint8_t> inner = ip(v6, rng() & 1 ? kProtoTcp : kProtoUdp);
      f.insert(f.end(), inner.begin(), inner.end());
    }
    for (int i = 0, n = static_cast<int>(rng() % 40); i < n; ++i) f.push_back(byte());
    // Lengths and the header checksum right, so that the receive checks pass and the decode
    // does find the quoted header of an ICMP error.
    const size_t at = linktype == kLinkEthernet ? (f[12] == 0x81 ? 18 : 14) : 0;
    const size_t ip_len = f.size() - at;
    if (v6) {
      f[at + 4] = static_cast<uint8_t>((ip_len - 40) >> 8);
      f[at + 5] = static_cast<uint8_t>(ip_len - 40);
    } else {
      f[at + 2] = static_cast<uint8_t>(ip_len >> 8);
      f[at + 3] = static_cast<uint8_t>(ip_len);
      f[at + 10] = f[at + 11] = 0;
      uint32_t sum = 0;
      for (size_t i = 0; i < 20; i += 2) sum += f[at + i] << 8 | f[at + i + 1];
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      f[at + 10] = static_cast<uint8_t>(~sum >> 8);
      f[at + 11] = static_cast<uint8_t>(~sum);
    }
    if (rng() % 6 == 0) f[rng() % f.size()] = byte();
    if (rng() % 6 == 0) f[rng() % f.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    if (rng() % 6 == 0) f.resize(rng() % (f.size() + 1));
    const uint32_t caplen = static_cast<uint32_t>(f.size());
    const uint8_t* data = f.empty() ? nullptr : f.data();
    fast_family += proto != kProtoIcmp && proto != kProtoIcmpv6;
    quoting += DecodeFrame(linktype, data, caplen, caplen).icmp_inner_off != 0;
    for (const ShardedConntrack& sh : sharded) {
      ASSERT_EQ(sh.ShardOf(linktype, data, caplen),
                sh.ShardOf(DecodeFrame(linktype, data, caplen, caplen)))
          << "round " << round << " shards " << sh.shards();
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4u * 20000);
  EXPECT_GT(fast_family, 10000u);
  EXPECT_GT(quoting, 1000u);  // ICMP errors whose quoted header the decode found
}

}  // namespace
}  // namespace ctrack
