// Bad input at the CLI (issue 5), beyond the cases of tests/golden/cli_golden_test.cc: every bad
// capture and every absurd --set value gives exactly one stderr line that names the file or
// argument, a non-zero exit, nothing on stdout, and no --verdicts file (nor its temporary) left
// behind; a malformed structure after the first packets (an absurd block or record length) says
// where, by offset. A capture whose last record is cut short is replayed with a one-line warning
// and exit 0: a pcap record as far as it goes (the oracle injects it), a pcapng block not at all
// (the oracle drops it).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "parse/link.h"
#include "testing/capture_builder.h"
#include "testing/cli_runner.h"

namespace ctrack {
namespace {

namespace fs = std::filesystem;
using ::ctrack::testing::Bytes;
using ::ctrack::testing::CtrackBin;
using ::ctrack::testing::PacketBuilder;
using ::ctrack::testing::PcapBuilder;
using ::ctrack::testing::PcapngBuilder;
using ::ctrack::testing::ReadAll;
using ::ctrack::testing::RunCtrack;
using ::ctrack::testing::RunResult;
using ::ctrack::testing::ScratchDir;
using ::ctrack::testing::ShellQuote;

void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string Le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>(v >> (8 * i));
  return s;
}

std::string PcapHeader(uint32_t snaplen, uint32_t linktype) {
  return Le32(0xa1b2c3d4) + std::string("\x02\x00\x04\x00", 4) + Le32(0) + Le32(0) + Le32(snaplen) +
         Le32(linktype);
}

// A valid Ethernet capture from the generator (a few dozen packets).
const std::string& GoodCapture() {
  static const std::string bytes = [] {
    PcapWriter w;
    w.OpenMemory(kLinkEthernet);
    GenOptions opt;
    opt.conns = 4;
    opt.duration_s = 1;
    GenerateScenario("web", opt, &w);
    return std::string(w.buffer().begin(), w.buffer().end());
  }();
  return bytes;
}

fs::path Make(const std::string& name, const std::string& bytes) {
  fs::path p = ScratchDir() / name;
  WriteFile(p, bytes);
  return p;
}

struct Case {
  const char* name;
  // Arguments after `ctrack replay --verdicts V`; `F` in the list is replaced by the case's file.
  std::vector<std::string> args;
  std::string file_bytes;  // contents of the case's file; "<dir>" for a directory, "<none>"
  int status;
  const char* names;    // the stderr line must name this (file or argument)
  std::string problem;  // ... and say this
};
// gtest prints the parameter beside each test name (ctest lists it): the case's name, not bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// One UDP packet in an Ethernet frame, for the pcapng cases.
Bytes Udp() {
  return testing::EthernetFrame(PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1000, 53).Build());
}

