// Zero timeouts: with a timeout sysctl at 0 the entry a packet creates or refreshes is already
// expired when it is read afterwards (ctnetlink's GET reaps it), so the kernel reports the
// packet's verdict, direction and entry number but no state or status, the next packet of the
// flow starts a new entry, and the entry does not count against nf_conntrack_max. One case per
// timeout sysctl (TCP states, UDP and UDP stream, ICMP, generic, GRE, SCTP states), each a short
// flow through the states.
//
// Expectations: kernel-ct (Linux 6.18) with `--sysctl NAME=0`, the same packets in the same
// order (--timing fast; udp_stream --timing real at the times given). Gone(): the oracle's
// state and status columns were "-" after the packet (no entry to read).
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/stats.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using testing::Bytes;
using testing::kAck;
using testing::kFin;
using testing::kPsh;
using testing::kRst;
using testing::kSyn;
using testing::PacketBuilder;

constexpr uint16_t kSeen = 1u << 1;  // IPS_SEEN_REPLY
constexpr uint16_t kAssd = 1u << 2;  // IPS_ASSURED
constexpr uint16_t kConf = 1u << 3;  // IPS_CONFIRMED
constexpr Dir kO = Dir::kOriginal;
constexpr Dir kR = Dir::kReply;
constexpr Verdict N = Verdict::kNew;
constexpr Verdict E = Verdict::kEstablished;
constexpr Verdict I = Verdict::kInvalid;

constexpr const char* kA = "10.7.0.1";
constexpr const char* kB = "10.7.0.2";

struct Expect {
  Verdict verdict;
  Dir dir = kO;
  const char* state = "-";
  uint16_t status = 0;
  int entry = -1;
  bool gone = false;  // no entry left to read after the packet
};
Expect Gone(Verdict v, Dir d, int entry) { return Expect{v, d, "-", 0, entry, true}; }

enum Flow { kUdp, kUdps, kIcmp, kGeneric, kGre, kTcp, kSctp };

Bytes Udp(const char* s, const char* d, uint16_t sp, uint16_t dp) {
  return PacketBuilder().Ipv4(s, d).Udp(sp, dp).Payload({'h', 'e', 'l', 'l', 'o'}).Build();
}
Bytes Tcp(bool from_a, uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags) {
  PacketBuilder b;
  if (from_a) {
    b.Ipv4(kA, kB).Tcp(port, 80);
  } else {
    b.Ipv4(kB, kA).Tcp(80, port);
  }
  return b.Flags(flags).Seq(seq).Ack(ack).Win(65535).Build();
}
Bytes Sctp(bool from_a, uint16_t port, uint32_t vtag, uint8_t type, const Bytes& body = {}) {
  PacketBuilder b;
  if (from_a) {
    b.Ipv4(kA, kB).Sctp(port, 2905, vtag);
  } else {
    b.Ipv4(kB, kA).Sctp(2905, port, vtag);
  }
  return b.SctpChunk(type, 0, body).Build();
}
Bytes Init(uint32_t tag) {
  return {static_cast<uint8_t>(tag >> 24),
          static_cast<uint8_t>(tag >> 16),
          static_cast<uint8_t>(tag >> 8),
          static_cast<uint8_t>(tag),
          0,
          1,
          0,
          0,
          0,
          10,
          0,
          10,
          0,
          0,
          0,
          1};
}
Bytes Gre(const char* s, const char* d, uint8_t call_id) {
  // GREv1 (PPTP) header with the key present: payload length 4, call id, then 4 bytes.
  return PacketBuilder().Ipv4(s, d).Gre(0x2001, 0x880b, {0, 4, 0, call_id, 0, 0, 0, 0}).Build();
}

