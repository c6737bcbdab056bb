// The table against a model: random inserts, lookups (both directions) and deletes on
// core/table.h, checked after every step against a std::unordered_map of the live tuples, once
// with the keyed hash and once with the constant hash that puts every node in one chain (the walk
// must then pass over every foreign node, tag-matched or not). Then early drop and the GC on a
// manual clock through the public engine.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <unordered_map>
#include <vector>

#include "core/conn.h"
#include "core/table.h"
#include "testing/engine_compare.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

struct TupleHash {
  size_t operator()(const Tuple& t) const {
    uint64_t w[5];
    std::memcpy(w, &t, sizeof w);
    uint64_t h = 0;
    for (uint64_t x : w) h = (h ^ x) * 0x9e3779b97f4a7c15ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

// A UDP or TCP tuple (one slot or a pair, core/conn.h) from a small space, so that inserts,
// hits and misses all occur.
Tuple RandomTuple(std::mt19937& rng) {
  Tuple t{};
  t.l3num = kAfInet;
  t.protonum = rng() % 2 ? kProtoUdp : kProtoTcp;
  t.src[0] = 10;
  t.src[3] = static_cast<uint8_t>(rng() % 16);
  t.dst[0] = 192;
  t.dst[3] = static_cast<uint8_t>(rng() % 4);
  t.src_id = static_cast<uint16_t>(1000 + rng() % 8);
  t.dst_id = 53;
  return t;
}

constexpr Timestamp kNever = Timestamp{1} << 62;

// Allocates, confirms and links an entry for `t` as the engine would; returns its index.
uint32_t LinkEntry(Table& table, const Tuple& t, Timestamp expires) {
  table.IncCount();
  const uint32_t idx = table.AllocEntry(t.protonum);
  Conn& ct = table.at(idx);
  ct.orig = t;
  ct.expires = expires;
  ct.status = kConfirmed;
  // A pattern in the pair's second slot that CheckSlots() reads back: no neighbour may write it.
  if (ConnHasExt(t.protonum)) ct.tcp().last_seq = ct.tcp().last_ack = idx * 2654435761u;
  table.Link(idx, table.Hash(t), expires);
  return idx;
}

// A walk of the slots in order (NextEntry) meets exactly the model's entries, each intact, and
// IsEntry() tells every first slot from a pair's second.
void CheckSlots(const Table& table, const std::unordered_map<Tuple, uint32_t, TupleHash>& model) {
  std::unordered_map<uint32_t, Tuple> live;
  for (const auto& [t, idx] : model) live[idx] = t;
  size_t seen = 0;
  uint32_t expect_next = 0;
  for (uint32_t i = 0; i < table.high_water(); ++i) {
    ASSERT_EQ(table.IsEntry(i), i == expect_next) << "slot " << i;
    if (i != expect_next) continue;
    expect_next = table.NextEntry(i);
    const Conn& ct = table.at(i);
    if (!ct.confirmed()) continue;
    auto it = live.find(i);
    ASSERT_NE(it, live.end()) << "slot " << i;
    ASSERT_TRUE(ct.orig == it->second);
    if (ConnHasExt(ct.orig.protonum)) {
      ASSERT_EQ(i % 2, 0u);
      ASSERT_EQ(ct.tcp().last_seq, i * 2654435761u);
      ASSERT_EQ(ct.tcp().last_ack, i * 2654435761u);
    }
    ++seen;
  }
  EXPECT_EQ(seen, model.size());
}

void RunModel(bool constant_hash, uint32_t seed, uint32_t buckets, bool indexed) {
  Config cfg;
  cfg.nf_conntrack_max = 4096;
  cfg.nf_conntrack_buckets = buckets;
  Table table(cfg);
  table.SetConstantHashForTest(constant_hash);
  ASSERT_EQ(table.indexed(), indexed);
  std::unordered_map<Tuple, uint32_t, TupleHash> model;  // original tuple -> entry index
  std::mt19937 rng(seed);
  uint64_t reaped = 0;
  for (int step = 0; step < 4000; ++step) {
    const Tuple t = RandomTuple(rng);
    Tuple reply;
    ASSERT_TRUE(InvertTuple(t, &reply));
    uint32_t first = kNoConn;
    NodeRef n = table.Find(t, 0, &reaped, &first);
    NodeRef nr = table.Find(reply, 0, &reaped, &first);
    auto it = model.find(t);
    auto rit = model.find(reply);
    // Lookups agree with the model in both directions.
    if (it != model.end()) {
      ASSERT_NE(n, kNil) << "step " << step;
      EXPECT_EQ(NodeIndex(n), it->second);
      EXPECT_EQ(NodeDir(n), Dir::kOriginal);
    } else if (rit == model.end()) {
      ASSERT_EQ(n, kNil) << "step " << step;
    }
    if (rit != model.end()) {
      ASSERT_NE(nr, kNil);
      EXPECT_EQ(NodeIndex(nr), rit->second);
    } else if (it != model.end()) {
      ASSERT_NE(nr, kNil);
      EXPECT_EQ(NodeIndex(nr), it->second);
      EXPECT_EQ(NodeDir(nr), Dir::kReply);
    }
    const bool present = it != model.end() || rit != model.end();
    if (!present && rng() % 3 != 0) {
      model[t] = LinkEntry(table, t, kNever);
    } else if (present && rng() % 2 == 0) {
      uint32_t idx = it != model.end() ? it->second : rit->second;
      table.Delete(idx);
      model.erase(it != model.end() ? it : rit);
    }
    if (step % 500 == 499) {
      // A group delete of 40 entries (more than one of DeleteMany's steps), one of them an
      // unconfirmed entry that was never linked.
      std::vector<uint32_t> group;
      table.IncCount();
      group.push_back(table.AllocEntry(kProtoUdp));
      for (auto mit = model.begin(); mit != model.end() && group.size() < 40;) {
        if (rng() % 2 == 0) {
          group.push_back(mit->second);
          mit = model.erase(mit);
        } else {
          ++mit;
        }
      }
      table.DeleteMany(group);
    }
    // Every entry is counted once and linked twice (original and reply node).
    ASSERT_EQ(table.count(), model.size());
    if (step % 97 == 0) {
      uint64_t nodes = 0;
      for (uint32_t b = 0; b < table.buckets(); ++b) nodes += table.ChainLength(b);
      ASSERT_EQ(nodes, 2 * model.size());
      CheckSlots(table, model);
      if (constant_hash) {
        EXPECT_EQ(table.ChainLength(0), 2 * model.size());
      }
    }
  }
  EXPECT_EQ(reaped, 0u);  // nothing expires in this test
  EXPECT_GT(model.size(), 10u);
}

// max 4096: 4096 buckets keep the lookups on the chains, 64 (128 nodes a bucket when full)
// put them on the tag index. With the constant hash every node is in one chain, or in one run
// of index groups from group 0 on (every full group sends nodes on to the next).
TEST(TableModel, KeyedHashMatchesUnorderedMap) { RunModel(false, 1, 4096, false); }
TEST(TableModel, OneChainMatchesUnorderedMap) { RunModel(true, 2, 4096, false); }
TEST(TableModel, IndexedKeyedHashMatchesUnorderedMap) { RunModel(false, 3, 64, true); }
TEST(TableModel, IndexedOneRunMatchesUnorderedMap) { RunModel(true, 4, 64, true); }

// A UDP tuple from a space of 2^16 sources, enough for the table to pass kIndexMinEntries.
Tuple WideTuple(std::mt19937& rng) {
  Tuple t = RandomTuple(rng);
  t.src[1] = static_cast<uint8_t>(rng());
  t.src[2] = static_cast<uint8_t>(rng());
  return t;
}

// Lookups in both directions agree with the model.
void ExpectLookupsMatch(Table& table, const std::unordered_map<Tuple, uint32_t, TupleHash>& model,
                        std::mt19937& rng, Timestamp now) {
  uint64_t reaped = 0;
  uint32_t first = kNoConn;
  for (const auto& [t, idx] : model) {
    if (rng() % 8 != 0) continue;
    Tuple reply;
    ASSERT_TRUE(InvertTuple(t, &reply));
    NodeRef n = table.Find(t, now, &reaped, &first);
    ASSERT_NE(n, kNil);
    EXPECT_EQ(NodeIndex(n), idx);
    EXPECT_EQ(NodeDir(n), Dir::kOriginal);
    NodeRef nr = table.Find(reply, now, &reaped, &first);
    ASSERT_NE(nr, kNil);
    EXPECT_EQ(NodeIndex(nr), idx);
    EXPECT_EQ(NodeDir(nr), Dir::kReply);
  }
  for (int i = 0; i < 200; ++i) {
    const Tuple t = WideTuple(rng);
    if (model.count(t) == 0) {
      EXPECT_EQ(table.Find(t, now, &reaped, &first), kNil);
    }
  }
  EXPECT_EQ(reaped, 0u);
}

// The batch pipeline's probes (ProbeHead, ProbeNext) are made, then entries are linked and
// deleted, then FindProbed answers for the probed tuples: it must give what a full lookup gives
// now, whatever happened in between. A few buckets and a small tuple space make every case
// frequent: a found node unlinked and its slot reused (the free lists hand back the slot last
// freed), the tuple linked after an absent probe, a foreign node at the head unlinked and
// another of the same tag linked into its slot at the same place.
void RunProbes(int lookup_index, uint32_t seed, uint32_t buckets, uint32_t max) {
  Config cfg;
  cfg.nf_conntrack_max = max;
  cfg.nf_conntrack_buckets = buckets;
  cfg.ctrack_lookup_index = lookup_index;
  Table table(cfg);
  std::unordered_map<Tuple, uint32_t, TupleHash> model;
  std::vector<Tuple> live;
  std::mt19937 rng(seed);
  uint64_t reaped = 0;
  int kinds[3] = {0, 0, 0};  // probes that ended found, absent, undecided
  for (int round = 0; round < 20000; ++round) {
    Tuple probed[8];
    Table::Probe probe[8];
    const int k = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < k; ++i) {
      probed[i] = RandomTuple(rng);
      if (rng() % 4 == 0) {
        ASSERT_TRUE(InvertTuple(probed[i], &probed[i]));
      }
      const uint64_t h = table.Hash(probed[i]);
      table.ProbeHead(h, ConnHasExt(probed[i].protonum), &probe[i]);
      for (int step = 0; step < 7 && probe[i].more; ++step) table.ProbeNext(h, &probe[i]);
      kinds[probe[i].found ? 0 : probe[i].absent ? 1 : 2]++;
    }
    const int ops = static_cast<int>(rng() % 4);
    for (int o = 0; o < ops; ++o) {
      // Half the links are of a probed tuple, half the deletes of the newest entry (whose node
      // heads its chain).
      const Tuple t = rng() % 2 ? probed[rng() % k] : RandomTuple(rng);
      Tuple reply;
      ASSERT_TRUE(InvertTuple(t, &reply));
      if (model.count(t) == 0 && model.count(reply) == 0 && table.count() < cfg.nf_conntrack_max &&
          rng() % 2 == 0) {
        model[t] = LinkEntry(table, t, kNever);
        live.push_back(t);
      } else if (!live.empty()) {
        const size_t v = rng() % 2 ? live.size() - 1 : rng() % live.size();
        table.Delete(model[live[v]]);
        model.erase(live[v]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(v));
      }
    }
    for (int i = 0; i < k; ++i) {
      uint32_t first = kNoConn;
      const uint64_t h = table.Hash(probed[i]);
      const NodeRef want = table.FindHashed(h, probed[i], 0, &reaped, &first);
      const NodeRef got = table.FindProbed(h, probed[i], probe[i], 0, &reaped, &first);
      ASSERT_EQ(got, want) << "round " << round << " probe " << i;
    }
  }
  EXPECT_EQ(reaped, 0u);
  EXPECT_GT(kinds[0], 1000);
  EXPECT_GT(kinds[1], 1000);
}

TEST(TableModel, ProbedLookupsOnChainsMatchFullLookups) { RunProbes(2, 5, 4, 64); }
// One chain of a few entries: a probe finds no node of its tag often enough that the head's
// node, unlinked and its slot linked again with the same tag, meets a tuple linked in between.
TEST(TableModel, ProbedLookupsOnOneShortChainMatchFullLookups) { RunProbes(2, 7, 1, 8); }
TEST(TableModel, ProbedLookupsOnIndexMatchFullLookups) { RunProbes(1, 6, 4, 64); }

// The lookup structure follows the configuration (kIndexOn): chains at the kernel's default
// ratio, the index from kIndexOn nodes a bucket at max on, and for a table without a max.
TEST(TableModel, LookupStructureFollowsConfig) {
  Config cfg;
  cfg.nf_conntrack_buckets = 1000;
  cfg.nf_conntrack_max = 1000;  // the kernel's default ratio
  EXPECT_FALSE(Table(cfg).indexed());
  cfg.nf_conntrack_max = kIndexOn * 1000 / 2 - 1;
  EXPECT_FALSE(Table(cfg).indexed());
  cfg.nf_conntrack_max = kIndexOn * 1000 / 2;
  EXPECT_TRUE(Table(cfg).indexed());
  cfg.nf_conntrack_max = 8000;  // the rule of thumb
  EXPECT_TRUE(Table(cfg).indexed());
  cfg.nf_conntrack_max = 0;
  EXPECT_TRUE(Table(cfg).indexed());
  cfg.ctrack_lookup_index = 2;  // the chains always
  EXPECT_FALSE(Table(cfg).indexed());
  cfg.nf_conntrack_max = 1000;
  cfg.ctrack_lookup_index = 1;  // the index always
  EXPECT_TRUE(Table(cfg).indexed());
}

// A table without a max: its index doubles as it fills (each doubling rebuilt from the
// entries), keeps agreeing with the model through deletions, and expired entries are reaped
// by the lookups that meet them.
TEST(TableModel, GrowingIndexMatchesUnorderedMap) {
  Config cfg;
  cfg.nf_conntrack_max = 0;  // no limit
  cfg.nf_conntrack_buckets = 64;
  Table table(cfg);
  ASSERT_TRUE(table.indexed());
  std::unordered_map<Tuple, uint32_t, TupleHash> model;
  std::mt19937 rng(3);
  auto insert = [&](Timestamp expires) {
    Tuple t = WideTuple(rng), reply;
    ASSERT_TRUE(InvertTuple(t, &reply));
    if (model.count(t) || model.count(reply)) return;
    uint64_t reaped = 0;
    uint32_t first = kNoConn;
    ASSERT_EQ(table.Find(t, 0, &reaped, &first), kNil);
    model[t] = LinkEntry(table, t, expires);
  };
  auto erase_some = [&](size_t keep) {
    while (model.size() > keep) {
      auto it = model.begin();
      std::advance(it, rng() % std::min<size_t>(model.size(), 64));
      table.Delete(it->second);
      model.erase(it);
    }
  };
  while (model.size() < 1000) insert(kNever);
  ExpectLookupsMatch(table, model, rng, 0);
  const size_t small = table.memory_bytes();
  while (model.size() < 20000) insert(kNever);
  EXPECT_GT(table.memory_bytes(), small);  // the index grew
  ExpectLookupsMatch(table, model, rng, 0);
  erase_some(5000);
  ExpectLookupsMatch(table, model, rng, 0);
  while (model.size() < 12000) insert(kNever);  // reuses freed slots and entries
  ExpectLookupsMatch(table, model, rng, 0);
  for (const auto& [t, idx] : model) table.Delete(idx);
  model.clear();
  EXPECT_EQ(table.count(), 0u);

  // Every entry expires at 1000; lookups at 2000 find none of them and reap them all.
  while (model.size() < 6000) insert(1000);
  uint64_t reaped = 0;
  uint32_t first = kNoConn;
  for (int round = 0; round < 200 && table.count() > 0; ++round) {
    for (const auto& [t, idx] : model) EXPECT_EQ(table.Find(t, 2000, &reaped, &first), kNil);
  }
  EXPECT_EQ(table.count(), 0u);
  EXPECT_EQ(reaped, 6000u);
}

// A UDP datagram from 10.0.x.y:1000 to 192.0.2.1:53.
testing::Bytes Udp(uint32_t i) {
  return testing::PacketBuilder()
      .Ipv4("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), "192.0.2.1")
      .Udp(1000, 53)
      .Payload(8)
      .Build();
}

// A full table of one bucket whose entries have all expired since the GC's last pass (the UDP
// timeout is 30 s; the GC ran at 1 s and next at 1 s plus the average lifetime left, about 30 s,
// when none had expired yet): the new connection's lookup walks the chain and reaps them all,
// as ____nf_conntrack_find() does, so it is admitted with no early drop and no drop, on the
// chains and on the tag index alike.
TEST(EarlyDropClock, FullTableOfExpiredEntriesAdmits) {
  for (uint32_t mode : {1u, 2u}) {
    SCOPED_TRACE(mode == 1 ? "index" : "chains");
    Config cfg;
    cfg.nf_conntrack_max = 8;
    cfg.nf_conntrack_buckets = 1;
    cfg.ctrack_lookup_index = mode;
    Conntrack ct(cfg);
    for (uint32_t i = 0; i < 8; ++i) {
      testing::Bytes p = Udp(i);
      ASSERT_EQ(ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), i).verdict, Verdict::kNew);
    }
    testing::Bytes p = Udp(100);
    PacketResult r =
        ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), 30 * kNsPerSec + kNsPerSec / 2);
    EXPECT_EQ(r.verdict, Verdict::kNew);
    EXPECT_EQ(ct.stats().early_drop, 0u);
    EXPECT_EQ(ct.stats().drop, 0u);
    EXPECT_EQ(ct.counters().expired, 8u);
    EXPECT_EQ(ct.count(), 1u);
    EXPECT_EQ(r.destroyed, 7u);  // the first reaped: the newest, at the head of the chain
  }
}

