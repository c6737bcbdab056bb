// Snapshots: the JSON-lines writer and reader round trip, the importers of pasted kernel text
// (the listings below were printed by Linux 6.18 and conntrack-tools 1.4.7 in a test namespace),
// their errors, and Conntrack::Import including NAT entries matched by their real reply tuple.
#include "format/snapshot.h"

#include <arpa/inet.h>
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "testing/cli_runner.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using ::ctrack::testing::PacketBuilder;

Tuple T4(const char* src, const char* dst, uint8_t proto, uint16_t sid, uint16_t did,
         uint16_t zone = 0) {
  Tuple t{};
  t.l3num = kAfInet;
  t.protonum = proto;
  t.zone = zone;
  t.src_id = sid;
  t.dst_id = did;
  EXPECT_EQ(inet_pton(AF_INET, src, t.src), 1);
  EXPECT_EQ(inet_pton(AF_INET, dst, t.dst), 1);
  return t;
}

ConnInfo Entry(const Tuple& orig, const Tuple& reply, uint16_t status, uint8_t state,
               int64_t timeout) {
  ConnInfo ci{};
  ci.orig = orig;
  ci.reply = reply;
  ci.status = status;
  ci.state = state;
  ci.timeout_s = timeout;
  return ci;
}

Tuple Inv(const Tuple& t) {
  Tuple r;
  EXPECT_TRUE(InvertTuple(t, &r));
  return r;
}

void ExpectSame(const ConnInfo& a, const ConnInfo& b) {
  EXPECT_EQ(a.orig, b.orig);
  EXPECT_EQ(a.reply, b.reply);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.timeout_s, b.timeout_s);
  EXPECT_EQ(a.mark, b.mark);
  EXPECT_EQ(a.has_acct, b.has_acct);
  for (int d = 0; d < 2; ++d) {
    EXPECT_EQ(a.packets[d], b.packets[d]);
    EXPECT_EQ(a.bytes[d], b.bytes[d]);
    EXPECT_EQ(a.tcp_wscale[d], b.tcp_wscale[d]);
    EXPECT_EQ(a.tcp_flags[d], b.tcp_flags[d]);
  }
  EXPECT_EQ(a.gre_timeout_s, b.gre_timeout_s);
  EXPECT_EQ(a.gre_stream_timeout_s, b.gre_stream_timeout_s);
}

std::vector<SnapshotEntry> SampleEntries() {
  std::vector<SnapshotEntry> v;
  // A Kubernetes Service connection: DNAT to a pod, reply from the pod.
  Tuple o = T4("10.0.0.5", "10.96.0.10", kProtoTcp, 40000, 443, 7);
  Tuple r = T4("10.244.1.7", "10.0.0.5", kProtoTcp, 8443, 40000, 7);
  SnapshotEntry e;
  e.ci = Entry(o, r, kSeenReply | kAssured | kConfirmed | kDstNat | kDstNatDone,
               static_cast<uint8_t>(TcpState::kEstablished), 431999);
  e.ci.mark = 0x10;
  e.ci.tcp_wscale[0] = 7;
  e.ci.tcp_wscale[1] = 9;
  e.ci.tcp_flags[0] = kTcpWindowScale | kTcpSackPerm | kTcpMaxackSet;
  e.ci.tcp_flags[1] = kTcpWindowScale | kTcpSackPerm;
  e.ci.has_acct = true;
  e.ci.packets[0] = 10;
  e.ci.packets[1] = 8;
  e.ci.bytes[0] = 900;
  e.ci.bytes[1] = 1ull << 40;
  e.ci.id = 3141592653u;
  e.has_id = true;
  e.has_timestamp = true;
  e.start_ns = 1764613100123456789;
  e.use = 1;
  e.helper = "ftp";
  e.labels = "a\"b\\c\x01";
  v.push_back(e);
  // IPv6 UDP, unreplied.
  SnapshotEntry u;
  Tuple o6{};
  o6.l3num = kAfInet6;
  o6.protonum = kProtoUdp;
  inet_pton(AF_INET6, "2001:db8::1", o6.src);
  inet_pton(AF_INET6, "2001:db8::53", o6.dst);
  o6.src_id = 5353;
  o6.dst_id = 53;
  u.ci = Entry(o6, Inv(o6), kConfirmed, 0, 29);
  v.push_back(u);
  // ICMP echo.
  SnapshotEntry i;
  Tuple oi = T4("192.0.2.1", "192.0.2.2", kProtoIcmp, 77, 8 << 8);
  i.ci = Entry(oi, Inv(oi), kConfirmed | kSeenReply, 0, 25);
  v.push_back(i);
  // GRE with its own timeouts, SCTP with a state, a generic protocol.
  SnapshotEntry g;
  Tuple og = T4("198.51.100.1", "198.51.100.2", kProtoGre, 0x1234, 0xabcd);
  g.ci = Entry(og, Inv(og), kConfirmed, 0, 170);
  g.ci.gre_timeout_s = 30;
  g.ci.gre_stream_timeout_s = 180;
  v.push_back(g);
  SnapshotEntry s;
  Tuple os = T4("203.0.113.1", "203.0.113.2", kProtoSctp, 2905, 2905);
  s.ci = Entry(os, Inv(os), kConfirmed | kSeenReply | kAssured, 4, 200);
  v.push_back(s);
  SnapshotEntry x;
  Tuple ox = T4("203.0.113.1", "203.0.113.9", 50, 0, 0);
  x.ci = Entry(ox, Inv(ox), kConfirmed, 0, 599);
  v.push_back(x);
  return v;
}

