// Every TCP flag byte against the kernel: the validity check of tcp_error() (tcp_valid_flags[],
// after PSH, ECE and CWR are dropped) and the packet classes of get_conntrack_index(), which
// pick the row of the state table. Each of the 256 bytes is sent twice: as the first packet of a
// flow of its own, and in window on an ESTABLISHED flow of its own (after SYN, SYN/ACK, ACK).
//
// The expected verdicts, directions and states are the kernel's: tests/proto/data/
// tcp_flags_kernel.tsv holds the first seven columns of the verdicts.tsv that kernel-ct (Linux
// 6.18, default settings, fast timing) wrote for this capture. CTRACK_ORACLE_DUMP=DIR writes the
// capture as DIR/tcp_flags.pcap; to check the file again, run
// `kernel-ct --out DIR/tcp_flags DIR/tcp_flags.pcap` and compare `cut -f1-7` of its verdicts.tsv.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/packet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "testing/cli_runner.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using testing::Bytes;
using testing::kAck;
using testing::kSyn;
using testing::PacketBuilder;

constexpr const char* kClient = "10.1.0.1";
constexpr const char* kServer = "10.2.0.1";

Bytes Segment(bool from_client, uint16_t client_port, uint8_t flags, uint32_t seq, uint32_t ack) {
  PacketBuilder b = from_client ? PacketBuilder().Ipv4(kClient, kServer).Tcp(client_port, 80)
                                : PacketBuilder().Ipv4(kServer, kClient).Tcp(80, client_port);
  return b.Flags(flags).Seq(seq).Ack(ack).Win(65535).Build();
}

// The capture: 256 first packets (client ports 10000 + f), then 256 handshakes each followed by
// the flag byte under test (client ports 20000 + f).
std::vector<Bytes> Capture() {
  std::vector<Bytes> pkts;
  for (unsigned f = 0; f < 256; ++f) {
    pkts.push_back(Segment(true, static_cast<uint16_t>(10000 + f), static_cast<uint8_t>(f), 1000,
                           (f & kAck) ? 5000 : 0));
  }
  for (unsigned f = 0; f < 256; ++f) {
    const auto port = static_cast<uint16_t>(20000 + f);
    pkts.push_back(Segment(true, port, kSyn, 1000, 0));
    pkts.push_back(Segment(false, port, kSyn | kAck, 5000, 1001));
    pkts.push_back(Segment(true, port, kAck, 1001, 5001));
    pkts.push_back(Segment(true, port, static_cast<uint8_t>(f), 1001, (f & kAck) ? 5001 : 0));
  }
  return pkts;
}

Timestamp StepTime(size_t i) { return kNsPerSec + static_cast<Timestamp>(i) * 100000; }

struct KernelRow {
  std::string verdict, dir, state;
};

std::vector<KernelRow> KernelRows(const std::string& tsv) {
  std::vector<KernelRow> rows;
  std::istringstream in(tsv);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> c;
    std::istringstream f(line);
    std::string col;
    while (std::getline(f, col, '\t')) c.push_back(col);
    if (c.size() < 4) continue;
    rows.push_back({c[1], c[2], c[3]});
  }
  return rows;
}

TEST(TcpFlags, EveryFlagByteMatchesKernel) {
  const std::vector<Bytes> pkts = Capture();
  if (const char* dir = std::getenv("CTRACK_ORACLE_DUMP")) {
    std::vector<testing::PcapRecord> recs;
    for (size_t i = 0; i < pkts.size(); ++i) recs.push_back({StepTime(i), pkts[i], 0});
    testing::WritePcap(std::string(dir) + "/tcp_flags.pcap", kLinkRaw, recs);
  }
  const std::filesystem::path file =
      std::filesystem::path(__FILE__).parent_path() / "data" / "tcp_flags_kernel.tsv";
  const std::vector<KernelRow> want = KernelRows(testing::ReadAll(file));
  ASSERT_EQ(want.size(), pkts.size()) << file;

  Conntrack ct{Config{}};
  std::vector<Verdict> verdicts;
  int valid_first = 0;
  for (size_t i = 0; i < pkts.size(); ++i) {
    const PacketResult r =
        ct.ProcessIp(pkts[i].data(), static_cast<uint32_t>(pkts[i].size()), StepTime(i));
    ConnInfo info{};
    const bool in_table = r.conn != kNoConn && ct.Get(r.conn, StepTime(i), &info);
    const std::string state = in_table ? StateName(info.orig.protonum, info.state) : "-";
    const unsigned flags = i < 256 ? static_cast<unsigned>(i) : static_cast<unsigned>(i - 256) / 4;
    SCOPED_TRACE("packet " + std::to_string(i) + ", flag byte 0x" +
                 (std::ostringstream() << std::hex << flags).str());
    EXPECT_EQ(VerdictName(r.verdict), want[i].verdict);
    const bool attached = r.verdict == Verdict::kNew || r.verdict == Verdict::kEstablished ||
                          r.verdict == Verdict::kRelated;
    EXPECT_EQ(!attached ? "-" : r.dir == Dir::kOriginal ? "original" : "reply", want[i].dir);
    EXPECT_EQ(state, want[i].state);
    if (i < 256 && want[i].verdict != "invalid") ++valid_first;
    verdicts.push_back(r.verdict);
  }
  // The batched pipeline's own path for plain segments gives the same verdicts.
  Conntrack batched{Config{}};
  std::vector<Frame> frames;
  for (size_t i = 0; i < pkts.size(); ++i) {
    const auto len = static_cast<uint32_t>(pkts[i].size());
    frames.push_back(Frame{pkts[i].data(), len, len, StepTime(i)});
  }
  std::vector<PacketResult> out(frames.size());
  batched.ProcessBatch(kLinkRaw, frames, out);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].verdict, verdicts[i]) << "packet " << i;
  // The table above is not trivial: some bytes open a flow and most do not.
  EXPECT_GT(valid_first, 0);
  EXPECT_LT(valid_first, 256);
}

}  // namespace
}  // namespace ctrack