// Table full of unassured entries: the next new connection evicts the unassured entries of the
// first bucket with any, among the 8 that early drop scans (early_drop_list(),
// nf_conntrack_core.c), and the count stays within max.
TEST(EarlyDropClock, FullTableEvictsUnassured) {
  Config cfg;
  cfg.nf_conntrack_max = 64;
  cfg.nf_conntrack_buckets = 8;  // the 8-bucket scan covers the whole table
  Conntrack ct(cfg);
  Timestamp now = kNsPerSec;
  for (uint32_t i = 0; i < 64; ++i) {
    testing::Bytes p = Udp(i);
    ASSERT_EQ(ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), now).verdict, Verdict::kNew);
    now += kNsPerSec / 1000;
  }
  EXPECT_EQ(ct.count(), 64u);
  EXPECT_EQ(ct.stats().early_drop, 0u);
  testing::Bytes p = Udp(1000);
  PacketResult r = ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), now);
  EXPECT_EQ(r.verdict, Verdict::kNew);
  EXPECT_EQ(r.destroyed_reason, DestroyReason::kEarlyDrop);
  const uint64_t dropped = ct.stats().early_drop;
  EXPECT_GE(dropped, 1u);
  EXPECT_EQ(ct.count(), 64u + 1u - dropped);
  EXPECT_EQ(ct.stats().drop, 0u);
}