SnapshotHeader SampleHeader() {
  SnapshotHeader h;
  h.source = "ctnetlink";
  h.kernel = "6.18.44";
  h.host = "node \"1\"";
  h.time_ns = 1764613200000000000;
  Config cfg;
  cfg.nf_conntrack_tcp_timeout_established = 3600;
  SysctlsFromConfig(cfg, &h);
  h.sysctls.emplace_back("nf_conntrack_helper", "0");
  h.count = 6;
  h.has_stats = true;
  for (uint32_t c = 0; c < 2; ++c) {
    SnapshotCpuStats cs;
    cs.cpu = c;
    cs.stats.invalid = 3 + c;
    cs.stats.early_drop = 10 * c;
    cs.entries = 6;
    h.per_cpu.push_back(cs);
  }
  h.total.invalid = 7;
  h.total.early_drop = 10;
  return h;
}

TEST(Snapshot, JsonLinesRoundTrip) {
  SnapshotHeader h = SampleHeader();
  std::vector<SnapshotEntry> entries = SampleEntries();
  std::string text = FormatSnapshotHeader(h) + "\n";
  for (const SnapshotEntry& e : entries) text += FormatSnapshotEntry(e) + "\n";
  text += FormatSnapshotTrailer(entries.size()) + "\n";

  Snapshot s;
  ASSERT_EQ(ReadSnapshotText(text, "t.jsonl", &s), "");
  EXPECT_EQ(s.header.source, h.source);
  EXPECT_EQ(s.header.kernel, h.kernel);
  EXPECT_EQ(s.header.host, h.host);
  EXPECT_EQ(s.header.time_ns, h.time_ns);
  EXPECT_EQ(s.header.buckets, h.buckets);
  EXPECT_EQ(s.header.count, 6);
  EXPECT_EQ(s.header.sysctls, h.sysctls);
  ASSERT_EQ(s.header.per_cpu.size(), 2u);
  EXPECT_EQ(s.header.per_cpu[1].stats.invalid, 4u);
  EXPECT_EQ(s.header.per_cpu[1].stats.early_drop, 10u);
  EXPECT_EQ(s.header.total.invalid, 7u);
  ASSERT_EQ(s.entries.size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectSame(s.entries[i].ci, entries[i].ci);
  }
  EXPECT_TRUE(s.entries[0].has_id);
  EXPECT_EQ(s.entries[0].ci.id, 3141592653u);
  EXPECT_EQ(s.entries[0].start_ns, 1764613100123456789);
  EXPECT_EQ(s.entries[0].helper, "ftp");
  EXPECT_EQ(s.entries[0].labels, "a\"b\\c\x01");

  // The settings apply to a Config; names the engine does not model are skipped.
  Config cfg;
  EXPECT_EQ(ApplySysctls(s.header, &cfg), "");
  EXPECT_EQ(cfg.nf_conntrack_tcp_timeout_established, 3600u);
}

