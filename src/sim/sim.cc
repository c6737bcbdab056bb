// Simulate(): one capture replay with samples, overflow attribution, chains and stale entries.
#include "sim/sim.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>

#include "sim/breakdown.h"
#include "sim/internal.h"

namespace ctrack {
namespace {

// The same streaming breakdown `ctrack status` runs on a live dump (sim/breakdown.h).
Attribution Attribute(const std::vector<ConnInfo>& snap, uint32_t top) {
  TableBreakdown b(Config(), 3, 60, 0);
  for (const ConnInfo& ci : snap) b.Add(ci, EntryTimes{});
  return b.Result(top);
}

// The kernel hashes each tuple with a random per-boot seed, so chain depths are a property of the
// distribution, not of one seed: any well-mixed keyed hash gives the same statistics.
uint32_t KernelBucket(const Tuple& t, uint32_t buckets) {
  uint64_t w[5];
  std::memcpy(w, &t, sizeof w);
  uint64_t h = 0x6b65726e656c3031ull;  // fixed key: reproducible reports
  for (uint64_t x : w) {
    h ^= x;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
  }
  h *= 0x94d049bb133111ebull;
  h ^= h >> 32;
  return static_cast<uint32_t>((h & 0xffffffffu) * buckets >> 32);
}

ChainReport Chains(const std::vector<ConnInfo>& snap, uint32_t buckets) {
  ChainReport r;
  r.buckets = buckets;
  std::vector<uint32_t> depth(buckets, 0);
  for (const ConnInfo& ci : snap) {
    ++depth[KernelBucket(ci.orig, buckets)];
    ++depth[KernelBucket(ci.reply, buckets)];
  }
  constexpr uint32_t kBins = 17;  // 0..15 and 16+
  r.histo.assign(kBins, 0);
  for (uint32_t d : depth) {
    r.nodes += d;
    if (d) ++r.used;
    r.max = std::max(r.max, d);
    ++r.histo[std::min(d, kBins - 1)];
  }
  r.mean_used = r.used ? static_cast<double>(r.nodes) / static_cast<double>(r.used) : 0;
  r.load = buckets ? static_cast<double>(r.nodes) / buckets : 0;
  return r;
}

// Packets of every capture in order, with the time each is replayed at (the shared replay loop
// of src/io/replay.h over the captures in memory).
class Replayer {
 public:
  Replayer(const std::vector<LoadedCapture>& caps, const SimOptions& opt)
      : caps_(caps), opt_(opt) {}
  // fn(index, linktype, frame, now) for each packet until fn returns false.
  template <typename Fn>
  void Run(Fn&& fn) {
    std::vector<CaptureCursor> cursors;
    cursors.reserve(caps_.size());
    std::vector<CaptureCursor*> sources;
    for (const LoadedCapture& cap : caps_) sources.push_back(&cursors.emplace_back(cap));
    // simulate checks beforehand that the times cover every packet.
    Replay(sources, opt_.times.empty() ? nullptr : &opt_.times, "times",
           [&](const ReplayPacket& p) {
             const CaptureRecord& r = p.rec;
             return fn(p.index, r.linktype, Frame{r.data, r.caplen, r.wirelen, r.ts}, p.now);
           });
  }

