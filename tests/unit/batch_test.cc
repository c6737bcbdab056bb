// Differential test: ProcessBatch (prefetching pipeline) must give exactly the results of
// ProcessFrame on each frame, packet by packet, and leave the same table and counters.
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "io/capture.h"
#include "parse/link.h"

namespace ctrack {
namespace {

// Batches never span two link types: they split where the capture's link type changes.
void Compare(const std::string& name, const LoadedCapture& cap, const Config& cfg) {
  const std::vector<Frame>& frames = cap.frames;
  Conntrack one(cfg), batch(cfg);
  std::vector<PacketResult> a(frames.size()), b(frames.size());
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
    }
  }
  size_t diffs = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    bool same = a[i].verdict == b[i].verdict && a[i].dir == b[i].dir && a[i].entry == b[i].entry &&
                a[i].notes == b[i].notes && a[i].destroyed == b[i].destroyed;
    if (!same && ++diffs <= 5) {
      ADD_FAILURE() << name << " packet " << i << ": " << VerdictName(a[i].verdict) << " vs "
                    << VerdictName(b[i].verdict);
    }
  }
  EXPECT_EQ(diffs, 0u) << name;
  EXPECT_EQ(one.count(), batch.count()) << name;
  EXPECT_EQ(one.stats().invalid, batch.stats().invalid) << name;
  EXPECT_EQ(one.stats().drop, batch.stats().drop) << name;
  EXPECT_EQ(one.stats().early_drop, batch.stats().early_drop) << name;
  EXPECT_EQ(one.counters().packets, batch.counters().packets) << name;
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