TEST(Snapshot, WriterLeavesNoPartialFile) {
  std::filesystem::path dir = testing::ScratchDir() / "snapwriter";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "s.jsonl").string();
  std::filesystem::remove(path);
  {
    SnapshotWriter w;
    ASSERT_EQ(w.Open(path), "");
    w.WriteHeader(SampleHeader());
    w.WriteEntry(SampleEntries()[0]);
    EXPECT_FALSE(std::filesystem::exists(path));
    // Destroyed without Finish(): an interrupted dump.
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  SnapshotWriter w;
  ASSERT_EQ(w.Open(path), "");
  w.WriteHeader(SampleHeader());
  for (const SnapshotEntry& e : SampleEntries()) w.WriteEntry(e);
  ASSERT_EQ(w.Finish(), "");
  Snapshot s;
  ASSERT_EQ(ReadSnapshotFile(path, &s), "");
  EXPECT_EQ(s.entries.size(), SampleEntries().size());
  EXPECT_NE(SnapshotWriter().Open((dir / "missing" / "x").string()), "");
}

// Printed by `conntrack -L -o extended,id,ktimestamp` (conntrack-tools 1.4.7, Linux 6.18) with
// nf_conntrack_acct and nf_conntrack_timestamp on.
constexpr const char* kExtendedIdTs =
    "ipv6     10 udp      17 29 src=::1 dst=::1 sport=57722 dport=5002 packets=1 bytes=49 "
    "[UNREPLIED] src=::1 dst=::1 sport=5002 dport=57722 packets=0 bytes=0 mark=0 delta-time=1 "
    "[start=Tue Dec  1 19:35:42 2026] use=1 id=2856549465\n"
    "ipv4     2 tcp      6 119 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=40592 dport=6000 "
    "packets=5 bytes=270 src=127.0.0.1 dst=127.0.0.1 sport=6000 dport=40592 packets=3 bytes=164 "
    "[ASSURED] mark=0 delta-time=1 [start=Tue Dec  1 19:35:42 2026] use=1 id=1642204323\n";

TEST(Snapshot, ImportsConntrackExtendedWithIdAndTimestamp) {
  Snapshot s;
  ASSERT_EQ(ReadSnapshotText(kExtendedIdTs, "paste", &s), "");
  ASSERT_EQ(s.entries.size(), 2u);
  const SnapshotEntry& u = s.entries[0];
  EXPECT_EQ(u.ci.orig.l3num, kAfInet6);
  EXPECT_EQ(u.ci.orig.protonum, kProtoUdp);
  EXPECT_EQ(u.ci.orig.src_id, 57722);
  EXPECT_EQ(u.ci.orig.dst_id, 5002);
  EXPECT_EQ(u.ci.reply, Inv(u.ci.orig));
  EXPECT_EQ(u.ci.timeout_s, 29);
  EXPECT_EQ(u.ci.status, kConfirmed);
  EXPECT_TRUE(u.ci.has_acct);
  EXPECT_EQ(u.ci.bytes[0], 49u);
  EXPECT_EQ(u.ci.id, 2856549465u);
  EXPECT_TRUE(u.has_timestamp);
  EXPECT_GT(u.start_ns, 0);
  const SnapshotEntry& t = s.entries[1];
  EXPECT_EQ(t.ci.state, static_cast<uint8_t>(TcpState::kTimeWait));
  EXPECT_EQ(t.ci.status, kConfirmed | kSeenReply | kAssured);
  EXPECT_EQ(t.ci.packets[1], 3u);
  EXPECT_EQ(t.ci.id, 1642204323u);
}

// A [start=...] time before 1970 or past April 2262 is refused with the line's error; a year far
// before 1970 used to overflow the nanosecond count (found by the snapshot fuzz target).
TEST(Snapshot, RefusesTimestampOutOfRange) {
  const std::string head =
      "ipv4     2 udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=33724 dport=5000 [UNREPLIED] "
      "src=127.0.0.1 dst=127.0.0.1 sport=5000 dport=33724 mark=0 ";
  for (const char* year : {"0021", "1969", "2263", "9999"}) {
    Snapshot s;
    std::string e =
        ReadSnapshotText(head + "[start=Tue Dec  1 19:35:42 " + year + "] use=1\n", "paste", &s);
    EXPECT_NE(e.find("bad time"), std::string::npos) << year << ": " << e;
  }
  Snapshot ok;
  EXPECT_EQ(ReadSnapshotText(head + "[start=Tue Dec  1 19:35:42 2261] use=1\n", "paste", &ok), "");
}

