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

// The instant the simulation starts: the first packet's time, 0 without packets.
Timestamp StartTime(const std::vector<LoadedCapture>& caps, const SimOptions& opt) {
  Timestamp t0 = 0;
  Replayer(caps, opt).Run([&](uint64_t, uint32_t, const Frame&, Timestamp now) {
    t0 = now;
    return false;
  });
  return t0;
}

// Listings floor the seconds left; the true remainder is on average half a second more.
constexpr Timestamp kImportSlack = kNsPerSec / 2;

void ImportInitial(Conntrack& ct, const SimOptions& opt, Timestamp t0, InitialTable* out) {
  InitialTable tally;
  tally.entries = opt.initial->size();
  for (const ConnInfo& ci : *opt.initial) {
    ConnInfo c = ci;
    switch (ct.Import(c, t0, kImportSlack)) {
      case Conntrack::ImportResult::kOk: {
        ++tally.imported;
        Tuple inv;
        if (InvertTuple(c.orig, &inv) && !(inv == c.reply)) {
          Tuple r = c.reply;
          r.zone = c.orig.zone;
          if (!(inv == r)) ++tally.nat;
        }
        break;
      }
      case Conntrack::ImportResult::kTableFull:
        ++tally.refused_full;
        break;
      case Conntrack::ImportResult::kExists:
        ++tally.refused_exists;
        break;
      case Conntrack::ImportResult::kInvalid:
        ++tally.refused_invalid;
        break;
    }
  }
  if (out != nullptr) *out = tally;
}

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
  if (opt.initial != nullptr) ImportInitial(ct, opt, StartTime(caps, opt), nullptr);
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

namespace {

// One replay of the captures against a table with `cfg`: the state the core loop carries from
// packet to packet, with one member function per phase of the run.
class CounterRun {
 public:
  CounterRun(const std::vector<LoadedCapture>& caps, const SimOptions& opt, const Config& cfg,
             const sim_internal::Baseline* base, SimReport* rep)
      : caps_(caps),
        opt_(opt),
        cfg_(cfg),
        base_(base),
        rep_(rep),
        ct_(cfg),
        detail_(rep != nullptr && opt.detail) {}

  SimCounters Run() {
    Start();
    Replayer(caps_, opt_).Run([&](uint64_t i, uint32_t lt, const Frame& f, Timestamp now) {
      OnPacket(i, lt, f, now);
      return true;
    });
    Finish();
    return c_;
  }

 private:
  // Sample grid over the capture's span (known up front: captures are in memory), then the
  // initial table.
  void Start() {
    if (detail_) {
      Replayer(caps_, opt_).Run([&](uint64_t, uint32_t, const Frame&, Timestamp now) {
        if (!have_t0_) t0_ = now, have_t0_ = true;
        t1_ = now;
        return true;
      });
      t1_ = std::max(t1_, t0_ + opt_.horizon);
      rep_->t0 = t0_;
      rep_->t1 = t1_;
    }
    if (opt_.initial != nullptr) {
      if (!detail_) t0_ = StartTime(caps_, opt_);
      ImportInitial(ct_, opt_, t0_, &initial_);
      c_.peak = ct_.count();
      c_.peak_t = 0;
      c_.peak_at_start = true;
      if (cfg_.nf_conntrack_max != 0 && c_.peak >= cfg_.nf_conntrack_max) c_.first_full = 0;
    }
    nsamples_ = std::max<uint32_t>(opt_.samples, 1);
    step_ = std::max<Timestamp>((t1_ - t0_) / nsamples_, 1);
    next_sample_ = t0_;
  }

  void TakeSample(Timestamp at) {
    Sample s{};
    s.t = at - t0_;
    s.count = ct_.count();
    ct_.ForEach(at, [&](const ConnInfo& ci) { ++s.by_cat[CategoryOf(ci)]; });
    s.created = ct_.counters().created;
    s.expired = ct_.counters().expired;
    s.early_drop = ct_.stats().early_drop + ct_.counters().gc_early_drop;
    s.drop = c_.table_full_drops;
    rep_->samples.push_back(s);
  }