// The GC reaps expired entries without any lookup of theirs, on the virtual clock only: nothing
// before nf_conntrack_udp_timeout (30 s), everything once a full GC interval (at most 60 s,
// gc_worker()) has passed after it.
TEST(GcClock, ReapsExpiredEntriesOnVirtualTime) {
  Config cfg;
  cfg.nf_conntrack_max = 4096;
  cfg.nf_conntrack_buckets = 1024;
  Conntrack ct(cfg);
  const Timestamp t0 = 10 * kNsPerSec;
  for (uint32_t i = 0; i < 1000; ++i) {
    testing::Bytes p = Udp(i);
    ct.ProcessIp(p.data(), static_cast<uint32_t>(p.size()), t0);
  }
  ASSERT_EQ(ct.count(), 1000u);
  // A frame that is not IP reaches no entry but lets the GC catch up with the clock.
  const uint8_t arp[14] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06};
  ct.ProcessFrame(kLinkEthernet, arp, sizeof arp, sizeof arp, t0 + 29 * kNsPerSec);
  EXPECT_EQ(ct.count(), 1000u);
  EXPECT_EQ(ct.counters().expired, 0u);
  ct.ProcessFrame(kLinkEthernet, arp, sizeof arp, sizeof arp, t0 + (30 + 61) * kNsPerSec);
  EXPECT_EQ(ct.count(), 0u);
  EXPECT_EQ(ct.counters().expired, 1000u);
}