TEST(Snapshot, ImportsDefaultListingProcAndNat) {
  // `conntrack -L` without the l3 columns; /proc/net/nf_conntrack with full IPv6 and zone.
  const std::string text =
      "udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=33724 dport=5000 [UNREPLIED] "
      "src=127.0.0.1 dst=127.0.0.1 sport=5000 dport=33724 mark=0 use=1\n"
      "ipv6     10 udp      17 28 src=0000:0000:0000:0000:0000:0000:0000:0001 "
      "dst=0000:0000:0000:0000:0000:0000:0000:0001 sport=57722 dport=5002 [UNREPLIED] "
      "src=0000:0000:0000:0000:0000:0000:0000:0001 dst=0000:0000:0000:0000:0000:0000:0000:0001 "
      "sport=5002 dport=57722 mark=0 zone=3 use=2\n"
      "ipv4     2 tcp      6 431990 ESTABLISHED src=10.0.0.5 dst=10.96.0.10 sport=40000 "
      "dport=443 src=10.244.1.7 dst=10.0.0.5 sport=8443 dport=40000 [ASSURED] mark=0 use=1\n"
      "ipv4     2 icmp     1 25 src=10.0.0.5 dst=10.0.0.1 type=8 code=0 id=77 src=10.0.0.1 "
      "dst=10.0.0.5 type=0 code=0 id=77 mark=0 use=1 id=99\n"
      "ipv4     2 gre      47 170 timeout=30, stream_timeout=180 src=198.51.100.1 "
      "dst=198.51.100.2 srckey=0x1234 dstkey=0xabcd src=198.51.100.2 dst=198.51.100.1 "
      "srckey=0xabcd dstkey=0x1234 mark=0 zone=0 use=2\n"
      "conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.\n";
  Snapshot s;
  ASSERT_EQ(ReadSnapshotText(text, "paste", &s), "");
  ASSERT_EQ(s.entries.size(), 5u);
  EXPECT_EQ(s.entries[0].ci.orig.l3num, kAfInet);
  EXPECT_EQ(s.entries[1].ci.orig.zone, 3);
  EXPECT_EQ(s.entries[1].ci.reply.zone, 3);
  uint8_t one[16] = {};
  one[15] = 1;
  EXPECT_EQ(std::memcmp(s.entries[1].ci.orig.src, one, 16), 0);
  const ConnInfo& nat = s.entries[2].ci;
  EXPECT_EQ(nat.reply, T4("10.244.1.7", "10.0.0.5", kProtoTcp, 8443, 40000));
  EXPECT_EQ(nat.status & (kDstNat | kSrcNat), kDstNat);
  const ConnInfo& icmp = s.entries[3].ci;
  EXPECT_EQ(icmp.orig.src_id, 77);
  EXPECT_EQ(icmp.orig.icmp_type(), 8);
  EXPECT_EQ(icmp.reply.icmp_type(), 0);
  EXPECT_EQ(icmp.id, 99u);
  EXPECT_EQ(s.entries[4].ci.gre_stream_timeout_s, 180u);
  EXPECT_EQ(s.entries[4].ci.orig.src_id, 0x1234);
}

