// Early drop's bucket summaries (Table's "Bucket summaries", ctrack_bucket_summaries) against the
// plain scan: the same traffic through an engine that keeps them and one that reads every entry
// must give the same verdict, entry number and deletion for every packet, the same count after
// it, and the same counters at the end. The traffic keeps a small table full while most of its
// entries are ASSURED (the case the summaries are for), and moves expiries both ways: handshakes
// lengthen them, duplicate ACKs (the retransmission clamp), FINs and RSTs shorten them, and short
// timeouts let entries expire between scans. The debug build also checks, at every bucket passed
// over, that a scan would have found nothing (BucketHoldsNothingToTake).
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "testing/engine_compare.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using testing::Bytes;
using testing::PacketBuilder;

struct Trace {
  std::vector<Bytes> pkts;
  std::vector<Timestamp> times;
};

std::string Host(const char* prefix, uint32_t n) {
  return std::string(prefix) + std::to_string(n / 256 % 256) + "." + std::to_string(n % 256);
}

// One TCP conversation, a packet a step: the handshake, then duplicate ACKs and data, then
// (sometimes) a FIN or an RST. Sequence numbers are kept so that every packet is in window.
struct TcpConv {
  std::string c, s;
  uint16_t cport;
  uint32_t cseq, sseq;
  int step = 0;
  int end;      // steps before the close
  int closing;  // 0 none, 1 FIN, 2 RST

  bool Next(Bytes* out) {
    PacketBuilder b;
    const int k = step++;
    if (k == 0) {
      b.Ipv4(c, s).Tcp(cport, 80).Flags(testing::kSyn).Seq(cseq - 1).Win(8192);
    } else if (k == 1) {
      b.Ipv4(s, c).Tcp(80, cport).Flags(testing::kSyn | testing::kAck).Seq(sseq - 1).Ack(cseq);
      b.Win(8192);
    } else if (k < end) {
      // Pure ACKs, repeated (the retransmission counter clamps the timeout) or carrying data.
      const bool from_client = k % 2 == 0;
      const bool data = k % 3 == 0;
      if (from_client) {
        b.Ipv4(c, s).Tcp(cport, 80).Flags(testing::kAck).Seq(cseq).Ack(sseq).Win(8192);
      } else {
        b.Ipv4(s, c).Tcp(80, cport).Flags(testing::kAck).Seq(sseq).Ack(cseq).Win(8192);
      }
      if (data) {
        b.Payload(10);
        (from_client ? cseq : sseq) += 10;
      }
    } else if (k == end && closing != 0) {
      const uint8_t f = closing == 1 ? (testing::kFin | testing::kAck) : testing::kRst;
      b.Ipv4(c, s).Tcp(cport, 80).Flags(f).Seq(cseq).Ack(closing == 1 ? sseq : 0).Win(8192);
    } else {
      return false;
    }
    *out = b.Build();
    return true;
  }
};