std::vector<Case> Cases() {
  const std::string good = GoodCapture();
  PcapngBuilder ng;
  ng.Interface(kLinkEthernet).Epb(0, 1, Udp());
  const std::string ng_good = ng.bytes();
  return {
      {"nonexistent", {"F"}, "<none>", 1, "F", "No such file or directory"},
      {"directory", {"F"}, "<dir>", 1, "F", "is a directory"},
      {"empty", {"F"}, "", 1, "F", "empty file"},
      {"header_3_bytes", {"F"}, good.substr(0, 3), 1, "F", "truncated file header"},
      {"header_20_bytes", {"F"}, good.substr(0, 20), 1, "F", "truncated file header"},
      {"wrong_magic",
       {"F"},
       "\x7f"
       "ELF" +
           good.substr(4),
       1,
       "F",
       "not a pcap or pcapng file"},
      {"text_file", {"F"}, "hello, this is not a capture\n", 1, "F", "not a pcap or pcapng file"},
      {"unsupported_linktype", {"F"}, PcapHeader(65535, 147), 1, "F", "unsupported link type 147"},
      {"pcapng_bad_section",
       {"F"},
       std::string("\x0a\x0d\x0d\x0a\x08\x00\x00\x00", 8),
       1,
       "F",
       "truncated section header"},
      {"pcapng_bad_byte_order",
       {"F"},
       std::string("\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x11\x22\x33\x44", 12) + std::string(16, '\0'),
       1,
       "F",
       "unknown byte-order magic"},
      // After a good packet: a block declaring 4 GiB (nothing is allocated for it), one whose
      // length is not a multiple of 4, one whose trailing length differs, a packet naming an
      // interface never described, a captured length beyond the block.
      {"pcapng_huge_block",
       {"F"},
       ng_good + ng.U32(6) + ng.U32(0xfffffffc) + std::string(64, 'x'),
       1,
       "F",
       "at offset " + std::to_string(ng_good.size()) +
           " declares length 4294967292 (limit 16777216)"},
      {"pcapng_odd_block",
       {"F"},
       ng_good + ng.U32(5) + ng.U32(33) + std::string(64, 'x'),
       1,
       "F",
       "not a multiple of 4"},
      {"pcapng_trailer",
       {"F"},
       ng_good + ng.U32(4) + ng.U32(16) + ng.U32(0) + ng.U32(20),
       1,
       "F",
       "declares length 16 but ends with 20"},
      {"pcapng_no_interface",
       {"F"},
       PcapngBuilder().Interface(kLinkEthernet).Epb(0, 1, Udp()).Epb(3, 2, Udp()).bytes(),
       1,
       "F",
       "names interface 3, the section defines 1"},
      {"pcapng_caplen_beyond_block",
       {"F"},
       PcapngBuilder().Interface(kLinkEthernet).Epb(0, 1, Udp(), 0, 4000).bytes(),
       1,
       "F",
       "declares 4000 captured bytes in a block of"},
      {"pcap_huge_record",
       {"F"},
       PcapBuilder(kLinkEthernet).Record(1, 0, Udp()).Record(2, 0, Udp(), 0, 0x7fffffff).bytes(),
       1,
       "F",
       "declares 2147483647 captured bytes (limit 16777216)"},
      {"bad_second_capture", {"G", "F"}, "<none>", 1, "F", "No such file or directory"},
      {"set_negative",
       {"--set", "nf_conntrack_max=-1", "G"},
       "",
       2,
       "nf_conntrack_max",
       "negative"},
      {"set_overflow",
       {"--set", "nf_conntrack_max=4294967296", "G"},
       "",
       2,
       "nf_conntrack_max",
       "out of range"},
      {"set_huge",
       {"--set", "nf_conntrack_udp_timeout=99999999999999999999", "G"},
       "",
       2,
       "nf_conntrack_udp_timeout",
       "out of range"},
      {"set_non_numeric",
       {"--set", "nf_conntrack_max=12abc", "G"},
       "",
       2,
       "nf_conntrack_max",
       "not a whole number"},
      {"set_empty_value", {"--set", "nf_conntrack_max=", "G"}, "", 2, "nf_conntrack_max", ""},
      {"set_unknown_name",
       {"--set", "nf_conntrack_frobs=1", "G"},
       "",
       2,
       "nf_conntrack_frobs",
       "unknown setting"},
      {"set_empty_name", {"--set", "=5", "G"}, "", 2, "--set", ""},
      {"buckets_zero", {"--buckets", "0", "G"}, "", 2, "--buckets", "out of range"},
      {"max_negative", {"--max", "-5", "G"}, "", 2, "--max", "negative"},
  };
}

class CliBadInput : public ::testing::TestWithParam<Case> {};

TEST_P(CliBadInput, OneLineNamedNonZeroNoOutputFile) {
  if (CtrackBin().empty()) GTEST_SKIP() << "ctrack binary not found (set CTRACK_BIN)";
  const Case& c = GetParam();
  fs::path dir = ScratchDir() / c.name;
  fs::remove_all(dir);
  fs::create_directories(dir / "out");
  fs::path file = dir / (std::string(c.name) + ".pcap");
  if (c.file_bytes == "<dir>") {
    fs::create_directories(file);
  } else if (c.file_bytes != "<none>") {
    WriteFile(file, c.file_bytes);
  }
  fs::path good = Make("good.pcap", GoodCapture());
  std::string args = "replay -q --verdicts " + ShellQuote((dir / "out" / "v.tsv").string());
  for (const std::string& a : c.args) {
    args += " " + ShellQuote(a == "F" ? file.string() : a == "G" ? good.string() : a);
  }
  RunResult r = RunCtrack(args);
  EXPECT_EQ(r.status, c.status) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not exactly one line: " << r.err;
  std::string names = std::string(c.names) == "F" ? file.string() : c.names;
  EXPECT_NE(r.err.find(names), std::string::npos) << "does not name " << names << ": " << r.err;
  EXPECT_NE(r.err.find(c.problem), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(dir / "out")) << "output left behind in " << dir / "out";
}

