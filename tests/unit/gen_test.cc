#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "parse/link.h"

namespace ctrack {
namespace {

std::string SharedDir() {
  const char* s = std::getenv("CTRACK_SHARED");
  return s ? s : "";
}

// The generator must reproduce the reference W1 workload byte for byte.
TEST(GenTest, W1MatchesReferenceGenerator) {
  std::string script = SharedDir() + "/bench/gen_tcp_pcap.py";
  if (SharedDir().empty() || !std::ifstream(script).good()) GTEST_SKIP() << "no ../shared";
  if (std::system("python3 -c '' 2>/dev/null") != 0) GTEST_SKIP() << "no python3";
  struct Case {
    uint32_t conns, window, req, rsp;
  };
  for (Case c : {Case{3000, 1000, 100, 1000}, Case{6600, 7, 0, 1}, Case{10, 1, 1460, 3}}) {
    std::string path = ::testing::TempDir() + "/w1_ref.pcap";
    std::string cmd = "python3 " + script + " " + path + " " + std::to_string(c.conns) + " " +
                      std::to_string(c.window) + " " + std::to_string(c.req) + " " +
                      std::to_string(c.rsp) + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> ref((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    PcapWriter w;
    w.OpenMemory(kLinkEthernet);
    GenerateW1(&w, c.conns, c.window, c.req, c.rsp);
    ASSERT_EQ(w.buffer().size(), ref.size()) << c.conns << "/" << c.window;
    EXPECT_TRUE(w.buffer() == ref) << c.conns << "/" << c.window;
    std::remove(path.c_str());
  }
}

TEST(GenTest, ScenariosAreDeterministicAndNonEmpty) {
  for (const std::string& name : ScenarioNames()) {
    if (name == "w1") continue;
    GenOptions opt;
    opt.conns = 50;
    opt.duration_s = 5;
    opt.rate = 100;
    PcapWriter a, b;
    a.OpenMemory(kLinkEthernet);
    b.OpenMemory(kLinkEthernet);
    ASSERT_EQ(GenerateScenario(name, opt, &a), "");
    ASSERT_EQ(GenerateScenario(name, opt, &b), "");
    EXPECT_GT(a.records(), 10u) << name;
    EXPECT_TRUE(a.buffer() == b.buffer()) << name;
  }
  PcapWriter w;
  w.OpenMemory(kLinkEthernet);
  EXPECT_NE(GenerateScenario("nope", GenOptions{}, &w), "");
}

}  // namespace
}  // namespace ctrack