// The same packets through a table on its chains and one on the tag index: every verdict,
// entry number and deletion, the count after every packet and the counters at the end are the
// same. The traffic overloads a small table (early drop, drops) while entries expire and are
// reaped by lookups, the GC and early drop; the batch path runs in both.
TEST(TableModel, ChainsAndIndexGiveTheSameResults) {
  std::mt19937 rng(9);
  std::vector<testing::Bytes> pkts;
  std::vector<Timestamp> times;
  Timestamp now = kNsPerSec;
  for (int i = 0; i < 30000; ++i) {
    const uint32_t host = rng() % 3000;
    const std::string src = "10.1." + std::to_string(host / 256) + "." + std::to_string(host % 256);
    const bool reply = rng() % 3 == 0;
    testing::PacketBuilder b;
    if (rng() % 2 == 0) {
      b.Ipv4(reply ? "192.0.2.7" : src, reply ? src : "192.0.2.7");
      b.Udp(reply ? 53 : static_cast<uint16_t>(2000 + host % 7),
            reply ? static_cast<uint16_t>(2000 + host % 7) : 53);
      b.Payload(8);
    } else {
      b.Ipv4(src, "198.51.100.1").Tcp(static_cast<uint16_t>(3000 + host % 5), 80);
      b.Flags(testing::kSyn).Seq(rng());
    }
    pkts.push_back(b.Build());
    now += static_cast<Timestamp>(rng() % 20) * kNsPerSec / 1000;  // ~100 s in all
    times.push_back(now);
  }
  Config cfg;
  cfg.nf_conntrack_max = 1500;
  cfg.nf_conntrack_buckets = 512;
  cfg.nf_conntrack_udp_timeout = 5;
  cfg.nf_conntrack_tcp_timeout_syn_sent = 8;
  Config chains = cfg, index = cfg;
  chains.ctrack_lookup_index = 2;
  index.ctrack_lookup_index = 1;
  for (bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "batch" : "one at a time");
    Conntrack a(chains), b(index);
    std::vector<Frame> frames;
    for (size_t i = 0; i < pkts.size(); ++i) {
      const uint32_t len = static_cast<uint32_t>(pkts[i].size());
      if (!batch) {
        PacketResult ra = a.ProcessIp(pkts[i].data(), len, times[i]);
        PacketResult rb = b.ProcessIp(pkts[i].data(), len, times[i]);
        ASSERT_EQ(ra.verdict, rb.verdict) << "packet " << i;
        ASSERT_EQ(ra.entry, rb.entry) << "packet " << i;
        ASSERT_EQ(ra.destroyed, rb.destroyed) << "packet " << i;
        ASSERT_EQ(ra.destroyed_reason, rb.destroyed_reason) << "packet " << i;
        ASSERT_EQ(a.count(), b.count()) << "packet " << i;
      }
    }
    if (batch) {
      // Raw IP frames in batches of 32, as a capture of linktype raw would come.
      std::vector<PacketResult> oa(32), ob(32);
      for (size_t i = 0; i < pkts.size(); i += 32) {
        frames.clear();
        for (size_t k = i; k < std::min(pkts.size(), i + 32); ++k) {
          const uint32_t len = static_cast<uint32_t>(pkts[k].size());
          frames.push_back(Frame{pkts[k].data(), len, len, times[k]});
        }
        a.ProcessBatch(kLinkRaw, frames, std::span<PacketResult>(oa.data(), frames.size()));
        b.ProcessBatch(kLinkRaw, frames, std::span<PacketResult>(ob.data(), frames.size()));
        for (size_t k = 0; k < frames.size(); ++k) {
          ASSERT_EQ(oa[k].verdict, ob[k].verdict) << "packet " << i + k;
          ASSERT_EQ(oa[k].entry, ob[k].entry) << "packet " << i + k;
          ASSERT_EQ(oa[k].destroyed, ob[k].destroyed) << "packet " << i + k;
        }
        ASSERT_EQ(a.count(), b.count()) << "batch at " << i;
      }
    }
    EXPECT_GT(a.stats().early_drop, 0u);
    EXPECT_GT(a.counters().expired, 0u);
    testing::ExpectSameCounters(a, b);
  }
}

