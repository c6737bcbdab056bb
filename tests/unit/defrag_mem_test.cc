// Fragment memory as the kernel charges it. Each row was measured with kernel-ct (Linux 6.18, a
// private copy that writes net.ipv4.ipfrag_high_thresh /
// net.netfilter.nf_conntrack_frag6_high_thresh inside its namespace between packets, low thresholds
// 0): fragments of the given payload sizes (MF, contiguous from offset 0; `pad` extra bytes written
// after each IP packet) and then an 8-byte last fragment; `thresh` is the smallest high threshold
// at which the kernel accepted that last fragment, found by bisection. It is the memory charged
// before it: the queue's size plus the truesize of each queued fragment's skb. Below it the last
// fragment is dropped.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "parse/defrag.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using testing::Bytes;
using testing::PacketBuilder;

struct FragSpec {
  uint32_t payload;  // fragment data bytes (a multiple of 8)
  uint32_t pad;      // bytes written after the IP packet (not counted in its length)
};

struct Measured {
  int family;
  std::vector<FragSpec> frags;
  uint64_t thresh;
};

// kernel-ct measurements, Linux 6.18 (see the header comment).
const std::vector<Measured>& Table() {
  static const std::vector<Measured> t = {
      {4, {{8, 0}}, 1032},
      {4, {{16, 0}}, 1032},
      {4, {{64, 0}}, 1032},
      {4, {{128, 0}}, 1032},
      {4, {{200, 0}}, 1480},
      {4, {{232, 0}}, 1480},
      {4, {{240, 0}}, 1480},
      {4, {{256, 0}}, 1480},
      {4, {{264, 0}}, 1480},
      {4, {{512, 0}}, 1480},
      {4, {{1000, 0}}, 2504},
      {4, {{1024, 0}}, 2504},
      {4, {{1480, 0}}, 2504},
      {4, {{2000, 0}}, 4552},
      {4, {{3000, 0}}, 4552},
      {4, {{3600, 0}}, 4552},
      {4, {{3960, 0}}, 8648},
      {4, {{4000, 0}}, 8648},
      {4, {{4008, 0}}, 8648},
      {4, {{4016, 0}}, 8648},
      {4, {{4024, 0}}, 8648},
      {4, {{4096, 0}}, 8648},
      {4, {{4200, 0}}, 8648},
      {4, {{6000, 0}}, 8648},
      {4, {{8000, 0}}, 12744},
      {4, {{8192, 0}}, 12744},
      {4, {{8952, 0}}, 12744},
      {4, {{9000, 0}}, 12744},
      {4, {{12000, 0}}, 16840},
      {4, {{12280, 0}}, 16840},
      {4, {{12300, 0}}, 16840},
      {4, {{16000, 0}}, 20936},
      {4, {{16384, 0}}, 20936},
      {4, {{20000, 0}}, 20936},
      {4, {{24576, 0}}, 29128},
      {4, {{30000, 0}}, 33224},
      {4, {{32768, 0}}, 37320},
      {4, {{32800, 0}}, 37320},
      {4, {{40000, 0}}, 41416},
      {4, {{48000, 0}}, 49608},
      {4, {{60000, 0}}, 61896},
      {4, {{65000, 0}}, 65992},
      {6, {{8, 0}}, 1016},
      {6, {{16, 0}}, 1016},
      {6, {{64, 0}}, 1016},
      {6, {{128, 0}}, 1016},
      {6, {{200, 0}}, 1464},
      {6, {{208, 0}}, 1464},
      {6, {{216, 0}}, 1464},
      {6, {{224, 0}}, 1464},
      {6, {{256, 0}}, 1464},
      {6, {{512, 0}}, 1464},
      {6, {{1000, 0}}, 2488},
      {6, {{1024, 0}}, 2488},
      {6, {{1232, 0}}, 2488},
      {6, {{1448, 0}}, 2488},
      {6, {{2000, 0}}, 4536},
      {6, {{3000, 0}}, 4536},
      {6, {{3600, 0}}, 4536},
      {6, {{3960, 0}}, 8632},
      {6, {{3976, 0}}, 8632},
      {6, {{3984, 0}}, 8632},
      {6, {{3992, 0}}, 8632},
      {6, {{4096, 0}}, 8632},
      {6, {{4200, 0}}, 8632},
      {6, {{6000, 0}}, 8632},
      {6, {{8000, 0}}, 12728},
      {6, {{8192, 0}}, 12728},
      {6, {{8952, 0}}, 12728},
      {6, {{9000, 0}}, 12728},
      {6, {{12000, 0}}, 16824},
      {6, {{12256, 0}}, 16824},
      {6, {{12280, 0}}, 16824},
      {6, {{16000, 0}}, 20920},
      {6, {{16384, 0}}, 20920},
      {6, {{20000, 0}}, 20920},
      {6, {{24576, 0}}, 29112},
      {6, {{30000, 0}}, 33208},
      {6, {{32768, 0}}, 37304},
      {6, {{32800, 0}}, 37304},
      {6, {{40000, 0}}, 41400},
      {6, {{48000, 0}}, 49592},
      {6, {{60000, 0}}, 61880},
      {6, {{65000, 0}}, 65976},
      {4, {{8, 0}, {8, 0}}, 1864},
      {4, {{1000, 0}, {1000, 0}}, 4808},
      {4, {{8952, 0}, {8952, 0}}, 25288},
      {4, {{4096, 0}, {8, 0}, {9000, 0}}, 22024},
      {4, {{1480, 0}, {1480, 0}, {1480, 0}, {1480, 0}, {1480, 0}}, 11720},
      {4, {{16, 0}, {32000, 0}}, 34056},
      {4,
       {{64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0},
        {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}},
       16840},
      {6, {{8, 0}, {8, 0}}, 1848},
      {6, {{1000, 0}, {1000, 0}}, 4792},
      {6, {{8952, 0}, {8952, 0}}, 25272},
      {6, {{4096, 0}, {8, 0}, {9000, 0}}, 22008},
      {6, {{1480, 0}, {1480, 0}, {1480, 0}, {1480, 0}, {1480, 0}}, 11704},
      {6, {{16, 0}, {32000, 0}}, 34040},
      {6,
       {{64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0},
        {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}, {64, 0}},
       16824},
      {4, {{168, 4}}, 1032},
      {4, {{168, 5}}, 1480},
      {4, {{616, 4}}, 1480},
      {4, {{616, 5}}, 2504},
      {4, {{1640, 4}}, 2504},
      {4, {{1640, 5}}, 4552},
      {4, {{3688, 4}}, 4552},
      {4, {{3688, 5}}, 8648},
      {4, {{4008, 4}}, 8648},
      {4, {{4008, 5}}, 8648},
      {4, {{7784, 4}}, 8648},
      {4, {{7784, 5}}, 12744},
      {4, {{11880, 4}}, 12744},
      {4, {{11880, 5}}, 16840},
      {4, {{15976, 4}}, 16840},
      {4, {{15976, 5}}, 20936},
      {4, {{20072, 4}}, 20936},
      {4, {{20072, 5}}, 25032},
      {4, {{36456, 4}}, 37320},
      {4, {{36456, 5}}, 41416},
      {4, {{600, 300}}, 2504},
      {4, {{8, 4000}}, 8648},
      {6, {{144, 0}}, 1016},
      {6, {{144, 1}}, 1464},
      {6, {{592, 0}}, 1464},
      {6, {{592, 1}}, 2488},
      {6, {{1616, 0}}, 2488},
      {6, {{1616, 1}}, 4536},
      {6, {{3664, 0}}, 4536},
      {6, {{3664, 1}}, 8632},
      {6, {{3984, 0}}, 8632},
      {6, {{3984, 1}}, 8632},
      {6, {{7760, 0}}, 8632},
      {6, {{7760, 1}}, 12728},
      {6, {{11856, 0}}, 12728},
      {6, {{11856, 1}}, 16824},
      {6, {{15952, 0}}, 16824},
      {6, {{15952, 1}}, 20920},
      {6, {{20048, 0}}, 20920},
      {6, {{20048, 1}}, 25016},
      {6, {{36432, 0}}, 37304},
      {6, {{36432, 1}}, 41400},
      {6, {{600, 300}}, 2488},
      {6, {{8, 4000}}, 8632},
  };
  return t;
}

