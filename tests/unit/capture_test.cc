// Captures as they come (src/io/capture.h): pcapng with several interfaces of different link
// types, snapshot lengths and timestamp resolutions, interfaces described after the first
// packets, simple and obsolete packet blocks, blocks that carry no packet, a second section in the
// other byte order; pcap records longer than the header's snaplen, snaplen 0, a last record cut
// short that still holds a whole IP datagram (and one that does not), a last pcapng block cut
// short.
//
// The expected rows come from the kernel oracle: this test writes each capture (set
// CTRACK_CAPTURE_CASES_DIR=DIR to keep a copy there), `kernel-ct --out OUT FILE` replayed it
// through Linux 6.18 with default settings, and the columns verdict, dir, state, status, entry,
// fwd and note of OUT/verdicts.tsv are copied into kOracle below, one string per packet. ctrack
// replays the same file through the CLI and must give the same row for every packet, and the
// same number of rows.
#include "io/capture.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "io/replay.h"
#include "testing/capture_builder.h"
#include "testing/cli_runner.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

namespace fs = std::filesystem;
using testing::Bytes;
using testing::EthernetFrame;
using testing::kAck;
using testing::kPsh;
using testing::kSyn;
using testing::NullFrame;
using testing::PacketBuilder;
using testing::PcapBuilder;
using testing::PcapngBuilder;
using testing::Sll2Frame;
using testing::SllFrame;

constexpr uint64_t kT0 = 1700000000;  // seconds: every capture starts here

// Flow A: TCP 10.1.0.1:40000 -> 10.1.0.2:80.
Bytes Syn() {
  return PacketBuilder()
      .Ipv4("10.1.0.1", "10.1.0.2")
      .Tcp(40000, 80)
      .Flags(kSyn)
      .Seq(100)
      .Win(64240)
      .Build();
}
Bytes SynAck() {
  return PacketBuilder()
      .Ipv4("10.1.0.2", "10.1.0.1")
      .Tcp(80, 40000)
      .Flags(kSyn | kAck)
      .Seq(500)
      .Ack(101)
      .Win(64240)
      .Build();
}
Bytes Ack() {
  return PacketBuilder()
      .Ipv4("10.1.0.1", "10.1.0.2")
      .Tcp(40000, 80)
      .Flags(kAck)
      .Seq(101)
      .Ack(501)
      .Win(64240)
      .Build();
}
Bytes Data() {
  return PacketBuilder()
      .Ipv4("10.1.0.1", "10.1.0.2")
      .Tcp(40000, 80)
      .Flags(kPsh | kAck)
      .Seq(101)
      .Ack(501)
      .Win(64240)
      .Payload(10)
      .Build();
}
Bytes DataAck() {
  return PacketBuilder()
      .Ipv4("10.1.0.2", "10.1.0.1")
      .Tcp(80, 40000)
      .Flags(kAck)
      .Seq(501)
      .Ack(111)
      .Win(64240)
      .Build();
}
Bytes Udp(const char* a, const char* b, uint16_t sp, uint16_t dp, size_t payload = 8) {
  return PacketBuilder().Ipv4(a, b).Udp(sp, dp).Payload(payload).Build();
}

