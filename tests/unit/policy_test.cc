// Overload policies: the hooks' arithmetic, and each policy's defining outcome end to end.
#include "core/policy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "parse/link.h"
#include "sim/sim.h"

namespace ctrack {
namespace {

constexpr Timestamp kSec = kNsPerSec;

Config WithPolicy(uint32_t mode) {
  Config c;
  c.ctrack_overload_policy = mode;
  return c;
}

TEST(Policy, KernelDefaultHasNoPolicyObject) {
  EXPECT_EQ(MakeOverloadPolicy(Config{}), nullptr);
  EXPECT_NE(MakeOverloadPolicy(WithPolicy(1)), nullptr);
  Config c;
  c.ctrack_per_source_max = 5;
  EXPECT_NE(MakeOverloadPolicy(c), nullptr);
}

TEST(Policy, AdaptiveScalesLinearlyBetweenStartAndEnd) {
  auto p = MakeOverloadPolicy(WithPolicy(1));  // start 60 %, end 100 %
  struct Case {
    uint32_t count;
    Timestamp in, want;
  };
  for (Case c : {Case{50, 120 * kSec, 120 * kSec}, Case{60, 120 * kSec, 120 * kSec},
                 Case{80, 120 * kSec, 60 * kSec}, Case{90, 120 * kSec, 30 * kSec},
                 Case{100, 120 * kSec, kSec},       // floor of 1 s
                 Case{99, 120 * kSec, 3 * kSec},    // 1/40 of 120 s
                 Case{100, kSec / 2, kSec / 2}}) {  // never lengthened
    EXPECT_EQ(p->ScaleTimeout(c.in, c.count, 100), c.want) << c.count;
  }
  EXPECT_EQ(p->ScaleTimeout(120 * kSec, 5, 0), 120 * kSec);  // no limit, no scaling
}

TEST(Policy, EmergencyModeHasHysteresis) {
  auto p = MakeOverloadPolicy(WithPolicy(2));  // enter at 100 %, leave below 60 %, 30 %
  struct Step {
    uint32_t count;
    Timestamp want;
  };
  for (Step s : {Step{90, 100 * kSec}, Step{100, 30 * kSec}, Step{80, 30 * kSec},
                 Step{60, 30 * kSec}, Step{59, 100 * kSec}, Step{99, 100 * kSec}}) {
    EXPECT_EQ(p->ScaleTimeout(100 * kSec, s.count, 100), s.want) << s.count;
  }
}

// Frames for direct engine tests.
class Frames {
 public:
  FrameSynth::View Syn(uint32_t client, uint16_t port) {
    return fs_.Tcp(V4(0x0a000000u | client, port), V4(0xc6336401u, 80), 1000, 0, 0x02, 1000,
                   nullptr, 0, nullptr, 0);
  }
  FrameSynth::View SynAck(uint32_t client, uint16_t port) {
    return fs_.Tcp(V4(0xc6336401u, 80), V4(0x0a000000u | client, port), 5000, 1001, 0x12, 1000,
                   nullptr, 0, nullptr, 0);
  }
  FrameSynth::View Ack(uint32_t client, uint16_t port) {
    return fs_.Tcp(V4(0x0a000000u | client, port), V4(0xc6336401u, 80), 1001, 5001, 0x10, 1000,
                   nullptr, 0, nullptr, 0);
  }
  FrameSynth::View Udp(uint32_t src, uint16_t port) {
    static const uint8_t kPay[8] = {};
    return fs_.Udp(V4(src, port), V4(0xc6336435u, 53), kPay, sizeof kPay);
  }