// TCP conversations (about kLiveConversations at a time, more than the table holds) and UDP
// exchanges between a few hundred hosts, interleaved at random, with SYNs from sources never seen
// again.
constexpr size_t kLiveConversations = 300;
// With `backwards`, time steps back 20 s now and then (a merged capture), as far as the start.
Trace MakeTrace(uint32_t seed, int packets, bool backwards = false) {
  std::mt19937 rng(seed);
  Trace t;
  std::vector<TcpConv> live;
  uint32_t serial = 0;
  Timestamp now = kNsPerSec;
  while (static_cast<int>(t.pkts.size()) < packets) {
    now += static_cast<Timestamp>(rng() % 5) * kNsPerSec / 1000;
    if (backwards && rng() % 4000 == 0) now = std::max(kNsPerSec, now - 20 * kNsPerSec);
    // One packet in 20 stamped up to 1.2 s early (out of order, as from several capture
    // queues): within the slack no reset is needed, beyond it one is.
    Timestamp stamp = now;
    if (backwards && rng() % 20 == 0) {
      stamp = std::max(kNsPerSec, now - static_cast<Timestamp>(rng() % 1200) * kNsPerSec / 1000);
    }
    const uint32_t what = rng() % 100;
    Bytes p;
    if (what < 80 && !live.empty() && (live.size() >= kLiveConversations || what < 50)) {
      const size_t i = rng() % live.size();
      if (!live[i].Next(&p)) {
        live[i] = live.back();
        live.pop_back();
        continue;
      }
    } else if (what < 80) {
      TcpConv c;
      c.c = Host("10.2.", serial % 2000);
      c.s = "198.51.100.1";
      c.cport = static_cast<uint16_t>(1024 + serial / 2000 % 30000);
      c.cseq = rng() | 1;
      c.sseq = rng() | 1;
      c.end = 3 + static_cast<int>(rng() % 40);
      c.closing = static_cast<int>(rng() % 3);
      ++serial;
      c.Next(&p);
      live.push_back(c);
    } else if (what < 94) {
      const uint32_t h = rng() % 700;
      const bool reply = rng() % 2 == 0;
      PacketBuilder b;
      const std::string src = Host("10.3.", h);
      b.Ipv4(reply ? "192.0.2.9" : src, reply ? src : "192.0.2.9");
      b.Udp(reply ? 53 : static_cast<uint16_t>(5000 + h % 3),
            reply ? static_cast<uint16_t>(5000 + h % 3) : 53);
      b.Payload(12);
      p = b.Build();
    } else {
      // A SYN from a source never seen again: an unassured entry, the one early drop can take.
      PacketBuilder b;
      b.Ipv4(Host("100.64.", rng() % 65536), "198.51.100.2");
      b.Tcp(static_cast<uint16_t>(rng() % 60000 + 1024), 443).Flags(testing::kSyn).Seq(rng());
      p = b.Build();
    }
    t.pkts.push_back(std::move(p));
    t.times.push_back(stamp);
  }
  return t;
}

Config SmallTable(uint32_t max, uint32_t buckets) {
  Config cfg;
  cfg.nf_conntrack_max = max;
  cfg.nf_conntrack_buckets = buckets;
  cfg.nf_conntrack_tcp_timeout_established = 25;
  cfg.nf_conntrack_tcp_timeout_syn_sent = 6;
  cfg.nf_conntrack_tcp_timeout_syn_recv = 5;
  cfg.nf_conntrack_tcp_timeout_fin_wait = 4;
  cfg.nf_conntrack_tcp_timeout_close = 2;
  cfg.nf_conntrack_tcp_timeout_max_retrans = 8;
  cfg.nf_conntrack_tcp_timeout_unacknowledged = 9;
  cfg.nf_conntrack_udp_timeout = 3;
  cfg.nf_conntrack_udp_timeout_stream = 15;
  return cfg;
}