TEST(Snapshot, ImportsCountersAndSysctls) {
  // `conntrack -S`, then /proc/net/stat/nf_conntrack would be a second form: one per file.
  Snapshot s;
  ASSERT_EQ(ReadSnapshotText("cpu=0   \tfound=1 invalid=3 insert=0 insert_failed=2 drop=5 "
                             "early_drop=7 error=0 search_restart=4 clash_resolve=0 "
                             "chaintoolong=0 \n"
                             "cpu=1   \tfound=0 invalid=4 insert=0 insert_failed=0 drop=1 "
                             "early_drop=0 error=2 search_restart=0 clash_resolve=6 "
                             "chaintoolong=0 \n"
                             "net.netfilter.nf_conntrack_max = 1024\n"
                             "net.netfilter.nf_conntrack_buckets = 256\n"
                             "net.netfilter.nf_conntrack_count = 17\n",
                             "s", &s),
            "");
  ASSERT_EQ(s.header.per_cpu.size(), 2u);
  EXPECT_TRUE(s.header.has_stats);
  EXPECT_EQ(s.header.total.invalid, 7u);
  EXPECT_EQ(s.header.total.drop, 6u);
  EXPECT_EQ(s.header.total.clash_resolve, 6u);
  EXPECT_EQ(s.header.per_cpu[1].stats.error, 2u);
  EXPECT_EQ(s.header.buckets, 256u);
  EXPECT_EQ(s.header.count, 17);
  Config cfg;
  EXPECT_EQ(ApplySysctls(s.header, &cfg), "");
  EXPECT_EQ(cfg.nf_conntrack_max, 1024u);
  EXPECT_EQ(cfg.nf_conntrack_buckets, 256u);

  Snapshot p;
  ASSERT_EQ(
      ReadSnapshotText(
          "entries  clashres found new invalid ignore delete chainlength insert insert_failed "
          "drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
          "00000004  00000000 00000000 00000000 0000001a 00000000 00000000 00000000 00000000 "
          "00000000 00000003 000000ff 00000000  00000000 00000000 00000000 00000000\n"
          "00000004  00000001 00000000 00000000 00000001 00000000 00000000 00000000 00000000 "
          "00000000 00000000 00000001 00000000  00000000 00000000 00000000 00000000\n",
          "p", &p),
      "");
  ASSERT_EQ(p.header.per_cpu.size(), 2u);
  EXPECT_EQ(p.header.per_cpu[0].stats.invalid, 26u);
  EXPECT_EQ(p.header.total.early_drop, 256u);
  EXPECT_EQ(p.header.total.drop, 3u);
  EXPECT_EQ(p.header.total.clash_resolve, 1u);
  EXPECT_EQ(p.header.count, 4);
}

TEST(Snapshot, MalformedInputNamesFileAndLine) {
  struct Case {
    std::string text, want;
  } cases[] = {
      {"tcp 6 12x ESTABLISHED src=1.2.3.4 dst=1.2.3.5 sport=1 dport=2 src=1.2.3.5 dst=1.2.3.4 "
       "sport=2 dport=1\n",
       "f:1: bad timeout '12x'"},
      {"\nudp 17 5 src=1.2.3.4 dst=1.2.3.5 sport=1 dport=2\n", "f:2: expected two tuples"},
      {"tcp 6 5 BOGUS src=1.2.3.4 dst=1.2.3.5 sport=1 dport=2 src=1.2.3.5 dst=1.2.3.4 sport=2 "
       "dport=1\n",
       "f:1: bad or missing state 'BOGUS'"},
      {"udp 17 5 src=1.2.3.400 dst=1.2.3.5 sport=1 dport=2 src=1.2.3.5 dst=1.2.3.4 sport=2 "
       "dport=1\n",
       "f:1: bad address '1.2.3.400'"},
      {"udp 17 5 src=1.2.3.4 dst=1.2.3.5 sport=70000 dport=2 src=1.2.3.5 dst=1.2.3.4 sport=2 "
       "dport=1\n",
       "f:1: bad value in 'sport=70000'"},
      {"udp 17 5 src=1.2.3.4 dst=1.2.3.5 sport=1 dport=2 [UNREPLIED src=1.2.3.5\n",
       "f:1: unclosed '['"},
      {"{\"ctrack_snapshot\":1}\n{\"l3\":\"ipv4\"}\n", "f:2: missing \"protonum\""},
      {"{\"ctrack_snapshot\":1}\n", "f:1: snapshot ends without its end line"},
      {"{\"ctrack_snapshot\":1}\n{\"ctrack_snapshot_end\":3}\n",
       "f:2: end line counts 3 entries, the file has 0"},
      {"{\"ctrack_snapshot\":2}\n", "f:1: snapshot format version 2 is not supported"},
      {"{\"ctrack_snapshot\":1,\n", "f:1: expected a key"},
      {"cpu=0 found=x\n", "f:1: bad value in 'found=x'"},
      {"entries found\n0000000a\n", "f:2: expected 2 hex columns, found 1"},
      {"", "f: no conntrack entries, counters or settings found"},
  };
  for (const Case& c : cases) {
    Snapshot s;
    std::string err = ReadSnapshotText(c.text, "f", &s);
    EXPECT_EQ(err.substr(0, c.want.size()), c.want) << "input: " << c.text;
    EXPECT_EQ(err.find('\n'), std::string::npos) << "one line: " << err;
  }
}