// Several interfaces, described as they appear; every kind of packet block; two sections.
std::string MultiInterfacePcapng() {
  PcapngBuilder ng;  // little endian
  const uint64_t us = kT0 * 1000000, ns = kT0 * 1000000000;
  ng.Interface(kLinkEthernet, 65535);          // if 0: µs (default resolution)
  ng.Epb(0, us, EthernetFrame(Syn()));         // #0
  ng.Interface(kLinkRaw, 0, 9);                // if 1 after the first packet: ns
  ng.Epb(1, ns + 1000000, SynAck());           // #1 (+1 ms)
  ng.Spb(EthernetFrame(Ack()));                // #2 on interface 0, the previous time
  ng.Interface(kLinkSll2, 262144, 0x80 | 20);  // if 2: 2^-20 s
  ng.Epb(2, (kT0 << 20) + (3 << 10), Sll2Frame(Udp("10.2.0.1", "10.2.0.2", 5000, 53)));  // #3
  ng.Block(4, Bytes(12, 0));             // name resolution: no packet, no index
  ng.Block(5, Bytes(20, 0));             // interface statistics
  ng.Block(0x40000bad, Bytes(8, 0x5a));  // custom, not copyable
  ng.Opb(1, ns + 4000000, Udp("10.2.0.2", "10.2.0.1", 53, 5000));  // #4 obsolete block
  ng.Interface(147, 0);                                            // if 3: a link type not IP
  ng.Epb(3, us + 5000, Bytes(40, 0xee));                           // #5
  ng.Epb(0, us + 6000, EthernetFrame(Udp("10.3.0.1", "10.3.0.2", 6000, 7000), 7));  // #6 VLAN
  ng.Interface(kLinkSll, 0, std::nullopt, kT0);  // if 4: if_tsoffset, times from 0
  ng.Epb(4, 7000,
         SllFrame(PacketBuilder()
                      .Ipv6("2001:db8::1", "2001:db8::2")
                      .Udp(1000, 2000)
                      .Payload(4)
                      .Build()));  // #7
  ng.Section(true);                // big endian; interfaces restart at 0
  ng.Interface(kLinkNull, 0);
  ng.Epb(0, us + 8000, NullFrame(Data()));  // #8
  ng.Interface(kLinkIpv4, 0, 3);            // ms
  ng.Epb(1, kT0 * 1000 + 9,
         PacketBuilder().Ipv4("10.4.0.1", "10.4.0.2").Icmp(8, 0, 7, 1).Build());  // #9
  ng.Spb(NullFrame(DataAck()));  // #10 on this section's interface 0 (null)
  return ng.bytes();
}

// pcap with snaplen 64: records longer than that are stored whole and read whole; a record
// really cut by the snaplen is not an IP datagram the kernel accepts.
std::string LongRecordsPcap() {
  PcapBuilder p(kLinkEthernet, 64);
  Bytes q = EthernetFrame(Udp("10.5.0.1", "10.5.0.2", 1111, 2222, 150));
  Bytes r = EthernetFrame(Udp("10.5.0.2", "10.5.0.1", 2222, 1111, 150));
  p.Record(kT0, 0, q);
  p.Record(kT0, 1000, r);
  p.Record(kT0, 2000, Bytes(q.begin(), q.begin() + 40), static_cast<uint32_t>(q.size()));
  p.Record(kT0, 3000, q);
  return p.bytes();
}

// Big-endian, nanosecond pcap with snaplen 0, raw IP.
std::string Snaplen0Pcap() {
  PcapBuilder p(kLinkRaw, 0, /*nano=*/true, /*big_endian=*/true);
  p.Record(kT0, 0, Syn());
  p.Record(kT0, 1000000, SynAck());
  p.Record(kT0, 2000000, Ack());
  return p.bytes();
}

// The last record declares 20 bytes of Ethernet trailer after the datagram; the file ends 10
// bytes into them, so the datagram is whole.
std::string CutWholePcap() {
  PcapBuilder p(kLinkEthernet);
  p.Record(kT0, 0, EthernetFrame(Udp("10.7.0.1", "10.7.0.2", 1, 2)));
  Bytes last = EthernetFrame(Udp("10.7.0.2", "10.7.0.1", 2, 1));
  last.resize(last.size() + 20, 0);
  p.Record(kT0, 1000, last);
  std::string b = p.bytes();
  return b.substr(0, b.size() - 10);
}

// The last record ends inside its datagram.
std::string CutInsidePcap() {
  PcapBuilder p(kLinkEthernet);
  p.Record(kT0, 0, EthernetFrame(Udp("10.8.0.1", "10.8.0.2", 1, 2)));
  p.Record(kT0, 1000, EthernetFrame(Udp("10.8.0.2", "10.8.0.1", 2, 1, 100)));
  std::string b = p.bytes();
  return b.substr(0, b.size() - 50);
}