std::vector<Bytes> Packets(Flow f) {
  switch (f) {
    case kUdp:
    case kUdps:
      return {Udp(kA, kB, 1, 2), Udp(kB, kA, 2, 1), Udp(kA, kB, 1, 2), Udp(kA, kB, 1, 2)};
    case kIcmp:
      return {PacketBuilder().Ipv4(kA, kB).Icmp(8, 0, 1, 1).Payload(8, 'x').Build(),
              PacketBuilder().Ipv4(kB, kA).Icmp(0, 0, 1, 1).Payload(8, 'x').Build(),
              PacketBuilder().Ipv4(kA, kB).Icmp(8, 0, 1, 2).Payload(8, 'x').Build()};
    case kGeneric:
      return {PacketBuilder().Ipv4(kA, kB).Proto(99).Payload({'a', 'b', 'c', 'd'}).Build(),
              PacketBuilder().Ipv4(kB, kA).Proto(99).Payload({'a', 'b', 'c', 'd'}).Build(),
              PacketBuilder().Ipv4(kA, kB).Proto(99).Payload({'a', 'b', 'c', 'd'}).Build()};
    case kGre:
      return {Gre(kA, kB, 5), Gre(kB, kA, 6), Gre(kA, kB, 5)};
    case kTcp:
      // Handshake, data, server FIN, ACK, client FIN, last ACK; then a SYN and a RST on a new port.
      return {Tcp(true, 40000, 1000, 0, kSyn),
              Tcp(false, 40000, 5000, 1001, kSyn | kAck),
              Tcp(true, 40000, 1001, 5001, kAck),
              Tcp(true, 40000, 1001, 5001, kPsh | kAck),
              Tcp(false, 40000, 5001, 1001, kFin | kAck),
              Tcp(true, 40000, 1001, 5002, kAck),
              Tcp(true, 40000, 1001, 5002, kFin | kAck),
              Tcp(false, 40000, 5002, 1002, kAck),
              Tcp(true, 40001, 2000, 0, kSyn),
              Tcp(true, 40001, 2000, 0, kRst)};
    case kSctp:
      // INIT, INIT_ACK, COOKIE_ECHO, COOKIE_ACK, DATA, SHUTDOWN, SHUTDOWN_ACK, SHUTDOWN_COMPLETE,
      // then a HEARTBEAT on a new port.
      return {
          Sctp(true, 1000, 0, 1, Init(0x11111111)),
          Sctp(false, 1000, 0x11111111, 2, Init(0x22222222)),
          Sctp(true, 1000, 0x22222222, 10, {1, 2, 3, 4}),
          Sctp(false, 1000, 0x11111111, 11),
          Sctp(true, 1000, 0x22222222, 0, {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 'h', 'i', '!', '!'}),
          Sctp(true, 1000, 0x22222222, 7, {0, 0, 0, 1}),
          Sctp(false, 1000, 0x11111111, 8),
          Sctp(true, 1000, 0x22222222, 14),
          Sctp(true, 1001, 0x4444, 4, {0, 1, 0, 8, 1, 2, 3, 4})};
  }
  return {};
}

struct Case {
  const char* name;
  const char* sysctl;  // set to 0
  Flow flow;
  std::vector<double> times;  // seconds; empty: 0.1 ms apart
  std::vector<Expect> expect;
};