TEST(Snapshot, CliRefusesMalformedDumpWithoutOutput) {
  std::filesystem::path dir = testing::ScratchDir() / "snapcli";
  std::filesystem::create_directories(dir);
  std::string in = (dir / "bad.txt").string(), out = (dir / "final.txt").string();
  std::ofstream(in) << "udp 17 5 src=1.2.3.4 dst=1.2.3.5 sport=1 dport=2 src=1.2.3.5 "
                       "dst=1.2.3.4 sport=2 dport=1\nudp 17 5 src=1.2.3.4 garbage\n";
  std::filesystem::remove(out);
  testing::RunResult r =
      testing::RunCtrack("simulate -q --from-snapshot " + testing::ShellQuote(in) +
                         " --final-table " + testing::ShellQuote(out));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ctrack simulate: " + in + ":2: unexpected field 'garbage'\n");
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(std::filesystem::exists(out));
}

// --- Conntrack::Import ----------------------------------------------------------------------

constexpr Timestamp kSec = kNsPerSec;

TEST(SnapshotImport, NatEntryIsMatchedByItsRealReplyTuple) {
  Config cfg;
  Conntrack ct(cfg);
  // Client 10.0.0.5:40000 -> Service 10.96.0.10:53, DNAT to pod 10.244.1.7:5353.
  Tuple o = T4("10.0.0.5", "10.96.0.10", kProtoUdp, 40000, 53);
  Tuple r = T4("10.244.1.7", "10.0.0.5", kProtoUdp, 5353, 40000);
  ConnInfo ci = Entry(o, r, kConfirmed | kSeenReply | kDstNat | kDstNatDone, 0, 25);
  ASSERT_EQ(ct.Import(ci, 100 * kSec), Conntrack::ImportResult::kOk);
  EXPECT_EQ(ct.count(), 1u);

  // The pod's answer (the real reply tuple) belongs to the entry, in the reply direction.
  auto reply = PacketBuilder().Ipv4("10.244.1.7", "10.0.0.5").Udp(5353, 40000).Build();
  PacketResult pr = ct.ProcessIp(reply.data(), static_cast<uint32_t>(reply.size()), 101 * kSec);
  EXPECT_EQ(pr.verdict, Verdict::kEstablished);
  EXPECT_EQ(pr.dir, Dir::kReply);
  EXPECT_EQ(ct.count(), 1u);
  // The client's next query: original direction of the same entry.
  auto query = PacketBuilder().Ipv4("10.0.0.5", "10.96.0.10").Udp(40000, 53).Build();
  pr = ct.ProcessIp(query.data(), static_cast<uint32_t>(query.size()), 102 * kSec);
  EXPECT_EQ(pr.verdict, Verdict::kEstablished);
  EXPECT_EQ(pr.dir, Dir::kOriginal);
  // An answer from the Service address (the inverse of the original) is not this entry's.
  auto fake = PacketBuilder().Ipv4("10.96.0.10", "10.0.0.5").Udp(53, 40000).Build();
  pr = ct.ProcessIp(fake.data(), static_cast<uint32_t>(fake.size()), 103 * kSec);
  EXPECT_EQ(pr.verdict, Verdict::kNew);
  EXPECT_EQ(ct.count(), 2u);

  // Listings print the stored reply tuple.
  bool seen = false;
  ct.ForEach(103 * kSec, [&](const ConnInfo& e) {
    if (e.orig == o) {
      seen = true;
      EXPECT_EQ(e.reply, r);
      EXPECT_TRUE(e.status & kAssured);  // replied and refreshed after the stream delay
    }
  });
  EXPECT_TRUE(seen);
}

