// Shared runner for the table-driven packet-sequence tests of the non-TCP trackers
// (udp_test.cc, icmp_test.cc, gre_test.cc, sctp_test.cc, generic_test.cc).
//
// A case is a name, sysctl overrides and steps. Each step is one IP datagram at an absolute
// virtual time with the expected verdict, direction, state, status bits, timeout (seconds left
// right after the packet, as the kernel lists it: the value or one less is accepted) and entry
// number (creation order, as kernel-ct numbers entries).
//
// Expectations were checked with the kernel oracle: run the tests with
// CTRACK_ORACLE_DUMP=DIR to write DIR/<case>.pcap (raw IP, linktype 101) plus
// DIR/<case>.expect.tsv, then run /work/shared/oracle/kernel-ct --timing real on each pcap and
// compare verdicts.tsv / packets.jsonl with the expectations.
#ifndef CTRACK_TESTS_PROTO_SEQ_RUNNER_H_
#define CTRACK_TESTS_PROTO_SEQ_RUNNER_H_

#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/stats.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "testing/packet_builder.h"

namespace ctrack::testing::seq {

// Short names for the status bits in sequence tables.
inline constexpr uint16_t kSeen = kSeenReply;
inline constexpr uint16_t kAssd = kAssured;
inline constexpr uint16_t kConf = kConfirmed;
inline constexpr int kAny = -1000;  // timeout / entry not checked

struct Step {
  Bytes pkt;
  double at_s;  // absolute virtual time of the packet, seconds
  Verdict verdict;
  Dir dir = Dir::kOriginal;  // checked when the verdict has an entry
  const char* state = "-";   // StateName(): TCP/SCTP state, "-" otherwise
  uint16_t status = 0;       // IPS_* bits after the packet
  int timeout_s = kAny;      // seconds left after the packet (value or value-1 accepted)
  int entry = kAny;          // creation order number of the attached entry
};

struct Case {
  std::string name;
  std::vector<std::pair<std::string, std::string>> sysctls;
  std::vector<Step> steps;
  // Expected statistics deltas over the whole case (-1: unchecked).
  int invalid = -1;
  int error = -1;
};

inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Step builders, for compact tables.
inline Step New(Bytes p, double t, uint16_t status, int timeout, int entry, const char* st = "-") {
  return Step{std::move(p), t, Verdict::kNew, Dir::kOriginal, st, status, timeout, entry};
}
inline Step Est(Bytes p, double t, Dir d, uint16_t status, int timeout, int entry,
                const char* st = "-") {
  return Step{std::move(p), t, Verdict::kEstablished, d, st, status, timeout, entry};
}
inline Step Rel(Bytes p, double t, Dir d, uint16_t status, int entry, const char* st = "-") {
  return Step{std::move(p), t, Verdict::kRelated, d, st, status, kAny, entry};
}
inline Step Inv(Bytes p, double t) { return Step{std::move(p), t, Verdict::kInvalid}; }
inline Step Untr(Bytes p, double t) { return Step{std::move(p), t, Verdict::kUntracked}; }

inline std::string StatusText(uint16_t s) { return StatusNames(s); }

inline void DumpForOracle(const Case& c) {
  const char* dir = std::getenv("CTRACK_ORACLE_DUMP");
  if (dir == nullptr) return;
  std::vector<PcapRecord> recs;
  std::ofstream exp(std::string(dir) + "/" + c.name + ".expect.tsv");
  for (const Step& s : c.steps) {
    recs.push_back(PcapRecord{static_cast<int64_t>(s.at_s * 1e9) + 1000000000, s.pkt, 0});
    bool tracked = s.verdict == Verdict::kNew || s.verdict == Verdict::kEstablished ||
                   s.verdict == Verdict::kRelated;
    exp << VerdictName(s.verdict) << '\t'
        << (tracked ? (s.dir == Dir::kOriginal ? "original" : "reply") : "-") << '\t'
        << (tracked ? s.state : "-") << '\t' << (tracked ? StatusText(s.status) : "-") << '\t'
        << (tracked && s.entry != kAny ? std::to_string(s.entry) : "-") << '\t'
        << (s.timeout_s != kAny ? std::to_string(s.timeout_s) : "-") << '\n';
  }
  WritePcap(std::string(dir) + "/" + c.name + ".pcap", 101, recs);
  std::ofstream sys(std::string(dir) + "/" + c.name + ".sysctl");
  for (const auto& kv : c.sysctls) sys << kv.first << '=' << kv.second << '\n';
  std::ofstream st(std::string(dir) + "/" + c.name + ".stats");
  st << c.invalid << ' ' << c.error << '\n';
}

inline void RunCase(const Case& c) {
  DumpForOracle(c);
  Config cfg;
  for (const auto& kv : c.sysctls) ASSERT_EQ(cfg.Set(kv.first, kv.second), "") << kv.first;
  Conntrack ct(cfg);
  const Stats before = ct.stats();
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    const Timestamp now = static_cast<Timestamp>(s.at_s * 1e9) + kNsPerSec;
    PacketResult r = ct.ProcessIp(s.pkt.data(), static_cast<uint32_t>(s.pkt.size()), now);
    ASSERT_EQ(VerdictName(r.verdict), std::string(VerdictName(s.verdict)));
    bool tracked = s.verdict == Verdict::kNew || s.verdict == Verdict::kEstablished ||
                   s.verdict == Verdict::kRelated;
    if (!tracked) continue;
    EXPECT_EQ(r.dir, s.dir);
    ConnInfo info{};
    ASSERT_TRUE(ct.Get(r.conn, now, &info));
    EXPECT_EQ(StatusText(info.status), StatusText(s.status));
    EXPECT_STREQ(StateName(info.orig.protonum, info.state), s.state);
    if (s.entry != kAny) {
      EXPECT_EQ(static_cast<int>(info.id), s.entry);
    }
    if (s.timeout_s != kAny) {
      EXPECT_TRUE(info.timeout_s == s.timeout_s || info.timeout_s == s.timeout_s - 1)
          << "timeout " << info.timeout_s << " want " << s.timeout_s;
    }
  }
  const Stats& after = ct.stats();
  if (c.invalid >= 0) {
    EXPECT_EQ(after.invalid - before.invalid, static_cast<uint64_t>(c.invalid));
  }
  if (c.error >= 0) {
    EXPECT_EQ(after.error - before.error, static_cast<uint64_t>(c.error));
  }
}

}  // namespace ctrack::testing::seq

#endif  // CTRACK_TESTS_PROTO_SEQ_RUNNER_H_