// kernel-ct's verdicts (see the header comment).
const std::vector<Case>& Cases() {
  static const std::vector<Case> c = {
      {"udp",
       "nf_conntrack_udp_timeout",
       kUdp,
       {},
       {Gone(N, kO, 0), Gone(N, kO, 1), Gone(N, kO, 2), Gone(N, kO, 3)}},
      {"udp_stream",
       "nf_conntrack_udp_timeout_stream",
       kUdps,
       {0.0, 0.01, 2.6, 2.61},
       {{N, kO, "-", kConf, 0},
        {E, kR, "-", kSeen | kConf, 0},
        Gone(E, kO, 0),
        {N, kO, "-", kConf, 1}}},
      {"icmp", "nf_conntrack_icmp_timeout", kIcmp, {}, {Gone(N, kO, 0), {I}, Gone(N, kO, 1)}},
      {"generic",
       "nf_conntrack_generic_timeout",
       kGeneric,
       {},
       {Gone(N, kO, 0), Gone(N, kO, 1), Gone(N, kO, 2)}},
      {"gre",
       "nf_conntrack_gre_timeout",
       kGre,
       {},
       {Gone(N, kO, 0), Gone(N, kO, 1), Gone(N, kO, 2)}},
      {"tcp_syn_sent",
       "nf_conntrack_tcp_timeout_syn_sent",
       kTcp,
       {},
       {Gone(N, kO, 0),
        {I},
        {N, kO, "ESTABLISHED", kConf, 1},
        {N, kO, "ESTABLISHED", kConf, 1},
        {E, kR, "FIN_WAIT", kSeen | kConf, 1},
        {E, kO, "CLOSE_WAIT", kSeen | kConf, 1},
        {E, kO, "LAST_ACK", kSeen | kConf, 1},
        {E, kR, "TIME_WAIT", kSeen | kConf, 1},
        Gone(N, kO, 2),
        {I}}},
      {"tcp_syn_recv",
       "nf_conntrack_tcp_timeout_syn_recv",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        Gone(E, kR, 0),
        {N, kO, "ESTABLISHED", kConf, 1},
        {N, kO, "ESTABLISHED", kConf, 1},
        {E, kR, "FIN_WAIT", kSeen | kConf, 1},
        {E, kO, "CLOSE_WAIT", kSeen | kConf, 1},
        {E, kO, "LAST_ACK", kSeen | kConf, 1},
        {E, kR, "TIME_WAIT", kSeen | kConf, 1},
        {N, kO, "SYN_SENT", kConf, 2},
        Gone(N, kO, 3)}},
      {"tcp_established",
       "nf_conntrack_tcp_timeout_established",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        {E, kR, "SYN_RECV", kSeen | kConf, 0},
        Gone(E, kO, 0),
        Gone(N, kO, 1),
        {I},
        Gone(N, kO, 2),
        {I},
        Gone(N, kO, 3),
        {N, kO, "SYN_SENT", kConf, 4},
        Gone(N, kO, 5)}},
      {"tcp_fin_wait",
       "nf_conntrack_tcp_timeout_fin_wait",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        {E, kR, "SYN_RECV", kSeen | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        Gone(E, kR, 0),
        {N, kO, "ESTABLISHED", kConf, 1},
        Gone(N, kO, 1),
        {N, kO, "ESTABLISHED", kConf, 2},
        {N, kO, "SYN_SENT", kConf, 3},
        Gone(N, kO, 4)}},
      {"tcp_close_wait",
       "nf_conntrack_tcp_timeout_close_wait",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        {E, kR, "SYN_RECV", kSeen | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kR, "FIN_WAIT", kSeen | kAssd | kConf, 0},
        Gone(E, kO, 0),
        {I},
        {N, kO, "ESTABLISHED", kConf, 1},
        {N, kO, "SYN_SENT", kConf, 2},
        Gone(N, kO, 3)}},
      {"tcp_last_ack",
       "nf_conntrack_tcp_timeout_last_ack",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        {E, kR, "SYN_RECV", kSeen | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kR, "FIN_WAIT", kSeen | kAssd | kConf, 0},
        {E, kO, "CLOSE_WAIT", kSeen | kAssd | kConf, 0},
        Gone(E, kO, 0),
        {N, kO, "ESTABLISHED", kConf, 1},
        {N, kO, "SYN_SENT", kConf, 2},
        Gone(N, kO, 3)}},
      {"tcp_time_wait",
       "nf_conntrack_tcp_timeout_time_wait",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        {E, kR, "SYN_RECV", kSeen | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kR, "FIN_WAIT", kSeen | kAssd | kConf, 0},
        {E, kO, "CLOSE_WAIT", kSeen | kAssd | kConf, 0},
        {E, kO, "LAST_ACK", kSeen | kAssd | kConf, 0},
        Gone(E, kR, 0),
        {N, kO, "SYN_SENT", kConf, 1},
        Gone(N, kO, 2)}},
      {"tcp_close",
       "nf_conntrack_tcp_timeout_close",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        {E, kR, "SYN_RECV", kSeen | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kR, "FIN_WAIT", kSeen | kAssd | kConf, 0},
        {E, kO, "CLOSE_WAIT", kSeen | kAssd | kConf, 0},
        {E, kO, "LAST_ACK", kSeen | kAssd | kConf, 0},
        {E, kR, "TIME_WAIT", kSeen | kAssd | kConf, 0},
        {N, kO, "SYN_SENT", kConf, 1},
        Gone(N, kO, 2)}},
      {"tcp_unacknowledged",
       "nf_conntrack_tcp_timeout_unacknowledged",
       kTcp,
       {},
       {{N, kO, "SYN_SENT", kConf, 0},
        {E, kR, "SYN_RECV", kSeen | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        Gone(E, kR, 0),
        Gone(N, kO, 1),
        {I},
        Gone(N, kO, 2),
        {N, kO, "SYN_SENT", kConf, 3},
        Gone(N, kO, 4)}},
      {"tcp_max_retrans",
       "nf_conntrack_tcp_timeout_max_retrans",
       kTcp,
       {},
       {Gone(N, kO, 0),
        {I},
        Gone(N, kO, 1),
        Gone(N, kO, 2),
        {I},
        Gone(N, kO, 3),
        {I},
        Gone(N, kO, 4),
        Gone(N, kO, 5),
        {I}}},
      {"sctp_closed",
       "nf_conntrack_sctp_timeout_closed",
       kSctp,
       {},
       {Gone(N, kO, 0),
        {I},
        {I},
        {I},
        {I},
        {I},
        {N, kO, "SHUTDOWN_ACK_SENT", kConf, 1},
        {I},
        {N, kO, "HEARTBEAT_SENT", kConf, 2}}},
      {"sctp_cookie_wait",
       "nf_conntrack_sctp_timeout_cookie_wait",
       kSctp,
       {},
       {{N, kO, "CLOSED", kConf, 0},
        Gone(E, kR, 0),
        {I},
        {I},
        {I},
        {I},
        {N, kO, "SHUTDOWN_ACK_SENT", kConf, 1},
        {I},
        {N, kO, "HEARTBEAT_SENT", kConf, 2}}},
      {"sctp_cookie_echoed",
       "nf_conntrack_sctp_timeout_cookie_echoed",
       kSctp,
       {},
       {{N, kO, "CLOSED", kConf, 0},
        {E, kR, "COOKIE_WAIT", kSeen | kConf, 0},
        Gone(E, kO, 0),
        {I},
        {I},
        {I},
        {N, kO, "SHUTDOWN_ACK_SENT", kConf, 1},
        {I},
        {N, kO, "HEARTBEAT_SENT", kConf, 2}}},
      {"sctp_established",
       "nf_conntrack_sctp_timeout_established",
       kSctp,
       {},
       {{N, kO, "CLOSED", kConf, 0},
        {E, kR, "COOKIE_WAIT", kSeen | kConf, 0},
        {E, kO, "COOKIE_ECHOED", kSeen | kConf, 0},
        Gone(E, kR, 0),
        {I},
        {I},
        {N, kO, "SHUTDOWN_ACK_SENT", kConf, 1},
        {I},
        {N, kO, "HEARTBEAT_SENT", kConf, 2}}},
      {"sctp_shutdown_sent",
       "nf_conntrack_sctp_timeout_shutdown_sent",
       kSctp,
       {},
       {{N, kO, "CLOSED", kConf, 0},
        {E, kR, "COOKIE_WAIT", kSeen | kConf, 0},
        {E, kO, "COOKIE_ECHOED", kSeen | kConf, 0},
        {E, kR, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        Gone(E, kO, 0),
        {N, kO, "SHUTDOWN_ACK_SENT", kConf, 1},
        {I},
        {N, kO, "HEARTBEAT_SENT", kConf, 2}}},
      {"sctp_shutdown_ack_sent",
       "nf_conntrack_sctp_timeout_shutdown_ack_sent",
       kSctp,
       {},
       {{N, kO, "CLOSED", kConf, 0},
        {E, kR, "COOKIE_WAIT", kSeen | kConf, 0},
        {E, kO, "COOKIE_ECHOED", kSeen | kConf, 0},
        {E, kR, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "SHUTDOWN_SENT", kSeen | kAssd | kConf, 0},
        Gone(E, kR, 0),
        {I},
        {N, kO, "HEARTBEAT_SENT", kConf, 1}}},
      {"sctp_heartbeat_sent",
       "nf_conntrack_sctp_timeout_heartbeat_sent",
       kSctp,
       {},
       {{N, kO, "CLOSED", kConf, 0},
        {E, kR, "COOKIE_WAIT", kSeen | kConf, 0},
        {E, kO, "COOKIE_ECHOED", kSeen | kConf, 0},
        {E, kR, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "ESTABLISHED", kSeen | kAssd | kConf, 0},
        {E, kO, "SHUTDOWN_SENT", kSeen | kAssd | kConf, 0},
        {E, kR, "SHUTDOWN_ACK_SENT", kSeen | kAssd | kConf, 0},
        {E, kO, "CLOSED", kSeen | kAssd | kConf, 0},
        Gone(N, kO, 1)}},
  };
  return c;
}