INSTANTIATE_TEST_SUITE_P(Cases, CliBadInput, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           return std::string(p.param.name);
                         });

// Rows of a verdicts file (lines not starting with '#').
size_t Rows(const std::string& tsv) {
  size_t n = 0;
  std::istringstream in(tsv);
  for (std::string line; std::getline(in, line);) n += !line.empty() && line[0] != '#';
  return n;
}

// Cut inside the last record's data: every record is replayed, the cut one as far as it goes
// (the oracle injects it too); cut inside the last record's 16-byte header: the records before.
// One warning line names the file, exit 0.
TEST(CliBadInput, CaptureCutShortIsReplayedUpToTheCut) {
  if (CtrackBin().empty()) GTEST_SKIP() << "ctrack binary not found (set CTRACK_BIN)";
  const std::string& good = GoodCapture();
  fs::path whole = Make("whole.pcap", good);
  fs::path v = ScratchDir() / "whole.tsv";
  RunResult r = RunCtrack("replay -q -C --verdicts " + ShellQuote(v.string()) + " " +
                          ShellQuote(whole.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const size_t n = Rows(ReadAll(v));
  ASSERT_GT(n, 10u);
  // Offset of the last record.
  size_t off = 24, last = 24;
  while (off + 16 <= good.size()) {
    last = off;
    uint32_t caplen = static_cast<uint8_t>(good[off + 8]) |
                      static_cast<uint8_t>(good[off + 9]) << 8 |
                      static_cast<uint32_t>(static_cast<uint8_t>(good[off + 10])) << 16;
    off += 16 + caplen;
  }
  for (size_t cut : {good.size() - 5, last + 16 + 1, last + 7}) {
    SCOPED_TRACE(cut);
    const size_t rows = cut >= last + 16 ? n : n - 1;
    fs::path p = Make("cut.pcap", good.substr(0, cut));
    fs::path cv = ScratchDir() / "cut.tsv";
    r = RunCtrack("replay -q -C --verdicts " + ShellQuote(cv.string()) + " " +
                  ShellQuote(p.string()));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
    EXPECT_NE(r.err.find(p.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
    EXPECT_EQ(Rows(ReadAll(cv)), rows);
  }
}

// The live commands share one parser for their common flags (tools/ctrack/live_source.h): a bad
// value of any of them gives `ctrack watch` and `ctrack exporter` the same one stderr line after
// the command's name, which names the flag, with exit 2 and nothing on stdout. The parse fails
// before any namespace or netlink work, so no root is needed.
TEST(CliBadInput, LiveCommandsShareFlagErrors) {
  if (CtrackBin().empty()) GTEST_SKIP() << "ctrack binary not found (set CTRACK_BIN)";
  struct FlagCase {
    std::vector<std::string> args;
    const char* names;
  };
  const FlagCase cases[] = {
      {{"--interval", "0.1"}, "--interval"},
      {{"--interval", "4000"}, "--interval"},
      {{"--interval", "x"}, "--interval"},
      {{"--interval"}, "--interval"},
      {{"--top", "0"}, "--top"},
      {{"--top", "101"}, "--top"},
      {{"--netns", "a/b"}, "--netns"},
      {{"--netns", ""}, "--netns"},
      {{"--netns"}, "--netns"},
      {{"--netns-pid", "0"}, "--netns-pid"},
      {{"--netns-pid", "12x"}, "--netns-pid"},
      {{"--no-dump", "--frob"}, "--frob"},
  };
  for (const FlagCase& c : cases) {
    std::string args;
    for (const std::string& a : c.args) args += " " + ShellQuote(a);
    SCOPED_TRACE(args);
    std::string tail[2];
    const char* commands[2] = {"watch", "exporter"};
    for (int k = 0; k < 2; ++k) {
      RunResult r = RunCtrack(commands[k] + args);
      EXPECT_EQ(r.status, 2) << r.err;
      EXPECT_EQ(r.out, "");
      std::string prefix = std::string("ctrack ") + commands[k] + ": ";
      ASSERT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not exactly one line: " << r.err;
      EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err;
      tail[k] = r.err.substr(prefix.size());
    }
    EXPECT_EQ(tail[0], tail[1]);
  }
}

}  // namespace
}  // namespace ctrack