void ExpectSameRun(const Config& cfg, const Trace& t, bool batch, uint64_t min_drops) {
  Config with = cfg, without = cfg;
  with.ctrack_bucket_summaries = 1;
  without.ctrack_bucket_summaries = 0;
  Conntrack a(with), b(without);
  auto same = [&](const PacketResult& ra, const PacketResult& rb, size_t i) {
    ASSERT_EQ(ra.verdict, rb.verdict) << "packet " << i;
    ASSERT_EQ(ra.entry, rb.entry) << "packet " << i;
    ASSERT_EQ(ra.destroyed, rb.destroyed) << "packet " << i;
    ASSERT_EQ(ra.destroyed_reason, rb.destroyed_reason) << "packet " << i;
  };
  if (!batch) {
    for (size_t i = 0; i < t.pkts.size(); ++i) {
      const uint32_t len = static_cast<uint32_t>(t.pkts[i].size());
      PacketResult ra = a.ProcessIp(t.pkts[i].data(), len, t.times[i]);
      PacketResult rb = b.ProcessIp(t.pkts[i].data(), len, t.times[i]);
      ASSERT_NO_FATAL_FAILURE(same(ra, rb, i));
      ASSERT_EQ(a.count(), b.count()) << "packet " << i;
    }
  } else {
    std::vector<PacketResult> oa(32), ob(32);
    std::vector<Frame> frames;
    for (size_t i = 0; i < t.pkts.size(); i += 32) {
      frames.clear();
      for (size_t k = i; k < std::min(t.pkts.size(), i + 32); ++k) {
        const uint32_t len = static_cast<uint32_t>(t.pkts[k].size());
        frames.push_back(Frame{t.pkts[k].data(), len, len, t.times[k]});
      }
      a.ProcessBatch(kLinkRaw, frames, std::span<PacketResult>(oa.data(), frames.size()));
      b.ProcessBatch(kLinkRaw, frames, std::span<PacketResult>(ob.data(), frames.size()));
      for (size_t k = 0; k < frames.size(); ++k) ASSERT_NO_FATAL_FAILURE(same(oa[k], ob[k], i + k));
      ASSERT_EQ(a.count(), b.count()) << "batch at " << i;
    }
  }
  // The traffic did what the comparison needs: a full table, early drops and drops, expiries,
  // and buckets passed over; the plain engine never passes over one.
  EXPECT_GT(a.stats().early_drop, 100u);
  EXPECT_GE(a.stats().drop, min_drops);
  EXPECT_GT(a.counters().expired, 100u);
  EXPECT_GT(a.counters().early_drop_buckets_skipped, 1000u);
  EXPECT_EQ(b.counters().early_drop_buckets_skipped, 0u);
  testing::ExpectSameCounters(a, b);
}

// Half an entry a bucket when full and one in two buckets (lookups on the chains; many refusals),
// and two a bucket (the tag index; eight buckets rarely hold only ASSURED entries there, so early
// drop nearly always finds a victim); each one packet at a time and in batches.
TEST(BucketSummaries, SameVerdictsAsScanningEveryEntry) {
  const Trace t = MakeTrace(11, 60000);
  struct Case {
    uint32_t max, buckets;
    uint64_t min_drops;
  };
  for (const Case& c : {Case{256, 512, 1000}, Case{120, 240, 1000}, Case{256, 128, 1}}) {
    for (bool batch : {false, true}) {
      SCOPED_TRACE("max " + std::to_string(c.max) + " buckets " + std::to_string(c.buckets) +
                   (batch ? " batch" : " one at a time"));
      ExpectSameRun(SmallTable(c.max, c.buckets), t, batch, c.min_drops);
      if (HasFatalFailure()) return;
    }
  }
}

// Time that steps backwards, by 20 s now and then and by up to 1.2 s often: a bound computed at a
// later instant must stay below what a refresh at the earlier one sets (Conntrack's SummaryClock
// and kSummarySlack).
TEST(BucketSummaries, SameVerdictsWhenTimeGoesBackwards) {
  const Trace t = MakeTrace(12, 60000, /*backwards=*/true);
  for (bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "batch" : "one at a time");
    ExpectSameRun(SmallTable(256, 512), t, batch, 1000);
    if (HasFatalFailure()) return;
  }
}