// Keeps ctest's test names free of the case's bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ZeroTimeoutTest : public ::testing::TestWithParam<Case> {};

TEST_P(ZeroTimeoutTest, MatchesKernel) {
  const Case& c = GetParam();
  Config cfg;
  ASSERT_EQ(cfg.Set(c.sysctl, "0"), "");
  Conntrack ct(cfg);
  const std::vector<Bytes> pkts = Packets(c.flow);
  ASSERT_EQ(pkts.size(), c.expect.size());
  for (size_t i = 0; i < pkts.size(); ++i) {
    SCOPED_TRACE("packet " + std::to_string(i));
    const double at = c.times.empty() ? 0.0001 * static_cast<double>(i) : c.times[i];
    const Timestamp now = kNsPerSec + static_cast<Timestamp>(at * 1e9);
    const Expect& e = c.expect[i];
    PacketResult r = ct.ProcessIp(pkts[i].data(), static_cast<uint32_t>(pkts[i].size()), now);
    ASSERT_STREQ(VerdictName(r.verdict), VerdictName(e.verdict));
    if (e.verdict == Verdict::kInvalid) continue;
    EXPECT_EQ(r.dir, e.dir);
    EXPECT_EQ(static_cast<int>(r.entry), e.entry);
    ConnInfo info{};
    const bool found = r.conn != kNoConn && ct.Get(r.conn, now, &info);
    ASSERT_EQ(found, !e.gone);
    if (!found) continue;
    EXPECT_STREQ(StateName(info.orig.protonum, info.state), e.state);
    EXPECT_EQ(StatusNames(info.status), StatusNames(e.status));
  }
  // Nothing the zero timeout applied to is listed afterwards.
  if (c.expect.back().gone) {
    bool listed = false;
    ct.ForEach(kNsPerSec + 3 * kNsPerSec, [&](const ConnInfo& ci) {
      listed |= static_cast<int>(ci.id) == c.expect.back().entry;
    });
    EXPECT_FALSE(listed);
  }
}

