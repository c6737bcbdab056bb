// Differential test: ProcessBatch (prefetching pipeline), over frames or over frames already
// decoded, must give exactly the results of ProcessFrame on each frame, packet by packet, and
// leave the same table and counters; the threaded sharded run must track each shard's frames
// as one engine would, in capture order.
#include <ctrack/conntrack.h>
#include <ctrack/decode.h>
#include <ctrack/sharded.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "gen/workload.h"
#include "io/capture.h"
#include "parse/link.h"

namespace ctrack {
namespace {

// Batches never span two link types: they split where the capture's link type changes.
void Compare(const std::string& name, const LoadedCapture& cap, const Config& cfg) {
  const std::vector<Frame>& frames = cap.frames;
  Conntrack one(cfg), batch(cfg), decoded(cfg);
  std::vector<PacketResult> a(frames.size()), b(frames.size()), c(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    a[i] = one.ProcessFrame(cap.linktypes[i], f.data, f.caplen, f.wirelen, f.ts);
  }
  // Uneven batch sizes so group boundaries fall everywhere.
  for (const LoadedCapture::LinkRun& run : cap.LinkRuns()) {
    for (size_t i = run.begin, step = 1; i < run.end; i += step, step = step % 37 + 1) {
      size_t n = std::min(step, run.end - i);
      batch.ProcessBatch(run.linktype, std::span<const Frame>(&frames[i], n),
                         std::span<PacketResult>(&b[i], n));
      std::vector<DecodedFrame> d(n);
      for (size_t k = 0; k < n; ++k) {
        const Frame& f = frames[i + k];
        DecodeFrame(run.linktype, f.data, f.caplen, f.wirelen, &d[k].facts);
        d[k].ts = f.ts;
      }
      decoded.ProcessBatch(std::span<const DecodedFrame>(d), std::span<PacketResult>(&c[i], n));
    }
  }
  for (const auto* other : {&b, &c}) {
    const char* how = other == &b ? " (batch)" : " (decoded batch)";
    size_t diffs = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
      const PacketResult& x = (*other)[i];
      bool same = a[i].verdict == x.verdict && a[i].dir == x.dir && a[i].entry == x.entry &&
                  a[i].notes == x.notes && a[i].destroyed == x.destroyed &&
                  a[i].forwarded == x.forwarded;
      if (!same && ++diffs <= 5) {
        ADD_FAILURE() << name << how << " packet " << i << ": " << VerdictName(a[i].verdict)
                      << " vs " << VerdictName(x.verdict);
      }
    }
    EXPECT_EQ(diffs, 0u) << name << how;
  }
  for (const Conntrack* x : {&batch, &decoded}) {
    EXPECT_EQ(one.count(), x->count()) << name;
    EXPECT_EQ(one.stats().invalid, x->stats().invalid) << name;
    EXPECT_EQ(one.stats().drop, x->stats().drop) << name;
    EXPECT_EQ(one.stats().early_drop, x->stats().early_drop) << name;
    EXPECT_EQ(one.counters().packets, x->counters().packets) << name;
  }
}

// The threaded W1 run (RunSharded: each thread picks its own shard's frames out of the whole
// capture by their headers and tracks them) against the same shards fed one decoded frame at a
// time in capture order.
TEST(BatchTest, ThreadedShardsSameAsSequential) {
  bench::WorkloadOptions opt;
  opt.conns = 5000;
  bench::Workload w;
  ASSERT_EQ(bench::MakeWorkload("w1", opt, &w), "");
  for (unsigned threads : {2u, 3u}) {
    ShardedConntrack par(w.cfg, threads), seq(w.cfg, threads);
    std::vector<uint64_t> counts;
    bench::RunSharded(w, par, &counts);
    std::vector<uint64_t> seq_counts(threads, 0);
    for (const Frame& f : w.timed.frames()) {
      const FrameFacts facts = DecodeFrame(w.linktype, f.data, f.caplen, f.wirelen);
      const unsigned s = seq.ShardOf(facts);
      seq.shard(s).Process(facts, f.ts);
      ++seq_counts[s];
    }
    EXPECT_EQ(counts, seq_counts) << threads << " threads";
    EXPECT_GT(seq_counts[1], 0u) << "the split uses every shard";
    for (unsigned t = 0; t < threads; ++t) {
      const Conntrack& a = seq.shard(t);
      const Conntrack& b = par.shard(t);
      EXPECT_EQ(a.count(), b.count()) << "shard " << t;
      EXPECT_EQ(a.counters().created, b.counters().created) << "shard " << t;
      EXPECT_EQ(a.counters().packets, b.counters().packets) << "shard " << t;
      EXPECT_EQ(a.stats().invalid, b.stats().invalid) << "shard " << t;
      EXPECT_EQ(a.stats().drop, b.stats().drop) << "shard " << t;
    }
  }
}

TEST(BatchTest, SameAsPerFrameOnGeneratedScenarios) {
  for (const std::string& s : ScenarioNames()) {
    PcapWriter w;
    w.OpenMemory(kLinkEthernet);
    GenOptions opt;
    opt.conns = s == "w1" ? 3000 : 300;
    opt.duration_s = 30;
    opt.rate = s == "w1" ? 100 : 500;
    ASSERT_EQ(GenerateScenario(s, opt, &w), "");
    LoadedCapture cap;
    ASSERT_EQ(LoadCaptureMemory(w.buffer().data(), w.buffer().size(), s, &cap), "");
    Config cfg;
    Compare(s, cap, cfg);
    cfg.nf_conntrack_max = 256;  // table full: early drop and drops in the pipeline too
    cfg.nf_conntrack_buckets = 64;
    Compare(s + "/max256", cap, cfg);
  }
}

TEST(BatchTest, SameAsPerFrameOnSharedCaptures) {
  const char* shared = std::getenv("CTRACK_SHARED");
  if (shared == nullptr || !std::filesystem::exists(std::string(shared) + "/pcaps")) {
    GTEST_SKIP() << "no ../shared";
  }
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(shared) + "/pcaps")) {
    if (e.path().extension() != ".pcap" && e.path().extension() != ".pcapng") continue;
    LoadedCapture cap;
    if (!LoadCapture(e.path().string(), &cap).empty()) continue;
    Config cfg;
    Compare(e.path().filename().string(), cap, cfg);
    ++n;
  }
  EXPECT_GT(n, 50);
}

}  // namespace
}  // namespace ctrack