 private:
  FrameSynth fs_;
};

PacketResult Feed(Conntrack& ct, FrameSynth::View v, Timestamp t) {
  return ct.ProcessFrame(kLinkEthernet, v.data, v.len, v.len, t);
}

TEST(Policy, OldestUnassuredEvictsInCreationOrderAndSparesAssured) {
  Config c = WithPolicy(3);
  c.nf_conntrack_max = 3;
  Conntrack ct(c);
  Frames f;
  Timestamp t = 1000 * kSec;
  // Entry 0: a completed handshake (ASSURED). Entries 1, 2: bare SYNs.
  EXPECT_EQ(Feed(ct, f.Syn(1, 1000), t).verdict, Verdict::kNew);
  EXPECT_EQ(Feed(ct, f.SynAck(1, 1000), t + 1).verdict, Verdict::kEstablished);
  EXPECT_EQ(Feed(ct, f.Ack(1, 1000), t + 2).verdict, Verdict::kEstablished);
  EXPECT_EQ(Feed(ct, f.Syn(2, 1000), t + 3).entry, 1u);
  EXPECT_EQ(Feed(ct, f.Syn(3, 1000), t + 4).entry, 2u);
  // Full: each new SYN evicts the oldest entry that is not ASSURED.
  PacketResult r = Feed(ct, f.Syn(4, 1000), t + 5);
  EXPECT_EQ(r.verdict, Verdict::kNew);
  EXPECT_EQ(r.destroyed, 1u);
  EXPECT_EQ(r.destroyed_reason, DestroyReason::kEarlyDrop);
  r = Feed(ct, f.Syn(5, 1000), t + 6);
  EXPECT_EQ(r.destroyed, 2u);
  r = Feed(ct, f.Syn(6, 1000), t + 7);
  EXPECT_EQ(r.destroyed, 3u);  // entry 3 (client 4), never the ASSURED entry 0
  EXPECT_EQ(ct.count(), 3u);
  EXPECT_EQ(ct.stats().drop, 0u);
}

TEST(Policy, PerSourceLimitRefusesTheNextConnectionOfThatPrefixOnly) {
  Config c;
  c.ctrack_overload_policy = 4;
  c.ctrack_per_source_max = 3;
  c.ctrack_per_source_prefix4 = 24;
  Conntrack ct(c);
  Frames f;
  Timestamp t = 1000 * kSec;
  for (uint16_t p = 0; p < 3; ++p) {
    EXPECT_EQ(Feed(ct, f.Udp(0x0a000001u + p, 1000 + p), t).verdict, Verdict::kNew);
  }
  EXPECT_EQ(Feed(ct, f.Udp(0x0a000009u, 2000), t).verdict, Verdict::kDrop);  // same /24
  EXPECT_EQ(Feed(ct, f.Udp(0x0a000101u, 2000), t).verdict, Verdict::kNew);   // other /24
  // Known flows still pass (NEW until answered, on the same entry), and once an entry goes the
  // prefix may open another.
  PacketResult again = Feed(ct, f.Udp(0x0a000001u, 1000), t);
  EXPECT_EQ(again.verdict, Verdict::kNew);
  EXPECT_EQ(again.entry, 0u);
  EXPECT_EQ(ct.count(), 4u);
  ct.ExpireAll(t + 31 * kSec);
  EXPECT_EQ(Feed(ct, f.Udp(0x0a000009u, 2000), t + 31 * kSec).verdict, Verdict::kNew);
}

std::vector<LoadedCapture> SynFlood() {
  PcapWriter w;
  w.OpenMemory(kLinkEthernet);
  GenOptions o;
  o.conns = 100;
  o.rate = 200;
  o.duration_s = 20;
  EXPECT_EQ(GenerateScenario("synflood", o, &w), "");
  std::vector<LoadedCapture> caps(1);
  EXPECT_EQ(LoadCaptureMemory(w.buffer().data(), w.buffer().size(), "generated", &caps[0]), "");
  return caps;
}

TEST(Policy, UnderASynFloodPoliciesHurtFewerLegitimateConnections) {
  SimOptions opt;
  opt.cfg.nf_conntrack_max = 512;
  std::vector<PolicyRow> rows = ComparePolicies(SynFlood(), opt, PolicyNames(), 2);
  ASSERT_EQ(rows.size(), 5u);
  std::printf("synflood, max 512: policy drops early_drop legit_hurt/legit assured_evicted\n");
  for (const PolicyRow& r : rows) {
    std::printf("  %-10s %6llu %6llu %4llu/%llu %llu\n", r.name.c_str(),
                static_cast<unsigned long long>(r.c.table_full_drops),
                static_cast<unsigned long long>(r.c.early_drop),
                static_cast<unsigned long long>(r.c.legit_hurt),
                static_cast<unsigned long long>(r.c.legit_flows),
                static_cast<unsigned long long>(r.c.assured_evicted));
  }
  const SimCounters& kernel = rows[0].c;
  const SimCounters& adaptive = rows[1].c;
  const SimCounters& oldest = rows[3].c;
  EXPECT_GT(kernel.legit_hurt, 0u);
  EXPECT_LT(adaptive.legit_hurt, kernel.legit_hurt);
  EXPECT_LT(adaptive.table_full_drops, kernel.table_full_drops);
  EXPECT_EQ(oldest.table_full_drops, 0u);
  EXPECT_LT(oldest.legit_hurt, kernel.legit_hurt);
  for (const PolicyRow& r : rows) EXPECT_EQ(r.c.assured_evicted, 0u) << r.name;
  // Spoofed sources spread over /10: a per-source limit cannot tell them apart.
  EXPECT_EQ(rows[4].c.table_full_drops, kernel.table_full_drops);
}

}  // namespace
}  // namespace ctrack