// The entry is gone, not just hidden: it does not fill the table. kernel-ct --max 8 --sysctl
// nf_conntrack_udp_timeout=0, 60 UDP flows 0.1 ms apart: all 60 new (entries 0..59), none left
// to read, no drop, no early drop, count 0 afterwards.
TEST(ZeroTimeoutMaxTest, ExpiredEntriesDoNotFillTheTable) {
  Config cfg;
  ASSERT_EQ(cfg.Set("nf_conntrack_udp_timeout", "0"), "");
  ASSERT_EQ(cfg.Set("nf_conntrack_max", "8"), "");
  Conntrack ct(cfg);
  for (int i = 0; i < 60; ++i) {
    SCOPED_TRACE("flow " + std::to_string(i));
    const std::string dst = "10.8.0." + std::to_string(i + 1);
    Bytes p = Udp(kA, dst.c_str(), static_cast<uint16_t>(1000 + i), 53);
    const Timestamp now = kNsPerSec + i * 100 * 1000;
    PacketResult r = ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), now);
    ASSERT_EQ(r.verdict, Verdict::kNew);
    EXPECT_EQ(static_cast<int>(r.entry), i);
    ConnInfo info{};
    EXPECT_FALSE(r.conn != kNoConn && ct.Get(r.conn, now, &info));
  }
  EXPECT_EQ(ct.count(), 0u);
  EXPECT_EQ(ct.stats().drop, 0u);
  EXPECT_EQ(ct.stats().early_drop, 0u);
}

INSTANTIATE_TEST_SUITE_P(Kernel, ZeroTimeoutTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace ctrack