// A table of pairs alone (TCP) keeps no reply link places: rlinks_ is made with the first
// single, and from then on every single, wherever its slot, has its link. The singles come
// after 20,000 pairs, so the first one's slot is far past index 0, then more pairs, more
// singles (the array grows again once links_ does), and every lookup in both directions, the
// chains and the slots still agree with the model.
TEST(TableModel, ReplyLinksComeWithTheFirstSingle) {
  Config cfg;
  cfg.nf_conntrack_max = 0;
  cfg.nf_conntrack_buckets = 16384;
  cfg.ctrack_lookup_index = 2;  // the chains (and so LinkOf) serve the lookups
  Table table(cfg);
  std::unordered_map<Tuple, uint32_t, TupleHash> model;
  std::mt19937 rng(11);
  auto add = [&](uint8_t proto, size_t n) {
    for (size_t i = 0; i < n;) {
      Tuple t = WideTuple(rng), reply;
      t.protonum = proto;
      ASSERT_TRUE(InvertTuple(t, &reply));
      if (model.count(t) || model.count(reply)) continue;
      model[t] = LinkEntry(table, t, kNever);
      ++i;
    }
  };
  add(kProtoTcp, 20000);
  const size_t pairs_only = table.memory_bytes();
  add(kProtoUdp, 1);
  // The reply links of every slot made so far: at least 4 bytes for each of the 40,000.
  EXPECT_GE(table.memory_bytes(), pairs_only + 4 * 40000);
  add(kProtoTcp, 30000);  // links_ grows past rlinks_
  add(kProtoUdp, 3000);
  ExpectLookupsMatch(table, model, rng, 0);
  uint64_t nodes = 0;
  for (uint32_t b = 0; b < table.buckets(); ++b) nodes += table.ChainLength(b);
  EXPECT_EQ(nodes, 2 * model.size());
  CheckSlots(table, model);
}

