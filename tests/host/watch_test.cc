// ctrack watch / exporter without the kernel: the forecast's arithmetic, the alert lead time on
// the engine's virtual clock, the expositions checked by a strict parser, event counting, and the
// deployment files.
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gen/traffic.h"
#include "host/events.h"
#include "host/prom_text.h"
#include "sim/forecast.h"
#include "sim/metrics.h"

namespace ctrack::watch {
namespace {

using ctrack::testing::ParsePromText;
using ctrack::testing::PromDoc;

// A timeout-driven class filled from empty at a constant rate: the projection is exact, so the
// forecast's time to full is (max - count) / rate while no entry has expired yet.
TEST(Forecast, ConstantRampIsExact) {
  ClassState c;
  c.key = {kProtoTcp, static_cast<uint8_t>(TcpState::kSynSent)};
  c.timeout_s = 120;
  c.arrivals_per_s = 100;
  c.count = 3000;  // 30 s of arrivals: remaining times spread evenly over 90 .. 120 s
  c.survivors.assign(122, 0);
  for (int r = 0; r < 122; ++r) c.survivors[r] = r < 90 ? 3000 : std::max(0, 120 - r) * 100;
  Forecast f = ComputeForecast(std::span<const ClassState>(&c, 1), 0, 8000);
  EXPECT_NEAR(f.time_to_full_s, 50.0, 0.05);  // 3000 + 100 * 50 = 8000
  EXPECT_NE(f.text.find("tcp SYN_SENT"), std::string::npos) << f.text;
  // The same table with max 20000: the class settles at 100 * 120 = 12000 = 60 %.
  Forecast g = ComputeForecast(std::span<const ClassState>(&c, 1), 0, 20000);
  EXPECT_TRUE(std::isinf(g.time_to_full_s));
  EXPECT_NEAR(g.settle_fraction, 0.60, 1e-9);
  EXPECT_EQ(g.text, "settles at 60 % of max");
}

// Entries that leave long before their timeout (ESTABLISHED closed by FIN) settle at the level
// their observed residence gives, not arrival rate x five days.
TEST(Forecast, TransitionDrivenClassUsesObservedResidence) {
  ClassState c;
  c.key = {kProtoTcp, static_cast<uint8_t>(TcpState::kEstablished)};
  c.timeout_s = 432000;
  c.count = 2000;
  c.arrivals_per_s = 100;
  c.departures_per_s = 100;  // residence 20 s
  ClassOutlook o = Outlook(c);
  EXPECT_FALSE(o.timeout_driven);
  EXPECT_NEAR(o.residence_s, 20, 1e-9);
  EXPECT_NEAR(o.level, 2000, 1e-9);
  Forecast f = ComputeForecast(std::span<const ClassState>(&c, 1), 0, 262144);
  EXPECT_TRUE(std::isinf(f.time_to_full_s));
}

// Feeds the engine's table to a Watcher every `step` seconds of virtual time.
struct EngineWatch {
  Conntrack ct;
  Watcher w;
  explicit EngineWatch(const Config& cfg) : ct(cfg), w(cfg, 10) {}
  void TakeSample(Timestamp now) {
    ct.ExpireAll(now);
    w.BeginTable();
    ct.ForEach(now, [&](const ConnInfo& ci) { w.AddEntry(ci); });
    Sample s;
    s.t = static_cast<double>(now) / kNsPerSec;
    s.count = ct.count();
    s.max = ct.config().nf_conntrack_max;
    s.buckets = ct.config().nf_conntrack_buckets;
    s.has_stats = true;
    s.stats = ct.stats();
    s.has_table = true;
    w.Observe(s);
  }
};

// The alert lead-time check on virtual time: the kernel's semantics (ctrack's engine), a
// background of 4,000 established TCP connections, then a SYN flood of 110 new sources per
// second (never answered) into a 16,384-entry table. The exporter's series are evaluated every
// 15 s exactly as deploy/prometheus-rules.yml states them: the classic
// node_nf_conntrack_entries / node_nf_conntrack_entries_limit > 0.75 (no `for`), and
// ctrack_conntrack_time_to_full_seconds < 900 held for 15 s. The table-full instant is the first
// packet the kernel could not give a fresh entry without evicting one (early_drop) or dropping
// it (drop).
TEST(AlertLead, LeadingAlertFiresAMinuteBeforeFullClassicDoesNot) {
  Config cfg;
  cfg.nf_conntrack_max = 16384;
  cfg.nf_conntrack_buckets = 16384;
  EngineWatch ew(cfg);
  FrameSynth fs;
  const Timestamp t0 = 1700000000 * kNsPerSec;
  const Endpoint server = V4(0xc0a80001, 80);
  // Background: 4,000 handshakes during the first 40 s.
  for (uint32_t i = 0; i < 4000; ++i) {
    Timestamp t = t0 + static_cast<Timestamp>(i) * (kNsPerSec / 100);
    Endpoint cl = V4(0x0a000000 + i / 200, static_cast<uint16_t>(20000 + i));
    auto a = fs.Tcp(cl, server, 1000, 0, 0x02, 65535, nullptr, 0, nullptr, 0);
    ew.ct.ProcessFrame(kLinkEthernet, a.data, a.len, a.len, t);
    auto b = fs.Tcp(server, cl, 5000, 1001, 0x12, 65535, nullptr, 0, nullptr, 0);
    ew.ct.ProcessFrame(kLinkEthernet, b.data, b.len, b.len, t + 1000000);
    auto c = fs.Tcp(cl, server, 1001, 5001, 0x10, 65535, nullptr, 0, nullptr, 0);
    ew.ct.ProcessFrame(kLinkEthernet, c.data, c.len, c.len, t + 2000000);
  }
  const double flood_start = 307.5;  // mid-interval: the first sample sees half an interval
  const double rate = 110;
  const double step = 15;
  double next_sample = step;
  double classic_at = -1, leading_at = -1, leading_since = -1, full_at = -1;
  uint64_t n = 0;
  for (double t = flood_start; t < 900 && full_at < 0; t = flood_start + n / rate) {
    while (next_sample <= t) {
      ew.TakeSample(t0 + static_cast<Timestamp>(next_sample * kNsPerSec));
      const WatchReport& r = ew.w.report();
      if (classic_at < 0 && static_cast<double>(r.count) / r.max > 0.75) classic_at = next_sample;
      if (r.forecast.time_to_full_s < 900) {
        if (leading_since < 0) leading_since = next_sample;
        if (leading_at < 0 && next_sample - leading_since >= 15) leading_at = next_sample;
      } else {
        leading_since = -1;
      }
      next_sample += step;
    }
    Endpoint src =
        V4(0x64000000 + static_cast<uint32_t>(n), static_cast<uint16_t>(1024 + n % 60000));
    auto syn =
        fs.Tcp(src, server, static_cast<uint32_t>(n * 7919), 0, 0x02, 1024, nullptr, 0, nullptr, 0);
    ew.ct.ProcessFrame(kLinkEthernet, syn.data, syn.len, syn.len,
                       t0 + static_cast<Timestamp>(t * kNsPerSec));
    const Stats& st = ew.ct.stats();
    if (st.drop + st.early_drop > 0) full_at = t;
    ++n;
  }
  ASSERT_GT(full_at, 0) << "the flood never filled the table";
  ASSERT_GT(classic_at, 0);
  ASSERT_GT(leading_at, 0);
  const double classic_lead = full_at - classic_at, leading_lead = full_at - leading_at;
  std::printf(
      "alert lead (virtual time): table full at %.1f s (flood from %.1f s); classic 75%% "
      "ratio fired at %.0f s (lead %.1f s); time_to_full<900 for 15s fired at %.0f s "
      "(lead %.1f s)\n",
      full_at, flood_start, classic_at, classic_lead, leading_at, leading_lead);
  EXPECT_LT(classic_lead, 60);
  EXPECT_GE(leading_lead, 60);
}

Sample TinySample() {
  Sample s;
  s.t = 10;
  s.count = 3;
  s.max = 100;
  s.buckets = 64;
  s.has_stats = true;
  s.stats.drop = 7;
  s.stats.early_drop = 2;
  s.has_table = true;
  return s;
}

std::vector<ConnInfo> TinyTable() {
  std::vector<ConnInfo> v(3);
  for (uint32_t i = 0; i < 3; ++i) {
    ConnInfo& c = v[i];
    c = ConnInfo{};
    c.id = i + 1;
    c.orig.l3num = kAfInet;
    c.orig.protonum = i == 2 ? kProtoUdp : kProtoTcp;
    c.orig.src[0] = 10;
    c.orig.src[3] = static_cast<uint8_t>(i == 0 ? 1 : 2);
    c.orig.dst_id = 443;
    c.state = static_cast<uint8_t>(TcpState::kSynSent);
    c.timeout_s = 100;
  }
  v[2].state = 0;
  v[2].orig.zone = 7;
  // A label value that needs escaping cannot come from an address, so check Escape through the
  // parser on the zone label instead: zone 7.
  return v;
}

TEST(Exposition, BothFormatsParseStrictlyAndCarryTheNumbers) {
  Config cfg;
  Watcher w(cfg, 10);
  auto table = TinyTable();
  w.Observe(TinySample(), table);
  ExporterStats ex;
  ex.dumps = 1;
  for (Exposition e : {Exposition::kPrometheus, Exposition::kOpenMetrics}) {
    const bool om = e == Exposition::kOpenMetrics;
    std::string text = RenderMetrics(w.report(), ex, e);
    PromDoc doc;
    ASSERT_EQ(ParsePromText(text, om, &doc), "") << text;
    ASSERT_NE(doc.Find("node_nf_conntrack_entries"), nullptr);
    EXPECT_EQ(doc.Find("node_nf_conntrack_entries")->value, 3);
    EXPECT_EQ(doc.Find("node_nf_conntrack_entries_limit")->value, 100);
    EXPECT_EQ(doc.Find("node_nf_conntrack_stat_drop")->value, 7);
    EXPECT_EQ(doc.Find("ctrack_conntrack_drops_total")->value, 7);
    EXPECT_EQ(doc.Find("ctrack_conntrack_early_drops_total")->value, 2);
    EXPECT_EQ(doc.types.at(om ? "ctrack_conntrack_drops" : "ctrack_conntrack_drops_total"),
              "counter");
    EXPECT_EQ(
        doc.Find("ctrack_conntrack_entries_by_state", {{"protocol", "tcp"}, {"state", "SYN_SENT"}})
            ->value,
        2);
    EXPECT_EQ(
        doc.Find("ctrack_conntrack_entries_by_state", {{"protocol", "udp"}, {"state", "UNREPLIED"}})
            ->value,
        1);
    EXPECT_EQ(doc.Find("ctrack_conntrack_entries_by_zone", {{"zone", "7"}})->value, 1);
    EXPECT_EQ(doc.Find("ctrack_conntrack_top_source_entries", {{"source", "10.0.0.2"}})->value, 2);
    EXPECT_EQ(doc.Find("ctrack_conntrack_top_dport_entries", {{"protocol", "tcp"}, {"port", "443"}})
                  ->value,
              2);
    EXPECT_NE(doc.Find("ctrack_conntrack_time_to_full_seconds"), nullptr);
    EXPECT_EQ(doc.Find("ctrack_conntrack_bucket_depth_mean")->value, 6.0 / 64);
  }
  EXPECT_EQ(Negotiate("application/openmetrics-text; version=1.0.0,text/plain;q=0.5"),
            Exposition::kOpenMetrics);
  EXPECT_EQ(Negotiate("text/plain"), Exposition::kPrometheus);
}

// The top tables keep at most K rows whatever the number of sources (the label cardinality cap),
// and the rest is summed under "other".
TEST(Exposition, TopsAreCapped) {
  Config cfg;
  Watcher w(cfg, 5);
  std::vector<ConnInfo> v(1000);
  for (uint32_t i = 0; i < v.size(); ++i) {
    v[i] = ConnInfo{};
    v[i].id = i;
    v[i].orig.l3num = kAfInet;
    v[i].orig.protonum = kProtoUdp;
    v[i].orig.src[0] = 10;
    v[i].orig.src[2] = static_cast<uint8_t>(i >> 8);
    v[i].orig.src[3] = static_cast<uint8_t>(i);
    v[i].orig.dst_id = static_cast<uint16_t>(i);
    v[i].timeout_s = 20;
  }
  Sample s = TinySample();
  s.count = 1000;
  s.max = 2000;
  w.Observe(s, v);
  PromDoc doc;
  ASSERT_EQ(ParsePromText(RenderMetrics(w.report(), {}, Exposition::kPrometheus), false, &doc), "");
  int sources = 0, ports = 0;
  for (const auto& smp : doc.samples) {
    sources += smp.name == "ctrack_conntrack_top_source_entries";
    ports += smp.name == "ctrack_conntrack_top_dport_entries";
  }
  EXPECT_EQ(sources, 6);  // 5 + other
  EXPECT_EQ(ports, 6);
  EXPECT_EQ(doc.Find("ctrack_conntrack_top_source_entries", {{"source", "other"}})->value, 995);
}

// The parser used above must be able to fail: malformed expositions it has to refuse.
TEST(Exposition, StrictParserRefusesMalformedText) {
  PromDoc d;
  const char* bad[] = {
      "x 1\n",                                            // no TYPE
      "# TYPE x gauge\nx{a=\"1} 1\n",                     // unterminated value
      "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",     // duplicate series
      "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx 2\n",  // interleaved
      "# TYPE x gauge\nx one\n",                          // bad value
      "# TYPE x_total counter\nx_total 1",                // no final newline
      "# TYPE c counter\nc 1\n",                          // counter without _total
      "# TYPE x gauge\nx{1a=\"v\"} 1\n",                  // bad label name
      "# TYPE x gauge\nx{a=\"\\q\"} 1\n",                 // bad escape
  };
  for (const char* b : bad) EXPECT_NE(ParsePromText(b, false, &d), "") << b;
  EXPECT_NE(ParsePromText("# TYPE x gauge\nx 1\n", true, &d), "");  // OpenMetrics: no EOF
  EXPECT_NE(ParsePromText("# TYPE c_total counter\nc_total 1\n# EOF\n", true, &d), "");
  EXPECT_EQ(ParsePromText("# TYPE c counter\nc_total 1\n# EOF\n", true, &d), "");
  EXPECT_EQ(ParsePromText("# HELP x h\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} +Inf\n", false, &d),
            "");
  EXPECT_EQ(d.samples.at(0).labels.at("a"), "q\"\\\n");
}

// Event counting on crafted netlink buffers: NEW with NLM_F_CREATE, DELETE, and a message whose
// length runs past the buffer (counted malformed, walk stopped).
TEST(Events, CountsNewDestroyAndMalformed) {
  std::vector<uint8_t> buf;
  auto put = [&](uint16_t type, uint16_t flags, uint32_t len_field) {
    size_t off = buf.size();
    buf.resize(off + NLMSG_ALIGN(NLMSG_LENGTH(sizeof(nfgenmsg))), 0);
    nlmsghdr h{};
    h.nlmsg_len = len_field;
    h.nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type);
    h.nlmsg_flags = flags;
    std::memcpy(buf.data() + off, &h, sizeof h);
  };
  const uint32_t ok = NLMSG_LENGTH(sizeof(nfgenmsg));
  put(IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, ok);
  put(IPCTNL_MSG_CT_NEW, 0, ok);  // an update, not a new entry
  put(IPCTNL_MSG_CT_DELETE, 0, ok);
  put(IPCTNL_MSG_CT_NEW, NLM_F_CREATE, ok);
  put(IPCTNL_MSG_CT_DELETE, 0, 4096);  // claims more than the buffer holds
  EventTotals t;
  CountEventMessages(buf.data(), buf.size(), &t);
  EXPECT_EQ(t.new_events, 2u);
  EXPECT_EQ(t.destroy_events, 1u);
  EXPECT_EQ(t.malformed, 1u);
  // Every prefix of the buffer is handled without reading past it.
  for (size_t n = 0; n <= buf.size(); ++n) {
    std::vector<uint8_t> cut(buf.begin(), buf.begin() + static_cast<long>(n));
    EventTotals u;
    CountEventMessages(cut.data(), cut.size(), &u);
    EXPECT_LE(u.new_events, 2u);
  }
}

// Runs a shell command; returns its exit status (-1 when it could not run) and its output.
int RunShell(const std::string& cmd, std::string* out) {
  out->clear();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char b[4096];
  size_t n;
  while ((n = fread(b, 1, sizeof b, p)) > 0) out->append(b, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const std::string kDeploy = CTRACK_SOURCE_DIR "/deploy/";

TEST(Deploy, RulesFilePassesPromtool) {
  std::string out;
  if (RunShell("command -v promtool", &out) != 0)
    GTEST_SKIP() << "promtool not installed (CTRACK_WITH_PROMETHEUS=1 scripts/deps.sh)";
  EXPECT_EQ(RunShell("promtool check rules " + kDeploy + "prometheus-rules.yml", &out), 0) << out;
}

// Without promtool: the rules file as YAML (python3-yaml), both alerts present with the
// expressions the lead-time test evaluates.
TEST(Deploy, RulesFileParsesWithBothAlerts) {
  std::string out;
  int rc = RunShell(
      "/usr/bin/python3 -c 'import sys,yaml; d=yaml.safe_load(open(sys.argv[1])); "
      "r=[x for g in d[\"groups\"] for x in g[\"rules\"]]; "
      "print(\"\\n\".join(x[\"alert\"]+\"|\"+x[\"expr\"]+\"|\"+str(x.get(\"for\",\"\")) for x in "
      "r))' " +
          kDeploy + "prometheus-rules.yml",
      &out);
  if (rc != 0 && out.find("No module named 'yaml'") != std::string::npos)
    GTEST_SKIP() << "python3-yaml not installed";
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ConntrackTableFillingUp|ctrack_conntrack_time_to_full_seconds < 900|15s"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("NodeHighNumberConntrackEntriesUsed|(node_nf_conntrack_entries / "
                     "node_nf_conntrack_entries_limit) > 0.75|"),
            std::string::npos)
      << out;
}

TEST(Deploy, DaemonSetIsValidYamlWithOnlyNetAdmin) {
  std::string out;
  int rc = RunShell(
      "/usr/bin/python3 -c 'import sys,yaml; d=yaml.safe_load(open(sys.argv[1])); "
      "s=d[\"spec\"][\"template\"][\"spec\"]; c=s[\"containers\"][0]; "
      "sc=c[\"securityContext\"]; "
      "print(d[\"kind\"], s[\"hostNetwork\"], sc[\"capabilities\"][\"add\"], "
      "sc[\"capabilities\"][\"drop\"], sc.get(\"privileged\", False), "
      "c[\"ports\"][0][\"containerPort\"], c[\"args\"][0])' " +
          kDeploy + "daemonset.yaml",
      &out);
  if (rc != 0 && out.find("No module named 'yaml'") != std::string::npos)
    GTEST_SKIP() << "python3-yaml not installed";
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "DaemonSet True ['NET_ADMIN'] ['ALL'] False 9934 exporter\n");
}

// UDP classes follow the status bits: replied but not yet ASSURED is its own class (the class
// numbers differ from the Status bit values, which once made SEEN_REPLY read as ASSURED).
TEST(ForecastClass, UdpClassesFollowStatusBits) {
  ConnInfo ci{};
  ci.orig.protonum = kProtoUdp;
  ci.status = kConfirmed;
  EXPECT_EQ(watch::ClassOf(ci).state, watch::kClassUnreplied);
  ci.status = kConfirmed | kSeenReply;
  EXPECT_EQ(watch::ClassOf(ci).state, watch::kClassReplied);
  ci.status = kConfirmed | kSeenReply | kAssured;
  EXPECT_EQ(watch::ClassOf(ci).state, watch::kClassAssured);
}

}  // namespace
}  // namespace ctrack::watch