 private:
  const std::vector<LoadedCapture>& caps_;
  const SimOptions& opt_;
};

Config Unlimited(const Config& cfg) {
  Config c = cfg;
  c.nf_conntrack_max = 0;
  c.ctrack_overload_policy = 0;
  c.ctrack_per_source_max = 0;
  return c;
}

}  // namespace

namespace sim_internal {
Baseline RunBaseline(const std::vector<LoadedCapture>& caps, const SimOptions& opt) {
  Baseline b;
  Conntrack ct(Unlimited(opt.cfg));
  Replayer(caps, opt).Run([&](uint64_t, uint32_t lt, const Frame& f, Timestamp now) {
    PacketResult r = ct.ProcessFrame(lt, f.data, f.caplen, f.wirelen, now);
    bool attached = r.verdict == Verdict::kNew || r.verdict == Verdict::kEstablished ||
                    r.verdict == Verdict::kRelated;
    b.entry.push_back(attached ? r.entry : kNoConn);
    b.verdict.push_back(r.verdict);
    if (attached && r.dir == Dir::kReply && r.verdict == Verdict::kEstablished) {
      if (r.entry >= b.legit.size()) b.legit.resize(r.entry + 1024, 0);
      b.legit[r.entry] = 1;
    }
    b.peak = std::max(b.peak, ct.count());
    return true;
  });
  return b;
}
}  // namespace sim_internal

namespace {

struct IdInfo {
  Timestamp created = 0, last = 0;
  uint8_t assured = 0;
};

std::vector<ConnInfo> Snapshot(const Conntrack& ct, Timestamp now) {
  std::vector<ConnInfo> v;
  v.reserve(ct.count());
  ct.ForEach(now, [&](const ConnInfo& ci) { v.push_back(ci); });
  return v;
}

std::vector<StaleClass> DetectStale(const std::vector<ConnInfo>& snap,
                                    const std::vector<IdInfo>& ids, Timestamp now,
                                    const SimOptions& opt, Timestamp t0) {
  TableBreakdown b(opt.cfg, opt.stale_factor, opt.orphan_idle_s, opt.examples);
  for (const ConnInfo& ci : snap) {
    const IdInfo* info = ci.id < ids.size() ? &ids[ci.id] : nullptr;
    EntryTimes t;
    t.known_created = t.known_idle = true;
    t.age_ns = now - (info ? info->created : t0);
    t.idle_ns = now - (info ? info->last : t0);
    b.Add(ci, t);
  }
  return b.Stale();
}

}  // namespace

const char* CategoryName(int c) {
  static constexpr const char* kNames[kCatCount] = {
      "TCP SYN_SENT", "TCP SYN_RECV",  "TCP ESTABLISHED", "TCP FIN_WAIT", "TCP CLOSE_WAIT",
      "TCP LAST_ACK", "TCP TIME_WAIT", "TCP CLOSE",       "TCP other",    "UDP UNREPLIED",
      "UDP replied",  "UDP ASSURED",   "ICMP/ICMPv6",     "other"};
  return c >= 0 && c < kCatCount ? kNames[c] : "?";
}

int CategoryOf(const ConnInfo& ci) {
  switch (ci.orig.protonum) {
    case kProtoTcp:
      switch (static_cast<TcpState>(ci.state)) {
        case TcpState::kSynSent:
          return kCatTcpSynSent;
        case TcpState::kSynRecv:
          return kCatTcpSynRecv;
        case TcpState::kEstablished:
          return kCatTcpEstablished;
        case TcpState::kFinWait:
          return kCatTcpFinWait;
        case TcpState::kCloseWait:
          return kCatTcpCloseWait;
        case TcpState::kLastAck:
          return kCatTcpLastAck;
        case TcpState::kTimeWait:
          return kCatTcpTimeWait;
        case TcpState::kClose:
          return kCatTcpClose;
        default:
          return kCatTcpOther;
      }
    case kProtoUdp:
    case kProtoUdplite:
      if (ci.status & kAssured) return kCatUdpAssured;
      return ci.status & kSeenReply ? kCatUdpReplied : kCatUdpUnreplied;
    case kProtoIcmp:
    case kProtoIcmpv6:
      return kCatIcmp;
    default:
      return kCatOther;
  }
}

uint64_t KernelBytes(const Config& cfg, uint64_t entries) {
  uint64_t per = 256 + ((cfg.nf_conntrack_acct || cfg.nf_conntrack_timestamp) ? 128 : 0);
  return entries * per + static_cast<uint64_t>(cfg.nf_conntrack_buckets) * 8;
}

// The core loop shared by Simulate, ComparePolicies and Sweep.
SimCounters sim_internal::RunCounters(const std::vector<LoadedCapture>& caps, const SimOptions& opt,
                                      const Config& cfg, const sim_internal::Baseline* base,
                                      SimReport* rep) {
  SimCounters c;
  Conntrack ct(cfg);
  std::vector<uint8_t> assured;     // per entry id of this run
  std::vector<Timestamp> expiry;    // per entry id: expiry as of its last packet
  std::vector<uint8_t> flow_flags;  // per baseline entry: 1 refused, 2 legit hurt
  std::vector<IdInfo> ids;
  bool detail = rep != nullptr && opt.detail;
  Timestamp t0 = 0, t1 = 0;
  bool have_t0 = false;
  // Sample grid over the capture's span (known up front: captures are in memory).
  if (detail) {
    Replayer(caps, opt).Run([&](uint64_t, uint32_t, const Frame&, Timestamp now) {
      if (!have_t0) t0 = now, have_t0 = true;
      t1 = now;
      return true;
    });
    rep->t0 = t0;
    rep->t1 = t1;
  }
  uint32_t nsamples = std::max<uint32_t>(opt.samples, 1);
  Timestamp step = std::max<Timestamp>((t1 - t0) / nsamples, 1);
  Timestamp next_sample = t0;
  auto take_sample = [&](Timestamp at) {
    Sample s{};
    s.t = at - t0;
    s.count = ct.count();
    ct.ForEach(at, [&](const ConnInfo& ci) { ++s.by_cat[CategoryOf(ci)]; });
    s.created = ct.counters().created;
    s.expired = ct.counters().expired;
    s.early_drop = ct.stats().early_drop + ct.counters().gc_early_drop;
    s.drop = c.table_full_drops;
    rep->samples.push_back(s);
  };
  Timestamp last_drop = 0;
  bool any_drop = false;
  Timestamp now_end = 0;
  bool first = true;
  ConnInfo info;
  Replayer(caps, opt).Run([&](uint64_t i, uint32_t lt, const Frame& f, Timestamp now) {
    if (first) {
      if (!detail) t0 = now;
      first = false;
    }
    if (detail) {
      while (next_sample <= now && rep->samples.size() < nsamples) {
        take_sample(next_sample);
        next_sample += step;
      }
    }
    uint64_t invalid_before = ct.stats().invalid;
    PacketResult r = ct.ProcessFrame(lt, f.data, f.caplen, f.wirelen, now);
    now_end = now;
    ++c.packets;
    bool full_drop = r.verdict == Verdict::kDrop && ct.stats().invalid == invalid_before;
    if (r.conn != kNoConn && ct.Get(r.conn, now, &info)) {
      if (r.entry >= assured.size()) {
        assured.resize(r.entry + 4096, 0);
        expiry.resize(r.entry + 4096, 0);
      }
      if (info.status & kAssured) assured[r.entry] = 1;
      expiry[r.entry] = info.expires;
      if (detail) {
        if (r.entry >= ids.size()) ids.resize(r.entry + 4096);
        IdInfo& d = ids[r.entry];
        if (d.created == 0) d.created = now;
        d.last = now;
      }
    }
    // An overload policy may reclaim an expired entry (counted as early drop by the engine): that
    // is not an eviction.
    if (r.destroyed_reason == DestroyReason::kEarlyDrop && r.destroyed < assured.size() &&
        assured[r.destroyed] && expiry[r.destroyed] > now) {
      ++c.assured_evicted;
    }
    uint32_t count = ct.count();
    if (count > c.peak) {
      c.peak = count;
      c.peak_t = now - t0;
      c.peak_packet = i;
    }
    if (!c.first_full && cfg.nf_conntrack_max != 0 && count >= cfg.nf_conntrack_max) {
      c.first_full = now - t0;
    }
    if (full_drop) {
      ++c.table_full_drops;
      if (!c.first_drop) c.first_drop = now - t0;
      if (!any_drop || now - last_drop > opt.overflow_gap) {
        ++c.overflow_episodes;
        if (detail && rep->overflows.size() < opt.max_overflows) {
          Attribution a = Attribute(Snapshot(ct, now), opt.top);
          a.why = "overflow";
          a.t = now - t0;
          a.packet = i;
          rep->overflows.push_back(std::move(a));
        }
      }
      any_drop = true;
      last_drop = now;
    }
    if (base != nullptr && i < base->entry.size()) {
      uint32_t e = base->entry[i];
      if (e != kNoConn) {
        if (e >= flow_flags.size()) flow_flags.resize(e + 4096, 0);
        if (full_drop) flow_flags[e] |= 1;
        bool legit = e < base->legit.size() && base->legit[e];
        bool hurt = r.verdict == Verdict::kDrop ||
                    (r.verdict == Verdict::kInvalid && base->verdict[i] != Verdict::kInvalid);
        if (legit && hurt) flow_flags[e] |= 2;
      }
    }
    if (opt.progress && (c.packets & 0xffff) == 0) opt.progress(c.packets);
    return true;
  });
  if (detail) {
    while (rep->samples.size() < nsamples && next_sample <= now_end) {
      take_sample(next_sample);
      next_sample += step;
    }
    take_sample(now_end);
  }
  const Stats& s = ct.stats();
  const EngineCounters& e = ct.counters();
  c.created = e.created;
  c.expired = e.expired;
  c.early_drop = s.early_drop;
  c.gc_early_drop = e.gc_early_drop;
  c.drop = s.drop;
  c.invalid = s.invalid;
  c.final_count = ct.count();
  for (uint8_t fl : flow_flags) {
    if (fl & 1) ++c.refused_flows;
    if (fl & 2) ++c.legit_hurt;
  }
  if (base != nullptr) {
    c.demand_peak = base->peak;
    for (uint8_t l : base->legit) c.legit_flows += l;
  }
  c.ctrack_bytes = ct.memory_bytes();
  c.kernel_bytes_peak = KernelBytes(cfg, c.peak);
  if (detail) {
    rep->stats = s;
    std::vector<ConnInfo> snap = Snapshot(ct, now_end);
    rep->stale = DetectStale(snap, ids, now_end, opt, t0);
  }
  return c;
}

// Replays packets [0, last] and returns the table at that moment (for the peak snapshot).
static std::unique_ptr<Conntrack> ReplayUntil(const std::vector<LoadedCapture>& caps,
                                              const SimOptions& opt, uint64_t last, Timestamp* at) {
  auto ct = std::make_unique<Conntrack>(opt.cfg);
  Replayer(caps, opt).Run([&](uint64_t i, uint32_t lt, const Frame& f, Timestamp now) {
    if (i > last) return false;
    ct->ProcessFrame(lt, f.data, f.caplen, f.wirelen, now);
    *at = now;
    return true;
  });
  return ct;
}

SimReport Simulate(const std::vector<LoadedCapture>& caps, const SimOptions& opt) {
  auto start = std::chrono::steady_clock::now();
  SimReport rep;
  rep.cfg = opt.cfg;
  for (const LoadedCapture& c : caps) rep.inputs.push_back(c.path);
  sim_internal::Baseline base;
  if (opt.baseline) base = sim_internal::RunBaseline(caps, opt);
  rep.c = sim_internal::RunCounters(caps, opt, opt.cfg, opt.baseline ? &base : nullptr, &rep);
  if (opt.detail && rep.c.packets > 0) {
    Timestamp at = 0;
    std::unique_ptr<Conntrack> ct = ReplayUntil(caps, opt, rep.c.peak_packet, &at);
    std::vector<ConnInfo> snap = Snapshot(*ct, at);
    Attribution a = Attribute(snap, opt.top);
    a.why = "peak";
    a.t = rep.c.peak_t;
    a.packet = rep.c.peak_packet;
    rep.peak = std::move(a);
    rep.chains = Chains(snap, opt.cfg.nf_conntrack_buckets);
    rep.chains.ctrack_max_chain = ct->chain_stats().max_chain;
  }
  rep.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

}  // namespace ctrack
