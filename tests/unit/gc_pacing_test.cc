// GC pacing on a manual clock: how many expired entries each gc_worker() run reaps, and when the
// next run comes.
//
// Expected values are derived from gc_worker(), net/netfilter/nf_conntrack_core.c (v6.18), not
// from this engine's output:
//   - before looking at each node of a chain, a run that has already reaped more than
//     GC_SCAN_EXPIRED_MAX (64000 / HZ = 256 at HZ=250) entries stops and saves its bucket, so a
//     run reaps at most 257 entries, and exactly min(left, 257) when every entry has expired;
//   - a stopped run is re-queued one jiffy (4 ms) later, continuing where it stopped (the cycle
//     has lasted far less than GC_SCAN_INTERVAL_MAX, 60 s, so it is not re-queued at once);
//   - a completed cycle waits at least GC_SCAN_INTERVAL_MIN (1 s) and at most
//     GC_SCAN_INTERVAL_MAX (60 s) minus its duration before the next cycle;
//   - that pause is the running average of the nodes' remaining lifetimes, kept in whole
//     jiffies: it starts at 60 s with a weight of 100 samples (GC_SCAN_INTERVAL_INIT,
//     GC_SCAN_INITIAL_COUNT), each node adds clamp(remaining, 1 s, 300 s) as
//     avg += (sample - avg) / ++count with C's truncating division, and the cycle's duration
//     is taken as at least one jiffy.
// The virtual clock moves only with frames: a non-IP frame touches no entry but lets the GC catch
// up, so stepping it by one jiffy at a time shows every run on its own.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "testing/packet_builder.h"

namespace ctrack {
namespace {

constexpr Timestamp kJiffy = kNsPerSec / 250;  // HZ=250
constexpr uint64_t kRunLimit = 256 + 1;        // reaped before the check stops a run
constexpr Timestamp kUdpTimeout = 30 * kNsPerSec;

// gc_worker()'s reaping when every entry has expired: full runs of kRunLimit one jiffy apart,
// then the remainder.
std::vector<uint64_t> KernelRuns(uint64_t n) {
  std::vector<uint64_t> runs;
  while (n > 0) {
    runs.push_back(std::min(n, kRunLimit));
    n -= runs.back();
  }
  return runs;
}

// A UDP datagram from 10.x.y.z:1000 to 192.0.2.1:53 (unreplied: nf_conntrack_udp_timeout, 30 s).
testing::Bytes Udp(uint32_t i) {
  return testing::PacketBuilder()
      .Ipv4("10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                std::to_string(i % 256),
            "192.0.2.1")
      .Udp(1000, 53)
      .Payload(8)
      .Build();
}

// Opens `n` unreplied UDP flows at `t0`; each must be new.
void OpenUdpFlows(Conntrack& ct, uint32_t n, Timestamp t0) {
  for (uint32_t i = 0; i < n; ++i) {
    testing::Bytes p = Udp(i);
    ASSERT_EQ(ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), t0).verdict, Verdict::kNew);
  }
}

// Moves the virtual clock to `t` with a non-IP frame: no entry is touched, the GC catches up.
void AdvanceTo(Conntrack& ct, Timestamp t) {
  static const uint8_t kArp[14] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06};
  ct.ProcessFrame(kLinkEthernet, kArp, sizeof kArp, sizeof kArp, t);
}

struct GcCase {
  const char* name;
  uint32_t entries;
  bool one_chain;  // the constant hash: every node in bucket 0
};

// Keeps ctest's test names free of the case's bytes.
void PrintTo(const GcCase& c, std::ostream* os) { *os << c.name; }

class GcPacingTest : public ::testing::TestWithParam<GcCase> {};