// The last pcapng block ends early: it gives no packet.
std::string CutPcapng() {
  PcapngBuilder ng;
  ng.Interface(kLinkEthernet);
  ng.Epb(0, kT0 * 1000000, EthernetFrame(Udp("10.9.0.1", "10.9.0.2", 1, 2)));
  ng.Epb(0, kT0 * 1000000 + 1000, EthernetFrame(Udp("10.9.0.2", "10.9.0.1", 2, 1)));
  ng.Epb(0, kT0 * 1000000 + 2000, EthernetFrame(Udp("10.9.0.1", "10.9.0.2", 1, 2)));
  std::string b = ng.bytes();
  return b.substr(0, b.size() - 30);
}

struct OracleCase {
  const char* name;
  std::string (*make)();
  // verdict dir state status entry fwd note, as in the oracle's verdicts.tsv (space separated).
  std::vector<const char*> rows;
};

const std::vector<OracleCase>& kOracle() {
  static const std::vector<OracleCase> cases = {
      {"multi_interface.pcapng",
       MultiInterfacePcapng,
       {
           "new original SYN_SENT CONFIRMED 0 1 -",
           "established reply SYN_RECV SEEN_REPLY,CONFIRMED 0 1 -",
           "established original ESTABLISHED SEEN_REPLY,ASSURED,CONFIRMED 0 1 -",
           "new original - CONFIRMED 1 1 -",
           "established reply - SEEN_REPLY,CONFIRMED 1 1 -",
           "none - - - - - unsupported-linktype-147,not-injected",
           "new original - CONFIRMED 2 1 vlan-stripped",
           "new original - CONFIRMED 3 1 -",
           "established original ESTABLISHED SEEN_REPLY,ASSURED,CONFIRMED 0 1 -",
           "new original - CONFIRMED 4 1 -",
           "established reply ESTABLISHED SEEN_REPLY,ASSURED,CONFIRMED 0 1 -",
       }},
      {"long_records.pcap",
       LongRecordsPcap,
       {
           "new original - CONFIRMED 0 1 -",
           "established reply - SEEN_REPLY,CONFIRMED 0 1 -",
           "none - - - - - truncated-capture,not-seen-in-prerouting",
           "established original - SEEN_REPLY,CONFIRMED 0 1 -",
       }},
      {"snaplen0_be_ns.pcap",
       Snaplen0Pcap,
       {
           "new original SYN_SENT CONFIRMED 0 1 -",
           "established reply SYN_RECV SEEN_REPLY,CONFIRMED 0 1 -",
           "established original ESTABLISHED SEEN_REPLY,ASSURED,CONFIRMED 0 1 -",
       }},
      {"cut_whole.pcap",
       CutWholePcap,
       {
           "new original - CONFIRMED 0 1 -",
           "established reply - SEEN_REPLY,CONFIRMED 0 1 truncated-capture",
       }},
      {"cut_inside.pcap",
       CutInsidePcap,
       {
           "new original - CONFIRMED 0 1 -",
           "none - - - - - truncated-capture,not-seen-in-prerouting",
       }},
      {"cut.pcapng",
       CutPcapng,
       {
           "new original - CONFIRMED 0 1 -",
           "established reply - SEEN_REPLY,CONFIRMED 0 1 -",
       }},
  };
  return cases;
}

fs::path WriteCase(const OracleCase& c) {
  std::string bytes = c.make();
  fs::path p = testing::ScratchDir() / "capture_cases" / c.name;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
  if (const char* keep = std::getenv("CTRACK_CAPTURE_CASES_DIR")) {
    fs::create_directories(keep);
    std::ofstream(fs::path(keep) / c.name, std::ios::binary) << bytes;
  }
  return p;
}

// Columns 1..7 of each data row of a verdicts.tsv, space separated.
std::vector<std::string> Rows(const std::string& tsv) {
  std::vector<std::string> rows;
  std::istringstream in(tsv);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    std::istringstream l(line);
    for (std::string cell; std::getline(l, cell, '\t');) cells.push_back(cell);
    std::string row;
    for (size_t i = 1; i <= 7 && i < cells.size(); ++i) row += (i > 1 ? " " : "") + cells[i];
    rows.push_back(row);
  }
  return rows;
}

