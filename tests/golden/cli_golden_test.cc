// Golden tests of the `ctrack` CLI: MANIFEST lists `name<TAB>input<TAB>expected<TAB>flags`; the
// input is a capture generated here with PacketBuilder/WritePcap (by name, see kInputs), and the
// stdout of `ctrack replay -q FLAGS INPUT` (plus the --verdicts file, when the flags name
// `@VERDICTS@`) must equal expected/<file> byte for byte. scripts/update-golden.sh rewrites the
// expected files (CTRACK_UPDATE_GOLDEN=1); review the diff before committing.
//
// Also: CLI error cases (exit status, one-line message, no partial --verdicts file left behind).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "io/capture.h"
#include "testing/cli_runner.h"
#include "testing/packet_builder.h"

namespace ctrack::testing {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = fs::path(__FILE__).parent_path();
constexpr int64_t kT0 = 1700000000LL * 1000000000LL;  // capture start (ns)
constexpr int64_t kMs = 1000000;

// --- inputs -------------------------------------------------------------------------------

struct Capture {
  uint32_t linktype;
  std::vector<PcapRecord> recs;
};

void Add(Capture* c, int64_t at_ms, const PacketBuilder& p) {
  c->recs.push_back({kT0 + at_ms * kMs, p.BuildEthernet(), 0});
}

// One of each kind of entry: a closed TCP connection, an open one, a SYN without answer, UDP
// both ways and one way, ICMP echo, IPv6 UDP and ICMPv6, GRE, a generic protocol, an ARP frame.
Capture MixedInput() {
  Capture c{1, {}};
  const std::string a = "10.0.0.1", b = "10.0.0.2";
  // TCP 40000 -> 80: handshake, data, FIN both ways.
  PacketBuilder t = PacketBuilder().Ipv4(a, b).Tcp(40000, 80).Win(64240);
  PacketBuilder u = PacketBuilder().Ipv4(b, a).Tcp(80, 40000).Win(65160);
  Add(&c, 0, PacketBuilder(t).Flags(kSyn).Seq(1000).Mss(1460));
  Add(&c, 1, PacketBuilder(u).Flags(kSyn | kAck).Seq(5000).Ack(1001).Mss(1460));
  Add(&c, 2, PacketBuilder(t).Flags(kAck).Seq(1001).Ack(5001));
  Add(&c, 3, PacketBuilder(t).Flags(kPsh | kAck).Seq(1001).Ack(5001).Payload(10));
  Add(&c, 4, PacketBuilder(u).Flags(kAck).Seq(5001).Ack(1011));
  Add(&c, 5, PacketBuilder(t).Flags(kFin | kAck).Seq(1011).Ack(5001));
  Add(&c, 6, PacketBuilder(u).Flags(kFin | kAck).Seq(5001).Ack(1012));
  Add(&c, 7, PacketBuilder(t).Flags(kAck).Seq(1012).Ack(5002));
  // TCP 40001 -> 443: established, left open.
  PacketBuilder t2 = PacketBuilder().Ipv4(a, b).Tcp(40001, 443).Win(64240);
  PacketBuilder u2 = PacketBuilder().Ipv4(b, a).Tcp(443, 40001).Win(65160);
  Add(&c, 10, PacketBuilder(t2).Flags(kSyn).Seq(2000));
  Add(&c, 11, PacketBuilder(u2).Flags(kSyn | kAck).Seq(9000).Ack(2001));
  Add(&c, 12, PacketBuilder(t2).Flags(kAck).Seq(2001).Ack(9001));
  // TCP SYN without answer.
  Add(&c, 13, PacketBuilder().Ipv4(a, "10.0.0.3").Tcp(40002, 22).Flags(kSyn).Seq(7));
  // UDP both ways and one way.
  Add(&c, 20, PacketBuilder().Ipv4(a, b).Udp(5353, 53).Payload(20));
  Add(&c, 21, PacketBuilder().Ipv4(b, a).Udp(53, 5353).Payload(40));
  Add(&c, 22, PacketBuilder().Ipv4(a, "192.0.2.9").Udp(6000, 514).Payload(8));
  // ICMP echo.
  Add(&c, 30, PacketBuilder().Ipv4(a, b).Icmp(8, 0, 0x1234, 1).Payload(16));
  Add(&c, 31, PacketBuilder().Ipv4(b, a).Icmp(0, 0, 0x1234, 1).Payload(16));
  // IPv6 UDP and ICMPv6 echo.
  Add(&c, 40, PacketBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(1111, 2222).Payload(4));
  Add(&c, 41, PacketBuilder().Ipv6("2001:db8::1", "2001:db8::2").Icmpv6(128, 0, 7, 1));
  // GRE (version 0, IPv4 payload type) and a generic protocol (ESP).
  Add(&c, 50, PacketBuilder().Ipv4(a, "10.0.0.9").Gre(0x0000, 0x0800, Bytes(20, 0)));
  Add(&c, 51, PacketBuilder().Ipv4(a, "10.0.0.9").Proto(50).Payload(24));
  // ARP (not IP): verdict none, not injected.
  Bytes arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  c.recs.push_back({kT0 + 60 * kMs, arp, 0});
  return c;
}

const std::map<std::string, std::function<Capture()>>& Inputs() {
  static const auto* m = new std::map<std::string, std::function<Capture()>>{
      {"mixed.pcap", MixedInput},
  };
  return *m;
}

std::string InputPath(const std::string& name) {
  fs::path p = ScratchDir() / name;
  if (!fs::exists(p)) {
    auto it = Inputs().find(name);
    if (it == Inputs().end()) return "";
    Capture c = it->second();
    if (!WritePcap(p.string(), c.linktype, c.recs)) return "";
  }
  return p.string();
}

// --- running the binary -------------------------------------------------------------------

#define REQUIRE_BIN() \
  if (CtrackBin().empty() || !fs::exists(CtrackBin())) GTEST_SKIP() << "CTRACK_BIN not set"

// --- MANIFEST-driven goldens --------------------------------------------------------------

struct GoldenCase {
  std::string name, input, expected, flags;
};

std::vector<GoldenCase> LoadManifest() {
  std::vector<GoldenCase> cases;
  std::ifstream in(kGoldenDir / "MANIFEST");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) f.push_back(cell);
    if (f.size() < 3) continue;
    cases.push_back({f[0], f[1], f[2], f.size() > 3 ? f[3] : ""});
  }
  return cases;
}

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

class CliGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(CliGolden, MatchesExpected) {
  REQUIRE_BIN();
  const GoldenCase& g = GetParam();
  std::string input = InputPath(g.input);
  ASSERT_NE(input, "") << "unknown input " << g.input;
  std::string flags = g.flags;
  fs::path verdicts = ScratchDir() / (g.name + ".verdicts.tsv");
  bool with_verdicts = false;
  if (size_t at = flags.find("@VERDICTS@"); at != std::string::npos) {
    flags.replace(at, 10, ShellQuote(verdicts.string()));
    with_verdicts = true;
  }
  RunResult r = RunCtrack("replay -q " + flags + " " + ShellQuote(input));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::string got = r.out;
  if (with_verdicts) got += "--- verdicts\n" + ReadAll(verdicts);
  fs::path expected = kGoldenDir / "expected" / g.expected;
  const char* update = std::getenv("CTRACK_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    fs::create_directories(expected.parent_path());
    std::ofstream(expected, std::ios::binary) << got;
    GTEST_SKIP() << "rewrote " << expected;
  }
  ASSERT_TRUE(fs::exists(expected)) << expected << " missing; run scripts/update-golden.sh";
  EXPECT_EQ(got, ReadAll(expected)) << "flags: " << g.flags;
}

INSTANTIATE_TEST_SUITE_P(Manifest, CliGolden, ::testing::ValuesIn(LoadManifest()),
                         [](const ::testing::TestParamInfo<GoldenCase>& p) {
                           std::string n = p.param.name;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// --- error cases --------------------------------------------------------------------------

// Files for the error cases, made once.
struct BadFiles {
  std::string empty, bad_magic, short_header, dir, missing, three_rows;
};

const BadFiles& Bad() {
  static const BadFiles b = [] {
    BadFiles f;
    fs::path d = ScratchDir();
    f.empty = (d / "empty.pcap").string();
    std::ofstream(f.empty, std::ios::binary).flush();
    f.bad_magic = (d / "bad_magic.pcap").string();
    std::ofstream(f.bad_magic, std::ios::binary) << std::string(64, 'x');
    f.short_header = (d / "short_header.pcap").string();
    std::ofstream(f.short_header, std::ios::binary) << std::string("\xd4\xc3\xb2\xa1\x02\x00", 6);
    f.dir = (d / "a_directory").string();
    fs::create_directories(f.dir);
    f.missing = (d / "no_such_file.pcap").string();
    // A times file with fewer rows than mixed.pcap has packets: the replay fails midway.
    f.three_rows = (d / "three_rows.tsv").string();
    std::ofstream(f.three_rows) << "#index\tverdict\tdir\tstate\tstatus\tentry\tfwd\tnote\t"
                                   "summary\tt_replay\n0\t-\t-\t-\t-\t-\t-\t-\t-\t0.1\n"
                                   "1\t-\t-\t-\t-\t-\t-\t-\t-\t0.2\n2\t-\t-\t-\t-\t-\t-\t-\t-\t-\n";
    return f;
  }();
  return b;
}

struct ErrorCase {
  const char* name;
  std::function<std::string()> args;
  int status;
  const char* message;  // expected substring of the one stderr line
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class CliErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(CliErrors, OneLineAndNonZeroExit) {
  REQUIRE_BIN();
  const ErrorCase& c = GetParam();
  RunResult r = RunCtrack(c.args());
  EXPECT_EQ(r.status, c.status) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
}

std::string Mixed() { return ShellQuote(InputPath("mixed.pcap")); }

const ErrorCase kErrorCases[] = {
    {"nonexistent", [] { return "replay " + ShellQuote(Bad().missing); }, 1,
     "no_such_file.pcap: No such file or directory"},
    {"directory", [] { return "replay " + ShellQuote(Bad().dir); }, 1,
     "a_directory: is a directory"},
    {"empty", [] { return "replay " + ShellQuote(Bad().empty); }, 1, "empty.pcap: empty file"},
    {"bad_magic", [] { return "replay " + ShellQuote(Bad().bad_magic); }, 1,
     "bad_magic.pcap: not a pcap or pcapng file"},
    {"short_header", [] { return "replay " + ShellQuote(Bad().short_header); }, 1,
     "short_header.pcap: truncated file header"},
    {"second_capture_missing", [] { return "replay " + Mixed() + " " + ShellQuote(Bad().missing); },
     1, "no_such_file.pcap"},
    {"unknown_set", [] { return "replay --set nf_conntrack_bogus=1 " + Mixed(); }, 2,
     "unknown setting 'nf_conntrack_bogus'"},
    {"set_not_number", [] { return "replay --set nf_conntrack_udp_timeout=abc " + Mixed(); }, 2,
     "nf_conntrack_udp_timeout: 'abc' is not a whole number"},
    {"set_negative", [] { return "replay --set nf_conntrack_udp_timeout=-5 " + Mixed(); }, 2,
     "nf_conntrack_udp_timeout: negative value"},
    {"set_overflow",
     [] { return "replay --set nf_conntrack_udp_timeout=99999999999999999999999 " + Mixed(); }, 2,
     "out of range"},
    {"set_above_max", [] { return "replay --set nf_conntrack_tcp_loose=2 " + Mixed(); }, 2,
     "nf_conntrack_tcp_loose: value 2 is out of range"},
    {"set_no_equals", [] { return "replay --set nf_conntrack_acct " + Mixed(); }, 2,
     "expected NAME=VALUE"},
    {"max_not_number", [] { return "replay --max lots " + Mixed(); }, 2, "--max"},
    {"zone_too_big", [] { return "replay --zone 70000 " + Mixed(); }, 2, "--zone"},
    {"unknown_option", [] { return "replay --frobnicate " + Mixed(); }, 2, "--frobnicate"},
    {"unknown_format", [] { return "replay -o xml " + Mixed(); }, 2, "unknown output format"},
    {"no_capture", [] { return std::string("replay -L"); }, 2, "no capture given"},
    {"unknown_command", [] { return std::string("frobnicate"); }, 2, "unknown command"},
    {"times_too_short",
     [] { return "replay --times-from " + ShellQuote(Bad().three_rows) + " " + Mixed(); }, 1,
     "three_rows.tsv: has 3 rows"},
    {"bench_unknown_set", [] { return std::string("bench w2 --set nf_conntrack_bogus=1"); }, 2,
     "unknown setting"},
    {"bench_set_range", [] { return std::string("bench w2 --set ctrack_lookup_index=3"); }, 2,
     "out of range"},
    {"bench_set_no_equals", [] { return std::string("bench w2 --set ctrack_lookup_index"); }, 2,
     "NAME=VALUE"},
    {"bench_set_flood", [] { return std::string("bench flood --set ctrack_lookup_index=1"); }, 2,
     "does not apply to flood"},
};

INSTANTIATE_TEST_SUITE_P(Cases, CliErrors, ::testing::ValuesIn(kErrorCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& p) {
                           return std::string(p.param.name);
                         });

// A run that fails after it has started writing verdicts leaves neither the file nor a
// temporary beside it.
TEST(CliErrors, NoPartialVerdictsFile) {
  REQUIRE_BIN();
  fs::path dir = ScratchDir() / "partial";
  fs::create_directories(dir);
  fs::path target = dir / "verdicts.tsv";
  RunResult r = RunCtrack("replay --verdicts " + ShellQuote(target.string()) + " --times-from " +
                          ShellQuote(Bad().three_rows) + " " + Mixed());
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(fs::is_empty(dir)) << "left behind in " << dir;
  // Also when a capture cannot be opened.
  r = RunCtrack("replay --verdicts " + ShellQuote(target.string()) + " " + Mixed() + " " +
                ShellQuote(Bad().missing));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(fs::is_empty(dir)) << "left behind in " << dir;
}

// A capture whose last record is cut short: every record is replayed (the cut one as far as it
// goes, as the oracle injects it), a warning names the file, the exit status is 0.
TEST(CliErrors, TruncatedLastRecordWarns) {
  REQUIRE_BIN();
  std::string full = InputPath("mixed.pcap");
  fs::path cut = ScratchDir() / "cut.pcap";
  std::string bytes = ReadAll(full);
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 10);
  RunResult whole = RunCtrack("replay -q -C " + ShellQuote(full));
  RunResult r = RunCtrack("replay -q -C " + ShellQuote(cut.string()));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("cut.pcap: last record cut short"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  // The cut record is the ARP frame, which makes no entry: same count as the whole capture.
  EXPECT_EQ(r.out, whole.out);
}

// --- the reader as a library: errors come back as strings, nanoseconds are kept --------------

std::string Le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>(v >> (8 * i));
  return s;
}

std::string PcapHeader(uint32_t magic, uint32_t snaplen, uint32_t linktype) {
  return Le32(magic) + std::string("\x02\x00\x04\x00", 4) + Le32(0) + Le32(0) + Le32(snaplen) +
         Le32(linktype);
}

TEST(CaptureReader, NanosecondCaptureKeepsNanoseconds) {
  Bytes ip = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build();
  std::string rec = Le32(1700000000) + Le32(123456789) + Le32(static_cast<uint32_t>(ip.size())) +
                    Le32(static_cast<uint32_t>(ip.size() + 100));
  fs::path p = ScratchDir() / "ns.pcap";
  std::ofstream(p, std::ios::binary)
      << PcapHeader(0xa1b23c4d, 65535, 101) << rec << std::string(ip.begin(), ip.end());
  LoadedCapture cap;
  ASSERT_EQ(LoadCapture(p.string(), &cap), "");
  ASSERT_EQ(cap.frames.size(), 1u);
  EXPECT_EQ(cap.frames[0].ts, 1700000000LL * 1000000000LL + 123456789);
  EXPECT_EQ(cap.frames[0].caplen, ip.size());
  EXPECT_EQ(cap.frames[0].wirelen, ip.size() + 100);
  EXPECT_EQ(Bytes(cap.frames[0].data, cap.frames[0].data + cap.frames[0].caplen), ip);
  EXPECT_EQ(cap.warning, "");
}

TEST(CaptureReader, OpenErrorsAreOneLineStrings) {
  fs::path d = ScratchDir();
  std::ofstream(d / "snap0.pcap", std::ios::binary) << PcapHeader(0xa1b2c3d4, 0, 1);
  std::ofstream(d / "linktype.pcap", std::ios::binary) << PcapHeader(0xa1b2c3d4, 65535, 147);
  std::ofstream(d / "bigendian.pcap", std::ios::binary)
      << std::string("\xa1\xb2\xc3\xd4\x00\x02\x00\x04", 8) << std::string(8, '\0')
      << std::string("\x00\x00\xff\xff\x00\x00\x00\x01", 8);
  struct {
    std::string file, want;  // want: "" for success, else a substring of the error
  } cases[] = {
      {"snap0.pcap", ""},  // snaplen 0 is common and no limit (the oracle reads such files)
      {"linktype.pcap", "unsupported link type 147"},
      {"bigendian.pcap", ""},
      {"no_such_file.pcap", "No such file or directory"},
      {"a_directory", "is a directory"},
  };
  Bad();  // creates a_directory
  for (const auto& c : cases) {
    CaptureReader r;
    std::string err = r.Open((d / c.file).string());
    if (c.want.empty()) {
      EXPECT_EQ(err, "") << c.file;
      CaptureRecord rec;
      EXPECT_FALSE(r.Next(&rec));
      EXPECT_EQ(r.warning(), "");
      EXPECT_EQ(r.error(), "");
    } else {
      EXPECT_NE(err.find(c.want), std::string::npos) << c.file << ": " << err;
      EXPECT_EQ(err.find('\n'), std::string::npos) << err;
      EXPECT_EQ(err.rfind((d / c.file).string(), 0), 0u) << "names the file: " << err;
    }
  }
}

TEST(CliHelp, ListsCommandsAndOptions) {
  REQUIRE_BIN();
  RunResult r = RunCtrack("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("replay"), std::string::npos);
  r = RunCtrack("replay --help");
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--set", "--max", "--buckets", "--verdicts", "--times-from", "--zone",
                          "-o", "-S", "-C", "-L"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  }
}

}  // namespace
}  // namespace ctrack::testing