// A packet stamped a little before the latest one seen (within kSummarySlack, so no reset)
// refreshes an ASSURED entry to exactly the floor (UDP timeouts of 10 s both): the bound a walk
// just computed must already lie below that expiry, or the walk after it expires would pass over
// the entry and refuse a connection the kernel admits.
TEST(BucketSummaries, LatePacketWithinTheSlackKeepsTheBoundBelowItsExpiry) {
  Config cfg;
  cfg.nf_conntrack_max = 4;
  cfg.nf_conntrack_buckets = 1;
  cfg.nf_conntrack_udp_timeout = 10;
  cfg.nf_conntrack_udp_timeout_stream = 10;
  Config plain_cfg = cfg;
  plain_cfg.ctrack_bucket_summaries = 0;
  Conntrack a(cfg), b(plain_cfg);
  auto udp = [](uint32_t h, bool reply) {
    PacketBuilder p;
    const std::string src = Host("10.5.", h);
    p.Ipv4(reply ? "192.0.2.2" : src, reply ? src : "192.0.2.2");
    p.Udp(reply ? 53 : 4000, reply ? 4000 : 53).Payload(4);
    return p.Build();
  };
  auto syn = [](uint32_t h) {
    PacketBuilder p;
    p.Ipv4(Host("100.66.", h), "198.51.100.4").Tcp(1234, 443).Flags(testing::kSyn).Seq(h);
    return p.Build();
  };
  std::vector<Verdict> seen;
  auto both = [&](const Bytes& p, Timestamp t) {
    const uint32_t len = static_cast<uint32_t>(p.size());
    const PacketResult ra = a.ProcessIp(p.data(), len, t);
    const PacketResult rb = b.ProcessIp(p.data(), len, t);
    EXPECT_EQ(ra.verdict, rb.verdict) << "at " << t;
    EXPECT_EQ(a.count(), b.count()) << "at " << t;
    seen.push_back(rb.verdict);
  };
  const Timestamp s = kNsPerSec;
  for (uint32_t h = 0; h < 4; ++h) {
    both(udp(h, false), 1 * s + h);
    both(udp(h, true), 1 * s + 10 + h);
  }
  // Seen again more than 2 s later: streams, ASSURED, expiring at 13.5 s.
  for (uint32_t h = 0; h < 4; ++h) both(udp(h, false), 3 * s + s / 2 + h);
  both(syn(1), 3 * s + s / 2 + 100);  // full of ASSURED entries: refused, the bucket walked
  ASSERT_EQ(seen.back(), Verdict::kDrop);
  // Flow 0 again, stamped half a second early: it now expires at 13 s.
  both(udp(0, false), 3 * s);
  both(syn(2), 13 * s + s / 10);  // 13.1 s: flow 0 has expired, the others have not
  EXPECT_EQ(seen.back(), Verdict::kNew);
}

// A table full of ASSURED entries refuses new connections; once each bucket has been read, its
// summary lets the refusals read no entry. Every refused SYN leaves the table as it was.
TEST(BucketSummaries, FullAssuredTableRefusesWithoutScanningTwice) {
  Config cfg;
  cfg.nf_conntrack_max = 256;
  cfg.nf_conntrack_buckets = 64;
  Conntrack ct(cfg);
  Timestamp now = kNsPerSec;
  auto udp = [&](uint32_t h, bool reply) {
    PacketBuilder b;
    const std::string src = Host("10.4.", h);
    b.Ipv4(reply ? "192.0.2.1" : src, reply ? src : "192.0.2.1");
    b.Udp(reply ? 53 : 4000, reply ? 4000 : 53).Payload(4);
    return b.Build();
  };
  for (uint32_t h = 0; h < 256; ++h) {
    for (bool reply : {false, true}) {
      Bytes p = udp(h, reply);
      ASSERT_NE(ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), now += 1000).verdict,
                Verdict::kDrop);
    }
  }
  now += 3 * kNsPerSec;
  for (uint32_t h = 0; h < 256; ++h) {
    Bytes p = udp(h, false);
    ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), now += 1000);
  }
  ASSERT_EQ(ct.count(), 256u);
  std::mt19937 rng(3);
  uint64_t skipped_first_pass = 0;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 2000; ++i) {
      PacketBuilder b;
      b.Ipv4(Host("100.65.", rng() % 65536), "198.51.100.3").Tcp(1234, 443);
      b.Flags(testing::kSyn).Seq(rng());
      Bytes p = b.Build();
      EXPECT_EQ(ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), now += 1000).verdict,
                Verdict::kDrop);
    }
    if (round == 0) skipped_first_pass = ct.counters().early_drop_buckets_skipped;
  }
  EXPECT_EQ(ct.count(), 256u);
  EXPECT_EQ(ct.stats().early_drop, 0u);
  EXPECT_EQ(ct.stats().drop, 4000u);
  // Second round: each refusal passes over its own bucket's reap and all 8 of early drop's
  // buckets (64 buckets, all read in the first round).
  EXPECT_EQ(ct.counters().early_drop_buckets_skipped - skipped_first_pass, 2000u * 9);
}

}  // namespace
}  // namespace ctrack