  void OnPacket(uint64_t i, uint32_t lt, const Frame& f, Timestamp now) {
    if (first_) {
      if (!detail_ && opt_.initial == nullptr) t0_ = now;
      first_ = false;
    }
    if (detail_) {
      while (next_sample_ <= now && rep_->samples.size() < nsamples_) {
        TakeSample(next_sample_);
        next_sample_ += step_;
      }
    }
    const uint64_t invalid_before = ct_.stats().invalid, drop_before = ct_.stats().drop;
    PacketResult r = ct_.ProcessFrame(lt, f.data, f.caplen, f.wirelen, now);
    now_end_ = now;
    ++c_.packets;
    // Dropped for lack of room (or by a policy): the drop counter moved and the packet was not
    // invalid (an L4 drop counts both; a defragmenter's drop neither). The verdict is kDrop, or
    // kNone for the last fragment of a datagram dropped so (Conntrack::Impl::ProcessL3).
    bool full_drop = (r.verdict == Verdict::kDrop || r.verdict == Verdict::kNone) &&
                     ct_.stats().drop != drop_before && ct_.stats().invalid == invalid_before;
    NoteEntry(r, now);
    // An overload policy may reclaim an expired entry (counted as early drop by the engine): that
    // is not an eviction.
    if (r.destroyed_reason == DestroyReason::kEarlyDrop && r.destroyed < assured_.size() &&
        assured_[r.destroyed] && expiry_[r.destroyed] > now) {
      ++c_.assured_evicted;
    }
    uint32_t count = ct_.count();
    if (count > c_.peak) {
      c_.peak = count;
      c_.peak_t = now - t0_;
      c_.peak_packet = i;
      c_.peak_at_start = false;
    }
    if (!c_.first_full && cfg_.nf_conntrack_max != 0 && count >= cfg_.nf_conntrack_max) {
      c_.first_full = now - t0_;
    }
    if (full_drop) NoteFullDrop(i, now);
    if (base_ != nullptr && i < base_->entry.size()) NoteBaselineFlow(i, r, full_drop);
    if (opt_.progress && (c_.packets & 0xffff) == 0) opt_.progress(c_.packets);
  }

  // Per entry id: whether it was ever ASSURED, its expiry as of this packet, and (with detail)
  // when it was created and last seen.
  void NoteEntry(const PacketResult& r, Timestamp now) {
    if (r.conn == kNoConn || !ct_.Get(r.conn, now, &info_)) return;
    if (r.entry >= assured_.size()) {
      assured_.resize(r.entry + 4096, 0);
      expiry_.resize(r.entry + 4096, 0);
    }
    if (info_.status & kAssured) assured_[r.entry] = 1;
    expiry_[r.entry] = info_.expires;
    if (detail_) {
      if (r.entry >= ids_.size()) ids_.resize(r.entry + 4096);
      IdInfo& d = ids_[r.entry];
      if (d.created == 0) d.created = now;
      d.last = now;
    }
  }

  // A packet refused because the table was full; a drop after a quiet gap starts an overflow
  // episode (attributed, with detail, up to max_overflows).
  void NoteFullDrop(uint64_t i, Timestamp now) {
    ++c_.table_full_drops;
    if (!c_.first_drop) c_.first_drop = now - t0_;
    if (!any_drop_ || now - last_drop_ > opt_.overflow_gap) {
      ++c_.overflow_episodes;
      if (detail_ && rep_->overflows.size() < opt_.max_overflows) {
        Attribution a = Attribute(Snapshot(ct_, now), opt_.top);
        a.why = "overflow";
        a.t = now - t0_;
        a.packet = i;
        rep_->overflows.push_back(std::move(a));
      }
    }
    any_drop_ = true;
    last_drop_ = now;
  }

  // Flags packet i's flow of the unlimited baseline run: refused, or legitimate and hurt.
  void NoteBaselineFlow(uint64_t i, const PacketResult& r, bool full_drop) {
    uint32_t e = base_->entry[i];
    if (e == kNoConn) return;
    if (e >= flow_flags_.size()) flow_flags_.resize(e + 4096, 0);
    if (full_drop) flow_flags_[e] |= 1;
    bool legit = e < base_->legit.size() && base_->legit[e];
    bool hurt = r.verdict == Verdict::kDrop || full_drop ||
                (r.verdict == Verdict::kInvalid && base_->verdict[i] != Verdict::kInvalid);
    if (legit && hurt) flow_flags_[e] |= 2;
  }