TEST_P(GcPacingTest, ReapsAtMost257PerRunOneJiffyApart) {
  const GcCase& c = GetParam();
  Config cfg;
  cfg.nf_conntrack_max = 8192;
  cfg.nf_conntrack_buckets = 1024;
  Conntrack ct(cfg);
  ct.SetConstantHashForTest(c.one_chain);
  const Timestamp t0 = 10 * kNsPerSec;
  OpenUdpFlows(ct, c.entries, t0);
  if (HasFatalFailure()) return;
  ASSERT_EQ(ct.count(), c.entries);
  auto advance_to = [&](Timestamp t) { AdvanceTo(ct, t); };

  // Nothing has expired a jiffy before the timeout.
  Timestamp now = t0 + kUdpTimeout - kJiffy;
  advance_to(now);
  EXPECT_EQ(ct.counters().expired, 0u);
  EXPECT_EQ(ct.count(), c.entries);

  // One jiffy at a time until the first reaping run; it must come within one maximal pause.
  const Timestamp latest = t0 + kUdpTimeout + 60 * kNsPerSec + kJiffy;
  while (ct.counters().expired == 0 && now < latest) {
    now += kJiffy;
    advance_to(now);
  }
  ASSERT_GT(ct.counters().expired, 0u) << "no GC run reaped anything by timeout + 60 s";

  // From there, each jiffy's run reaps what gc_worker() would, then nothing more.
  const std::vector<uint64_t> expected = KernelRuns(c.entries);
  std::vector<uint64_t> got{ct.counters().expired};
  uint64_t total = got[0];
  for (int step = 0; step < 10 + static_cast<int>(expected.size()); ++step) {
    now += kJiffy;
    advance_to(now);
    const uint64_t reaped = ct.counters().expired - total;
    total += reaped;
    if (reaped != 0) got.push_back(reaped);
    if (reaped == 0 && got.size() < expected.size()) {
      ADD_FAILURE() << "run " << got.size() << " was not followed by another one jiffy later";
      break;
    }
    EXPECT_EQ(ct.count(), c.entries - total);
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(ct.counters().expired, c.entries);
  EXPECT_EQ(ct.count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Runs, GcPacingTest,
    ::testing::Values(GcCase{"one", 1, false}, GcCase{"limit_minus_one", 256, false},
                      GcCase{"limit", 257, false}, GcCase{"limit_plus_one", 258, false},
                      GcCase{"three_runs", 600, false}, GcCase{"exact_two_runs", 514, false},
                      GcCase{"one_chain_limit", 257, true}, GcCase{"one_chain_plus_one", 258, true},
                      GcCase{"one_chain_three_runs", 600, true},
                      GcCase{"one_chain_many", 2000, true}),
    [](const ::testing::TestParamInfo<GcCase>& i) { return std::string(i.param.name); });

// The pause after a first cycle that sees `entries` UDP entries (two nodes each), every one with
// `left` jiffies to live, as gc_worker() computes it: see the header comment.
int64_t KernelPauseJiffies(uint32_t entries, int64_t left) {
  int64_t avg = 60 * 250, count = 100;
  const int64_t sample = std::clamp<int64_t>(left, 250, 300 * 250);
  for (uint32_t n = 0; n < 2 * entries; ++n) avg += (sample - avg) / ++count;
  avg = std::clamp<int64_t>(avg, 250, 60 * 250);
  const int64_t spent = 1;  // the cycle took no time; the kernel counts one jiffy
  return avg > spent ? avg - spent : 1;
}

struct PauseCase {
  const char* name;
  uint32_t entries;
  Timestamp udp_timeout;
};

void PrintTo(const PauseCase& c, std::ostream* os) { *os << c.name; }

class GcPauseTest : public ::testing::TestWithParam<PauseCase> {};

// The second cycle starts exactly when the kernel's average says: the entries (all expired by
// then) are still there a jiffy before it and the first 257 go at it. An average kept in
// nanoseconds drifts from the kernel's by seconds over a few thousand samples.
TEST_P(GcPauseTest, SecondCycleAfterTheKernelsAverage) {
  const PauseCase& c = GetParam();
  Config cfg;
  cfg.nf_conntrack_max = 65536;
  cfg.nf_conntrack_buckets = 16384;
  cfg.nf_conntrack_udp_timeout = static_cast<uint32_t>(c.udp_timeout / kNsPerSec);
  Conntrack ct(cfg);
  const Timestamp t0 = 10 * kNsPerSec;
  OpenUdpFlows(ct, c.entries, t0);
  if (HasFatalFailure()) return;
  auto advance_to = [&](Timestamp t) { AdvanceTo(ct, t); };
  // The first cycle runs 1 s after the first confirmation and reaps nothing.
  const Timestamp first = t0 + kNsPerSec;
  advance_to(first);
  ASSERT_EQ(ct.counters().expired, 0u);
  const Timestamp second =
      first + KernelPauseJiffies(c.entries, (c.udp_timeout - kNsPerSec) / kJiffy) * kJiffy;
  ASSERT_GT(second, t0 + c.udp_timeout) << "the case must have every entry expired by then";
  advance_to(second - kJiffy);
  EXPECT_EQ(ct.counters().expired, 0u) << "a GC run came before the kernel's";
  advance_to(second);
  EXPECT_EQ(ct.counters().expired, std::min<uint64_t>(c.entries, kRunLimit))
      << "no GC run at the kernel's time";
}

INSTANTIATE_TEST_SUITE_P(Pause, GcPauseTest,
                         ::testing::Values(PauseCase{"few_entries", 10, 30 * kNsPerSec},
                                           PauseCase{"thousand", 1000, 30 * kNsPerSec},
                                           PauseCase{"five_thousand", 5000, 30 * kNsPerSec},
                                           PauseCase{"short_timeout", 3000, 5 * kNsPerSec}),
                         [](const ::testing::TestParamInfo<PauseCase>& i) {
                           return std::string(i.param.name);
                         });

// GC early drop after a failed allocation, from gc_worker(): the flag set by
// __nf_conntrack_alloc()'s failure makes the next run delete entries that are not ASSURED while
// the namespace's count is at least nf_conntrack_max / 100 * 95, and a threshold of 0 (any max
// below 100) turns that off. Filler entries (kernel-ct's --max emulation) count on both sides of
// the test, so there it passes whatever the max. A run stops after 257 deletions and the flag
// goes with it.
struct EarlyDropCase {
  const char* name;
  uint32_t max;
  uint32_t fillers;
  uint64_t evicted;  // by the first GC cycle after the failure
};

void PrintTo(const EarlyDropCase& c, std::ostream* os) { *os << c.name; }

class GcEarlyDropTest : public ::testing::TestWithParam<EarlyDropCase> {};

TEST_P(GcEarlyDropTest, AfterAFailedAllocation) {
  const EarlyDropCase& c = GetParam();
  Config cfg;
  cfg.nf_conntrack_max = c.max;
  cfg.ctrack_filler_entries = c.fillers;
  // Many buckets, so that the packet path's early drop (8 buckets from the new tuple's) rarely
  // finds a victim and the failure comes within a few tries.
  cfg.nf_conntrack_buckets = 1u << 20;
  cfg.nf_conntrack_udp_timeout = 600;  // nothing expires during the test
  ASSERT_EQ(cfg.Validate(), "");
  Conntrack ct(cfg);
  const Timestamp t0 = 10 * kNsPerSec;
  OpenUdpFlows(ct, c.max, t0);
  if (HasFatalFailure()) return;
  bool failed = false;
  for (uint32_t i = c.max; i < c.max + 50 && !failed; ++i) {
    testing::Bytes p = Udp(i);
    failed = ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), t0).verdict == Verdict::kDrop;
  }
  ASSERT_TRUE(failed) << "no allocation failed";
  ASSERT_EQ(ct.count(), c.max);
  // The first cycle (1 s after the first confirmation) and every run it needs.
  AdvanceTo(ct, t0 + 2 * kNsPerSec);
  EXPECT_EQ(ct.counters().gc_early_drop, c.evicted);
  EXPECT_EQ(ct.count(), c.max - c.evicted);
  EXPECT_EQ(ct.stats().early_drop, 0u) << "GC deletions are not the early_drop statistic";
  // Later cycles, without a new failure, evict nothing more.
  AdvanceTo(ct, t0 + 130 * kNsPerSec);
  EXPECT_EQ(ct.counters().gc_early_drop, c.evicted);
}