// A table whose max is far below one chunk keeps every entry in its small first chunk
// (AddChunk's bound of 4 (max + 1) slots) under the worst churn of single slots and pairs: runs
// of one class fill the table, then it empties and the other class fills it, with odd high
// waters that leave pads behind. The table refuses to run past its first chunk, so an
// overrun fails here rather than writing past it.
TEST(TableModel, SmallTableChurnOfSinglesAndPairsStaysInItsFirstChunk) {
  for (uint32_t max : {1u, 2u, 3u, 7u, 64u}) {
    Config cfg;
    cfg.nf_conntrack_max = max;
    cfg.nf_conntrack_buckets = 16;
    Table table(cfg);
    std::mt19937 rng(max);
    std::vector<uint32_t> live;
    uint32_t serial = 0;
    for (int round = 0; round < 200; ++round) {
      const bool pairs = rng() % 2;
      // Fill to max (+1 transiently, as a packet whose early drop is pending holds one more).
      while (live.size() <= max) {
        Tuple t{};
        t.l3num = kAfInet;
        t.protonum = (pairs ? rng() % 8 != 0 : rng() % 8 == 0) ? kProtoTcp : kProtoUdp;
        t.src[0] = 10;
        std::memcpy(t.src + 1, &serial, 3);
        ++serial;
        t.dst[0] = 192;
        t.src_id = 1;
        t.dst_id = 2;
        ASSERT_NO_THROW(live.push_back(LinkEntry(table, t, kNever))) << "max " << max;
      }
      // Then free all but a random few.
      std::shuffle(live.begin(), live.end(), rng);
      const size_t keep = rng() % 2 ? 0 : rng() % (max + 1);
      while (live.size() > keep) {
        table.Delete(live.back());
        live.pop_back();
      }
    }
    EXPECT_LE(table.high_water(), 4 * (max + 1));
    EXPECT_EQ(table.count(), live.size());
  }
}

}  // namespace
}  // namespace ctrack
