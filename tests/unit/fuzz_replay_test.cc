// Replays the fuzz corpus and crasher regressions under ctest (any compiler), plus a
// deterministic random sweep: valid generated frames cut short and mutated, fed through
// parse + track. Under the sanitizer preset this is the "no crash on bad input" check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "fuzz/fuzz_targets.h"
#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "parse/link.h"

namespace ctrack {
namespace {

namespace fs = std::filesystem;

// Files in tests/fuzz/regressions/*/ (see tests/fuzz/regressions/README.md).
constexpr int kRegressionFiles = 2;

std::vector<uint8_t> ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Target {
  const char* dir;
  int (*fn)(const uint8_t*, size_t);
};
constexpr Target kTargets[] = {{"parse", fuzz::FuzzParse},       {"track", fuzz::FuzzTrack},
                               {"pcap", fuzz::FuzzPcap},         {"set", fuzz::FuzzSet},
                               {"snapshot", fuzz::FuzzSnapshot}, {"netlink", fuzz::FuzzNetlink}};

// Runs every file under root/<target>/ through its entry point; returns the count per target.
std::vector<int> ReplayTree(const fs::path& root) {
  std::vector<int> counts;
  for (const Target& t : kTargets) {
    int n = 0;
    fs::path d = root / t.dir;
    if (fs::is_directory(d)) {
      for (const auto& e : fs::directory_iterator(d)) {
        if (!e.is_regular_file() || e.path().filename().string()[0] == '.') continue;
        std::vector<uint8_t> b = ReadAll(e.path());
        SCOPED_TRACE(e.path().string());
        t.fn(b.data(), b.size());  // a crash, sanitizer report or trap fails the test
        ++n;
      }
    }
    counts.push_back(n);
  }
  return counts;
}

// The seed corpus (tests/fuzz/corpus, made by tests/fuzz/make_corpus.py): every target has seeds.
TEST(FuzzReplay, Corpus) {
  std::vector<int> counts = ReplayTree(fs::path(CTRACK_FUZZ_CORPUS));
  int total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_GE(counts[i], 10) << "too few seeds for " << kTargets[i].dir;
    total += counts[i];
  }
  std::printf(
      "fuzz corpus: %d files replayed (parse %d, track %d, pcap %d, set %d, snapshot %d, netlink "
      "%d)\n",
      total, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
  RecordProperty("files", total);
}

// Crash reproducers found by fuzzing (tests/fuzz/regressions/<target>/), fixed since: each must
// now run cleanly. Listed by name so that a deleted reproducer is noticed.
TEST(FuzzReplay, Regressions) {
  fs::path root = fs::path(CTRACK_FUZZ_CORPUS).parent_path() / "regressions";
  std::vector<int> counts = ReplayTree(root);
  int total = 0;
  for (int c : counts) total += c;
  std::printf(
      "fuzz regressions: %d files replayed (parse %d, track %d, pcap %d, set %d, snapshot %d, "
      "netlink %d)\n",
      total, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
  EXPECT_EQ(total, kRegressionFiles) << "update kRegressionFiles when adding a reproducer";
}

// Frames from the project's generator, as (frame bytes) records.
std::vector<std::vector<uint8_t>> GeneratedFrames() {
  PcapWriter w;
  w.OpenMemory(kLinkEthernet);
  GenOptions opt;
  opt.conns = 40;
  opt.duration_s = 2;
  for (const char* s : {"web", "portscan", "flaky"}) EXPECT_EQ(GenerateScenario(s, opt, &w), "");
  std::vector<std::vector<uint8_t>> frames;
  const std::vector<uint8_t>& b = w.buffer();
  for (size_t off = 24; off + 16 <= b.size();) {
    uint32_t len;
    std::memcpy(&len, &b[off + 8], 4);
    frames.emplace_back(b.begin() + static_cast<long>(off + 16),
                        b.begin() + static_cast<long>(off + 16 + len));
    off += 16 + len;
  }
  return frames;
}

TEST(FuzzReplay, TruncatedAndMutatedFrames) {
  std::vector<std::vector<uint8_t>> frames = GeneratedFrames();
  ASSERT_GT(frames.size(), 100u);
  std::mt19937_64 rng(12345);
  std::vector<uint8_t> input;
  size_t runs = 0;
  for (int round = 0; round < 300; ++round) {
    input.assign(1, static_cast<uint8_t>(rng()));
    for (int k = 0; k < 24; ++k) {
      std::vector<uint8_t> f = frames[rng() % frames.size()];
      switch (rng() % 4) {
        case 0:
          f.resize(rng() % (f.size() + 1));  // cut anywhere
          break;
        case 1:
          for (int m = 0; m < 4; ++m)
            f[rng() % f.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 2:
          for (auto& byte : f) byte = static_cast<uint8_t>(rng());
          break;
        default:
          break;
      }
      input.push_back(static_cast<uint8_t>(f.size() >> 8));
      input.push_back(static_cast<uint8_t>(f.size()));
      input.push_back(static_cast<uint8_t>(rng() % 2 == 0 ? 0 : rng()));  // mostly Ethernet
      input.push_back(static_cast<uint8_t>(rng() % 8));
      input.insert(input.end(), f.begin(), f.end());
      std::vector<uint8_t> one(1, 0);
      one.insert(one.end(), f.begin(), f.end());
      fuzz::FuzzParse(one.data(), one.size());
    }
    fuzz::FuzzTrack(input.data(), input.size());
    ++runs;
  }
  EXPECT_EQ(runs, 300u);
}

// Generated captures cut at every kind of boundary and with corrupted bytes, through the pcap
// reader and the tracker (FuzzPcap).
TEST(FuzzReplay, TruncatedAndMutatedCaptures) {
  PcapWriter w;
  w.OpenMemory(kLinkEthernet);
  GenOptions opt;
  opt.conns = 5;
  opt.duration_s = 1;
  ASSERT_EQ(GenerateScenario("web", opt, &w), "");
  std::vector<uint8_t> file(
      w.buffer().begin(),
      w.buffer().begin() + static_cast<long>(std::min<size_t>(w.buffer().size(), 4096)));
  std::mt19937_64 rng(777);
  int runs = 0;
  for (size_t cut = 0; cut <= file.size(); cut += 1 + cut / 8, ++runs) {
    fuzz::FuzzPcap(file.data(), cut);
  }
  for (int round = 0; round < 200; ++round, ++runs) {
    std::vector<uint8_t> f = file;
    for (int m = 0; m < 8; ++m) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    fuzz::FuzzPcap(f.data(), f.size());
  }
  EXPECT_GT(runs, 250);
}

}  // namespace
}  // namespace ctrack