// Keeps ctest's test names free of the case's bytes.
void PrintTo(const OracleCase& c, std::ostream* os) { *os << c.name; }

class OracleCaptures : public ::testing::TestWithParam<OracleCase> {};

TEST_P(OracleCaptures, EveryPacketAsTheKernelSawIt) {
  if (testing::CtrackBin().empty()) GTEST_SKIP() << "ctrack binary not found (set CTRACK_BIN)";
  const OracleCase& c = GetParam();
  fs::path file = WriteCase(c);
  fs::path v = testing::ScratchDir() / "capture_cases" / (std::string(c.name) + ".tsv");
  testing::RunResult r =
      testing::RunCtrack("replay -q -C --verdicts " + testing::ShellQuote(v.string()) + " " +
                         testing::ShellQuote(file.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> ours = Rows(testing::ReadAll(v));
  ASSERT_EQ(ours.size(), c.rows.size()) << testing::ReadAll(v);
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_EQ(ours[i], c.rows[i]) << c.name << " #" << i;
}

INSTANTIATE_TEST_SUITE_P(Cases, OracleCaptures, ::testing::ValuesIn(kOracle()),
                         [](const ::testing::TestParamInfo<OracleCase>& p) {
                           std::string n = p.param.name;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// --- the reader as a library -------------------------------------------------------------------

struct Want {
  uint32_t linktype, interface;
  int64_t ts_after_t0;  // ns after kT0
  uint32_t caplen;      // 0: not checked
};

// Link type, interface number and time of every packet of MultiInterfacePcapng. The times are
// those of the oracle's packets.jsonl (ts_ns) except #7: the oracle ignores if_tsoffset and puts
// that packet 7 ms after 1970; the pcapng specification adds the offset.
TEST(CaptureReader, InterfacesLinkTypesAndTimes) {
  const std::string file = MultiInterfacePcapng();
  CaptureReader r;
  ASSERT_EQ(r.OpenMemory(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "multi"), "");
  EXPECT_TRUE(r.pcapng());
  EXPECT_EQ(r.linktype(), 0u);  // no interface described yet
  const Want want[] = {
      {kLinkEthernet, 0, 0, 0},       {kLinkRaw, 1, 1000000, 0},  {kLinkEthernet, 0, 1000000, 0},
      {kLinkSll2, 2, 2929687, 0},     {kLinkRaw, 1, 4000000, 0},  {147, 3, 5000000, 40},
      {kLinkEthernet, 0, 6000000, 0}, {kLinkSll, 4, 7000000, 0},  {kLinkNull, 5, 8000000, 0},
      {kLinkIpv4, 6, 9000000, 0},     {kLinkNull, 5, 9000000, 0},
  };
  CaptureRecord rec;
  for (size_t i = 0; i < std::size(want); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(r.Next(&rec)) << r.error();
    EXPECT_EQ(rec.linktype, want[i].linktype);
    EXPECT_EQ(rec.interface, want[i].interface);
    EXPECT_EQ(rec.ts, static_cast<Timestamp>(kT0) * kNsPerSec + want[i].ts_after_t0);
    if (want[i].caplen != 0) {
      EXPECT_EQ(rec.caplen, want[i].caplen);
    }
    EXPECT_EQ(rec.caplen, rec.wirelen);
  }
  EXPECT_FALSE(r.Next(&rec));
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.warning(), "");
  EXPECT_EQ(r.records(), std::size(want));
  EXPECT_EQ(r.linktype(), kLinkEthernet);  // the first interface's

  LoadedCapture cap;
  ASSERT_EQ(
      LoadCaptureMemory(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "multi", &cap),
      "");
  std::vector<LoadedCapture::LinkRun> runs = cap.LinkRuns();
  ASSERT_EQ(runs.size(), 11u);  // no two neighbours share a link type
  EXPECT_EQ(runs[0].linktype, kLinkEthernet);
  EXPECT_EQ(runs[10].begin, 10u);
  EXPECT_EQ(runs[10].end, 11u);
}

// A simple packet block holds at most interface 0's snaplen; the original length stays.
TEST(CaptureReader, SimplePacketBlockTakesInterfaceSnaplen) {
  Bytes frame = EthernetFrame(Udp("10.0.0.1", "10.0.0.2", 1, 2, 100));
  PcapngBuilder ng;
  ng.Interface(kLinkEthernet, 60)
      .Spb(Bytes(frame.begin(), frame.begin() + 60), static_cast<uint32_t>(frame.size()));
  ng.Spb(Bytes(frame.begin(), frame.begin() + 58));  // fewer bytes than the snaplen: all of them
  const std::string& b = ng.bytes();
  LoadedCapture cap;
  ASSERT_EQ(LoadCaptureMemory(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "spb", &cap),
            "");
  ASSERT_EQ(cap.frames.size(), 2u);
  EXPECT_EQ(cap.frames[0].caplen, 60u);
  EXPECT_EQ(cap.frames[0].wirelen, frame.size());
  EXPECT_EQ(cap.frames[1].caplen, 58u);
  EXPECT_EQ(Bytes(cap.frames[0].data, cap.frames[0].data + 60),
            Bytes(frame.begin(), frame.begin() + 60));
}

void ExpectSame(const LoadedCapture& a, const LoadedCapture& b) {
  ASSERT_EQ(a.frames.size(), b.frames.size());
  for (size_t i = 0; i < a.frames.size(); ++i) {
    const Frame &x = a.frames[i], &y = b.frames[i];
    ASSERT_EQ(x.caplen, y.caplen) << i;
    EXPECT_EQ(x.wirelen, y.wirelen) << i;
    EXPECT_EQ(x.ts, y.ts) << i;
    EXPECT_EQ(a.linktypes[i], b.linktypes[i]) << i;
    EXPECT_EQ(a.interfaces[i], b.interfaces[i]) << i;
    ASSERT_EQ(std::memcmp(x.data, y.data, x.caplen), 0) << i;
  }
  EXPECT_EQ(a.warning.empty(), b.warning.empty());
}

// The file reader buffers in chunks and grows for large blocks; it must read exactly what the
// memory reader reads, with records straddling every chunk boundary.
TEST(CaptureReader, FileAndMemoryReadTheSame) {
  PcapWriter w;
  w.OpenMemory(kLinkEthernet);
  GenOptions opt;
  opt.conns = 400;
  opt.duration_s = 5;
  ASSERT_EQ(GenerateScenario("web", opt, &w), "");
  PcapngBuilder ng;
  ng.Interface(kLinkEthernet).Interface(kLinkRaw, 0, 9);
  for (uint32_t i = 0; i < 3000; ++i) {
    Bytes ip = Udp("10.0.0.1", "10.0.0.2", static_cast<uint16_t>(i), 53, (i * 37) % 1400);
    if (i % 2) {
      ng.Epb(1, uint64_t{kT0} * 1000000000 + i, ip);
    } else {
      ng.Epb(0, uint64_t{kT0} * 1000000 + i, EthernetFrame(ip));
    }
    if (i == 1500) ng.Epb(1, 0, Bytes(600 << 10, 0x45));  // one block above the chunk size
  }
  std::string cut = ng.bytes().substr(0, ng.bytes().size() - 7);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"gen.pcap", std::string(w.buffer().begin(), w.buffer().end())},
      {"many.pcapng", ng.bytes()},
      {"many_cut.pcapng", cut}};
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    ASSERT_GT(bytes.size(), 1u << 20);
    fs::path p = testing::ScratchDir() / name;
    std::ofstream(p, std::ios::binary) << bytes;
    LoadedCapture from_file, from_memory;
    ASSERT_EQ(LoadCapture(p.string(), &from_file), "");
    ASSERT_EQ(LoadCaptureMemory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                p.string(), &from_memory),
              "");
    ExpectSame(from_file, from_memory);
    EXPECT_GT(from_file.frames.size(), 2000u);
  }
}