TEST(SnapshotImport, RemainingTimeoutClashAndTableFull) {
  Config cfg;
  cfg.nf_conntrack_max = 2;
  cfg.nf_conntrack_buckets = 16;
  Conntrack ct(cfg);
  Tuple a = T4("192.0.2.1", "192.0.2.2", kProtoTcp, 1000, 80);
  Tuple b = T4("192.0.2.1", "192.0.2.2", kProtoTcp, 1001, 80);
  Tuple c = T4("192.0.2.1", "192.0.2.2", kProtoTcp, 1002, 80);
  uint16_t assured = kConfirmed | kSeenReply | kAssured;
  uint8_t est = static_cast<uint8_t>(TcpState::kEstablished);
  ASSERT_EQ(ct.Import(Entry(a, Inv(a), assured, est, 10), 0), Conntrack::ImportResult::kOk);
  EXPECT_EQ(ct.Import(Entry(a, Inv(a), assured, est, 10), 0), Conntrack::ImportResult::kExists);
  // The inverse as an original tuple clashes with the reply node.
  EXPECT_EQ(ct.Import(Entry(Inv(a), a, assured, est, 10), 0), Conntrack::ImportResult::kExists);
  ASSERT_EQ(ct.Import(Entry(b, Inv(b), assured, est, 20), 0), Conntrack::ImportResult::kOk);
  // Full of ASSURED entries: early drop finds nothing.
  EXPECT_EQ(ct.Import(Entry(c, Inv(c), assured, est, 5), 0), Conntrack::ImportResult::kTableFull);
  EXPECT_EQ(ct.count(), 2u);
  // Bad input.
  Tuple bad = a;
  bad.l3num = 3;
  EXPECT_EQ(ct.Import(Entry(bad, Inv(a), assured, est, 5), 0), Conntrack::ImportResult::kInvalid);
  EXPECT_EQ(ct.Import(Entry(c, Inv(c), assured, 42, 5), 0), Conntrack::ImportResult::kInvalid);

  // a leaves after 10 s, b after 20 s.
  auto live = [&](Timestamp now) {
    int n = 0;
    ct.ForEach(now, [&](const ConnInfo&) { ++n; });
    return n;
  };
  EXPECT_EQ(live(10 * kSec - 1), 2);
  EXPECT_EQ(live(10 * kSec), 1);
  EXPECT_EQ(live(20 * kSec), 0);
  ct.ExpireAll(20 * kSec);
  EXPECT_EQ(ct.count(), 0u);
  // Room again; a non-ASSURED entry can then be early-dropped by a later import.
  ASSERT_EQ(ct.Import(Entry(a, Inv(a), kConfirmed, 1, 100), 21 * kSec),
            Conntrack::ImportResult::kOk);
  ASSERT_EQ(ct.Import(Entry(b, Inv(b), assured, est, 100), 21 * kSec),
            Conntrack::ImportResult::kOk);
  EXPECT_EQ(ct.Import(Entry(c, Inv(c), assured, est, 100), 21 * kSec),
            Conntrack::ImportResult::kOk);
  EXPECT_EQ(ct.stats().early_drop, 1u);
  EXPECT_EQ(ct.count(), 2u);
}

TEST(SnapshotImport, StoredReplySlotsAreReleased) {
  Config cfg;
  Conntrack ct(cfg);
  // Many NAT entries in and out: lookups by the stored reply keep working after slot reuse.
  for (int round = 0; round < 3; ++round) {
    Timestamp now = round * 1000 * kSec;
    for (uint16_t i = 0; i < 200; ++i) {
      Tuple o = T4("10.0.0.5", "10.96.0.10", kProtoUdp, static_cast<uint16_t>(20000 + i), 53);
      Tuple r = T4("10.244.1.7", "10.0.0.5", kProtoUdp, static_cast<uint16_t>(5000 + round),
                   static_cast<uint16_t>(20000 + i));
      ASSERT_EQ(ct.Import(Entry(o, r, kConfirmed | kSeenReply, 0, 30), now),
                Conntrack::ImportResult::kOk);
    }
    auto reply = PacketBuilder()
                     .Ipv4("10.244.1.7", "10.0.0.5")
                     .Udp(static_cast<uint16_t>(5000 + round), 20123)
                     .Build();
    PacketResult pr = ct.ProcessIp(reply.data(), static_cast<uint32_t>(reply.size()), now + kSec);
    EXPECT_EQ(pr.verdict, Verdict::kEstablished);
    EXPECT_EQ(pr.dir, Dir::kReply);
    ct.ExpireAll(now + 999 * kSec);
    EXPECT_EQ(ct.count(), 0u);
  }
}

}  // namespace
}  // namespace ctrack