INSTANTIATE_TEST_SUITE_P(
    Threshold, GcEarlyDropTest,
    ::testing::Values(EarlyDropCase{"max1", 1, 0, 0}, EarlyDropCase{"max16", 16, 0, 0},
                      EarlyDropCase{"max99", 99, 0, 0}, EarlyDropCase{"max100", 100, 0, 100},
                      EarlyDropCase{"max400_one_run", 400, 0, kRunLimit},
                      EarlyDropCase{"max1_fillers", 1, 262143, 1},
                      EarlyDropCase{"max16_fillers", 16, 262128, 16},
                      EarlyDropCase{"max400_fillers", 400, 261744, kRunLimit}),
    [](const ::testing::TestParamInfo<EarlyDropCase>& i) { return std::string(i.param.name); });

// Fillers live for days: each adds a sample at the 300 s clamp, so with them in the majority the
// average sits above 60 s and every pause is GC_SCAN_INTERVAL_MAX less the one jiffy counted for
// the cycle, where the same entries alone would give a shorter one.
TEST(GcFillers, PauseAtItsUpperBound) {
  for (uint32_t fillers : {0u, 262134u}) {
    SCOPED_TRACE(fillers);
    Config cfg;
    cfg.nf_conntrack_max = 10;
    cfg.ctrack_filler_entries = fillers;
    cfg.nf_conntrack_udp_timeout = 5;
    Conntrack ct(cfg);
    const Timestamp t0 = 10 * kNsPerSec;
    OpenUdpFlows(ct, 10, t0);
    if (HasFatalFailure()) return;
    const Timestamp first = t0 + kNsPerSec;
    AdvanceTo(ct, first);
    ASSERT_EQ(ct.counters().expired, 0u);
    const int64_t pause_j =
        fillers == 0 ? KernelPauseJiffies(10, (5 - 1) * 250) : 60 * 250 - /*spent=*/1;
    const Timestamp second = first + pause_j * kJiffy;
    AdvanceTo(ct, second - kJiffy);
    EXPECT_EQ(ct.counters().expired, 0u) << "a GC run came before the kernel's";
    AdvanceTo(ct, second);
    EXPECT_EQ(ct.counters().expired, 10u) << "no GC run at the kernel's time";
  }
}

}  // namespace
}  // namespace ctrack
