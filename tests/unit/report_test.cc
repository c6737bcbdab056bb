// The simulate reports: JSON structure, a self-contained HTML page, and the page rendered in
// headless Chromium (skipped when /usr/bin/chromium is absent).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "parse/link.h"
#include "sim/sim.h"
#include "testing/json.h"

namespace ctrack {
namespace {

namespace fs = std::filesystem;

struct Reports {
  SimReport sim;
  std::vector<PolicyRow> policies;
  SweepReport sweep;
};

const Reports& Build() {
  static const Reports* r = [] {
    auto* out = new Reports;
    PcapWriter w;
    w.OpenMemory(kLinkEthernet);
    GenOptions o;
    o.conns = 100;
    o.rate = 200;
    o.duration_s = 20;
    GenerateScenario("synflood", o, &w);
    std::vector<LoadedCapture> caps(1);
    LoadCaptureMemory(w.buffer().data(), w.buffer().size(), "generated", &caps[0]);
    caps[0].path = "synflood <test> \"quoted\"";
    SimOptions opt;
    opt.cfg.nf_conntrack_max = 512;
    out->sim = Simulate(caps, opt);
    out->policies = ComparePolicies(caps, opt, PolicyNames(), 2);
    SweepDim d;
    ParseSweep("nf_conntrack_max=256,1024,4096", &d);
    out->sweep = Sweep(caps, opt, {d}, 2, 0.5, 2);
    return out;
  }();
  return *r;
}

TEST(Report, JsonHasEveryPart) {
  const Reports& r = Build();
  testing::Json j;
  std::string err;
  ASSERT_TRUE(testing::Json::Parse(ReportJson(&r.sim, &r.policies, &r.sweep), &j, &err)) << err;
  const testing::Json& s = j["simulation"];
  EXPECT_EQ(s["inputs"].array()[0].str(), "synflood <test> \"quoted\"");
  EXPECT_EQ(s["counters"]["table_full_drops"].integer(),
            static_cast<int64_t>(r.sim.c.table_full_drops));
  EXPECT_EQ(s["counters"]["peak"].integer(), 512);
  EXPECT_TRUE(s["counters"]["first_full_t"].is_number());
  EXPECT_EQ(s["samples"].array().size(), r.sim.samples.size());
  EXPECT_EQ(s["samples"].array()[0]["by_cat"].array().size(), static_cast<size_t>(kCatCount));
  EXPECT_EQ(s["peak"]["by_state"].array()[0].array()[0].str(), "TCP SYN_SENT");
  EXPECT_TRUE(s["chains"]["histogram"].is_array());
  EXPECT_EQ(s["stale"].array().size(), 4u);
  EXPECT_EQ(j["policies"].array().size(), 5u);
  EXPECT_EQ(j["sweep"]["sizing"]["smallest_zero_drop_max"].integer(), 4096);
  EXPECT_EQ(j["sweep"]["sizing"]["apply"].array().size(), 4u);
  // Nothing but the simulation when the rest was not asked for.
  ASSERT_TRUE(testing::Json::Parse(ReportJson(&r.sim, nullptr, nullptr), &j, &err)) << err;
  EXPECT_TRUE(j["policies"].is_null());
}

TEST(Report, HtmlIsSelfContained) {
  const Reports& r = Build();
  std::string html = ReportHtml(&r.sim, &r.policies, &r.sweep);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  // The only URL is the SVG namespace name, which is never fetched.
  size_t pos = 0;
  while ((pos = html.find("http://", pos)) != std::string::npos) {
    EXPECT_EQ(html.compare(pos, 26, "http://www.w3.org/2000/svg"), 0);
    ++pos;
  }
  // The capture name with '<' cannot end the data script early.
  EXPECT_EQ(html.find("synflood <test>"), std::string::npos);
  EXPECT_NE(html.find("id=\"render-status\""), std::string::npos);
}

// Renders the page in headless Chromium: the page script must report its charts drawn and no
// error, and the screenshot must not be blank (scripts/render_report.sh).
TEST(Report, RendersInHeadlessChromium) {
  if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "no /usr/bin/chromium";
  if (std::system("python3 -c '' 2>/dev/null") != 0) GTEST_SKIP() << "no python3";
  fs::path script =
      fs::path(__FILE__).parent_path().parent_path().parent_path() / "scripts" / "render_report.sh";
  ASSERT_TRUE(fs::exists(script)) << script;
  const Reports& r = Build();
  fs::path dir = fs::path(::testing::TempDir()) / "ctrack_report_test";
  fs::create_directories(dir);
  fs::path page = dir / "report.html";
  std::ofstream(page) << ReportHtml(&r.sim, &r.policies, &r.sweep);
  std::string cmd =
      "bash '" + script.string() + "' '" + page.string() + "' 5 '" + (dir / "out").string() + "'";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  if (WEXITSTATUS(rc) == 77) GTEST_SKIP() << "chromium unavailable";
  EXPECT_EQ(WEXITSTATUS(rc), 0) << cmd;
}

}  // namespace
}  // namespace ctrack