// Fragment of datagram `id` carrying `n` bytes at `offset`, then `pad` trailing bytes.
Bytes Fragment(int family, uint32_t id, uint32_t offset, uint32_t n, bool more, uint32_t pad) {
  Bytes p;
  if (family == 4) {
    p = PacketBuilder()
            .Ipv4("10.9.0.1", "10.9.0.2")
            .IpId(static_cast<uint16_t>(id))
            .Proto(17)
            .FragOffset(static_cast<uint16_t>(offset), more)
            .Payload(n, 0xab)
            .Build();
  } else {
    const uint16_t field = static_cast<uint16_t>(offset | (more ? 1 : 0));
    p = PacketBuilder()
            .Ipv6("2001:db8::1", "2001:db8::2")
            .Ipv6ExtHeader(44, {static_cast<uint8_t>(field >> 8), static_cast<uint8_t>(field),
                                static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                                static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)})
            .Proto(17)
            .Payload(n, 0xab)
            .Build();
  }
  p.insert(p.end(), pad, 0x5a);
  return p;
}

std::vector<Bytes> Probe(const Measured& m, uint32_t id) {
  std::vector<Bytes> out;
  uint32_t off = 0;
  for (const FragSpec& f : m.frags) {
    out.push_back(Fragment(m.family, id, off, f.payload, true, f.pad));
    off += f.payload;
  }
  out.push_back(Fragment(m.family, id, off, 8, false, 0));
  return out;
}

