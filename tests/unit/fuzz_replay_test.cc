// Replays the fuzz corpus and crasher regressions under ctest (any compiler), plus a
// deterministic random sweep: valid generated frames cut short and mutated, fed through
// parse + track. Under the sanitizer preset this is the "no crash on bad input" check.
#include <gtest/gtest.h>

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

std::vector<uint8_t> ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzReplay, CorpusAndRegressions) {
  fs::path root(CTRACK_FUZZ_CORPUS);
  int files = 0;
  struct Target {
    const char* dir;
    int (*fn)(const uint8_t*, size_t);
  };
  for (Target t : {Target{"parse", fuzz::FuzzParse}, Target{"track", fuzz::FuzzTrack},
                   Target{"set", fuzz::FuzzSet}}) {
    fs::path d = root / t.dir;
    if (!fs::exists(d)) continue;
    for (const auto& e : fs::directory_iterator(d)) {
      std::vector<uint8_t> b = ReadAll(e.path());
      t.fn(b.data(), b.size());
      ++files;
    }
  }
  RecordProperty("files", files);
  SUCCEED() << files << " corpus files replayed";
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

}  // namespace
}  // namespace ctrack