// A declared length is checked before anything is read for it; up to the limit, the buffer only
// grows as bytes arrive, so a small file declaring 16 MiB is a cut-short end, not an allocation.
TEST(CaptureReader, DeclaredLengthsAreBounded) {
  PcapngBuilder ng;
  ng.Interface(kLinkEthernet).Epb(0, 1, EthernetFrame(Udp("10.0.0.1", "10.0.0.2", 1, 2)));
  std::string ok = ng.bytes();
  struct {
    std::string bytes;
    bool error;
    std::string what;
  } cases[] = {
      {ok + ng.U32(6) + ng.U32(kMaxCaptureBlock) + std::string(100, 'x'), false,
       "last block cut short at offset " + std::to_string(ok.size()) + " (108 of 16777216 bytes)"},
      {ok + ng.U32(6) + ng.U32(kMaxCaptureBlock + 4) + std::string(100, 'x'), true,
       "declares length 16777220 (limit 16777216)"},
      {PcapBuilder(kLinkEthernet).Record(1, 0, Bytes(10, 0), 0, kMaxCaptureBlock).bytes(), false,
       "last record cut short at offset 24 (10 of 16777216 bytes)"},
      {PcapBuilder(kLinkEthernet).Record(1, 0, Bytes(10, 0), 0, kMaxCaptureBlock + 1).bytes(), true,
       "declares 16777217 captured bytes (limit 16777216)"},
  };
  for (const auto& c : cases) {
    fs::path p = testing::ScratchDir() / "bounded.cap";
    std::ofstream(p, std::ios::binary) << c.bytes;
    CaptureReader r;
    ASSERT_EQ(r.Open(p.string()), "");
    CaptureRecord rec;
    while (r.Next(&rec)) {
    }
    const std::string& msg = c.error ? r.error() : r.warning();
    EXPECT_NE(msg.find(c.what), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << "names the file: " << msg;
    EXPECT_EQ((c.error ? r.warning() : r.error()), "");
  }
}

// The one replay loop: indices run on over captures, '-' keeps the previous time, too few
// times is an error naming the file.
TEST(Replay, TimesFromAndIndicesOverCaptures) {
  PcapBuilder a(kLinkRaw), b(kLinkRaw);
  a.Record(5, 0, Syn()).Record(6, 0, SynAck());
  b.Record(7, 0, Ack()).Record(8, 0, Ack());
  LoadedCapture ca, cb;
  ASSERT_EQ(LoadCaptureMemory(reinterpret_cast<const uint8_t*>(a.bytes().data()), a.bytes().size(),
                              "a", &ca),
            "");
  ASSERT_EQ(LoadCaptureMemory(reinterpret_cast<const uint8_t*>(b.bytes().data()), b.bytes().size(),
                              "b", &cb),
            "");
  CaptureCursor x(ca), y(cb);
  std::vector<CaptureCursor*> sources = {&x, &y};
  std::vector<std::pair<uint64_t, Timestamp>> seen;
  std::string err = Replay(sources, nullptr, "",
                           [&](const ReplayPacket& p) { seen.emplace_back(p.index, p.now); });
  EXPECT_EQ(err, "");
  std::vector<std::pair<uint64_t, Timestamp>> want = {
      {0, 5 * kNsPerSec}, {1, 6 * kNsPerSec}, {2, 7 * kNsPerSec}, {3, 8 * kNsPerSec}};
  EXPECT_EQ(seen, want);

  ReplayTimes times = {std::nullopt, 100, std::nullopt};
  CaptureCursor x2(ca), y2(cb);
  sources = {&x2, &y2};
  seen.clear();
  err = Replay(sources, &times, "t.tsv",
               [&](const ReplayPacket& p) { seen.emplace_back(p.capture, p.now); });
  EXPECT_EQ(err, "t.tsv: has 3 rows, fewer than the packets replayed");
  want = {{0, 0}, {0, 100}, {1, 100}};
  EXPECT_EQ(seen, want);
}

}  // namespace
}  // namespace ctrack