Config WithThresh(int family, uint64_t thresh) {
  Config cfg;
  const std::string v = std::to_string(thresh);
  EXPECT_EQ(
      cfg.Set(family == 4 ? "nf_conntrack_frag_high_thresh" : "nf_conntrack_frag6_high_thresh", v),
      "");
  return cfg;
}

std::string Name(const Measured& m) {
  std::string s = "IPv" + std::to_string(m.family);
  for (const FragSpec& f : m.frags)
    s += " " + std::to_string(f.payload) + "+" + std::to_string(f.pad);
  return s;
}

// The charge before the last fragment equals the kernel's, byte for byte.
TEST(DefragMemTest, ChargeMatchesKernel) {
  for (const Measured& m : Table()) {
    SCOPED_TRACE(Name(m));
    Defrag defrag(WithThresh(m.family, 64u << 20));
    std::vector<Bytes> pkts = Probe(m, 77);
    for (size_t i = 0; i + 1 < pkts.size(); ++i) {
      const Bytes& p = pkts[i];
      const uint32_t ip_len = static_cast<uint32_t>(p.size() - m.frags[i].pad);
      ASSERT_EQ(defrag.Process(p.data(), ip_len, 0, kNsPerSec, static_cast<uint32_t>(p.size())),
                DefragStatus::kHeld);
    }
    EXPECT_EQ(defrag.mem(), m.thresh);
  }
}

// Through the whole engine (the received length reaches the defragmenter): at the measured
// threshold the last fragment completes the datagram, one byte lower it is dropped.
TEST(DefragMemTest, ThresholdBoundaryMatchesKernel) {
  for (const Measured& m : Table()) {
    for (uint64_t t : {m.thresh - 1, m.thresh}) {
      SCOPED_TRACE(Name(m) + " thresh " + std::to_string(t));
      Conntrack ct(WithThresh(m.family, t));
      std::vector<Bytes> pkts = Probe(m, 78);
      PacketResult r;
      for (const Bytes& p : pkts) {
        r = ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), kNsPerSec);
      }
      EXPECT_EQ((r.notes & kNoteReassembled) != 0, t == m.thresh);
    }
  }
}

// Also measured: two queues add up (A and B each hold one 1,000-byte fragment; A's last fragment
// needs 2 queues + 2 fragments), and completing A returns its charge so B completes too. The
// low threshold plays no part (IPv4 [8] with ipfrag_low_thresh=1000: still 1031 drops, 1032
// passes).
TEST(DefragMemTest, QueuesAddUp) {
  for (int family : {4, 6}) {
    const uint64_t need = family == 4 ? 5008 : 4976;  // kernel-ct
    for (uint64_t t : {need - 1, need}) {
      SCOPED_TRACE("IPv" + std::to_string(family) + " thresh " + std::to_string(t));
      Conntrack ct(WithThresh(family, t));
      Measured m{family, {{1000, 0}}, 0};
      std::vector<Bytes> a = Probe(m, 11);
      std::vector<Bytes> b = Probe(m, 12);
      uint8_t notes[4];
      int i = 0;
      for (const Bytes* p : {&a[0], &b[0], &a[1], &b[1]}) {
        notes[i++] = ct.ProcessIp(p->data(), static_cast<uint32_t>(p->size()), kNsPerSec).notes;
      }
      EXPECT_FALSE(notes[0] & kNoteReassembled);
      EXPECT_FALSE(notes[1] & kNoteReassembled);
      EXPECT_EQ((notes[2] & kNoteReassembled) != 0, t == need);
      EXPECT_EQ((notes[3] & kNoteReassembled) != 0, t == need);
    }
  }
}

}  // namespace
}  // namespace ctrack