  void Finish() {
    if (first_) now_end_ = t0_;  // no packets
    // Age the table past the last packet up to the horizon (the garbage collector reaps as it
    // goes).
    Timestamp t_end = std::max(now_end_, t0_ + opt_.horizon);
    if (detail_) {
      while (rep_->samples.size() < nsamples_ && next_sample_ <= t_end) {
        ct_.AdvanceTo(next_sample_);
        TakeSample(next_sample_);
        next_sample_ += step_;
      }
    }
    ct_.AdvanceTo(t_end);
    now_end_ = t_end;
    if (detail_) TakeSample(now_end_);
    if (detail_ && opt_.initial != nullptr) DrainMilestones();
    FinalCounters();
  }

  // Drain milestones from the samples: live entries against the imported count.
  void DrainMilestones() {
    for (const Sample& s : rep_->samples) {
      uint64_t live = 0;
      for (uint32_t k : s.by_cat) live += k;
      if (!initial_.half_t && live * 2 <= initial_.imported) initial_.half_t = s.t;
      if (!initial_.tenth_t && live * 10 <= initial_.imported) initial_.tenth_t = s.t;
      if (!initial_.empty_t && live == 0) initial_.empty_t = s.t;
      initial_.live_end = static_cast<uint32_t>(live);
    }
    rep_->initial = initial_;
  }

  void FinalCounters() {
    const Stats& s = ct_.stats();
    const EngineCounters& e = ct_.counters();
    c_.created = e.created;
    c_.expired = e.expired;
    c_.early_drop = s.early_drop;
    c_.gc_early_drop = e.gc_early_drop;
    c_.drop = s.drop;
    c_.invalid = s.invalid;
    c_.final_count = ct_.count();
    for (uint8_t fl : flow_flags_) {
      if (fl & 1) ++c_.refused_flows;
      if (fl & 2) ++c_.legit_hurt;
    }
    if (base_ != nullptr) {
      c_.demand_peak = base_->peak;
      for (uint8_t l : base_->legit) c_.legit_flows += l;
    }
    c_.ctrack_bytes = ct_.memory_bytes();
    c_.kernel_bytes_peak = KernelBytes(cfg_, c_.peak);
    if (detail_) {
      rep_->stats = s;
      std::vector<ConnInfo> snap = Snapshot(ct_, now_end_);
      rep_->stale = DetectStale(snap, ids_, now_end_, opt_, t0_);
      if (opt_.keep_final) rep_->final_table = std::move(snap);
    }
  }

  const std::vector<LoadedCapture>& caps_;
  const SimOptions& opt_;
  const Config& cfg_;
  const sim_internal::Baseline* base_;
  SimReport* rep_;
  SimCounters c_;
  Conntrack ct_;
  std::vector<uint8_t> assured_;     // per entry id of this run
  std::vector<Timestamp> expiry_;    // per entry id: expiry as of its last packet
  std::vector<uint8_t> flow_flags_;  // per baseline entry: 1 refused, 2 legit hurt
  std::vector<IdInfo> ids_;
  const bool detail_;
  Timestamp t0_ = 0, t1_ = 0;
  bool have_t0_ = false;
  InitialTable initial_;
  uint32_t nsamples_ = 1;
  Timestamp step_ = 1;
  Timestamp next_sample_ = 0;
  Timestamp last_drop_ = 0;
  bool any_drop_ = false;
  Timestamp now_end_ = 0;
  bool first_ = true;
  ConnInfo info_;
};

}  // namespace

// The core loop shared by Simulate, ComparePolicies and Sweep.
SimCounters sim_internal::RunCounters(const std::vector<LoadedCapture>& caps, const SimOptions& opt,
                                      const Config& cfg, const sim_internal::Baseline* base,
                                      SimReport* rep) {
  return CounterRun(caps, opt, cfg, base, rep).Run();
}

// Replays packets [0, last] and returns the table at that moment (for the peak snapshot).
// With `at_start`, only the imported initial table.
static std::unique_ptr<Conntrack> ReplayUntil(const std::vector<LoadedCapture>& caps,
                                              const SimOptions& opt, uint64_t last, bool at_start,
                                              Timestamp* at) {
  auto ct = std::make_unique<Conntrack>(opt.cfg);
  if (opt.initial != nullptr) {
    *at = StartTime(caps, opt);
    ImportInitial(*ct, opt, *at, nullptr);
  }
  if (at_start) return ct;
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
  if (opt.detail && (rep.c.packets > 0 || opt.initial != nullptr)) {
    Timestamp at = 0;
    std::unique_ptr<Conntrack> ct =
        ReplayUntil(caps, opt, rep.c.peak_packet, rep.c.peak_at_start, &at);
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
