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

#include "sim/internal.h"

namespace ctrack {
namespace {

std::string Addr(uint8_t l3num, const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(l3num == kAfInet ? AF_INET : AF_INET6, a, buf, sizeof buf);
  return buf;
}

// "a.b.c.0/24" or "x:x:x:x::/64".
std::string Prefix(uint8_t l3num, const uint8_t* a) {
  uint8_t m[16] = {};
  if (l3num == kAfInet) {
    std::memcpy(m, a, 3);
    return Addr(l3num, m) + "/24";
  }
  std::memcpy(m, a, 8);
  return Addr(l3num, m) + "/64";
}

// The kernel's protocol names; "other" for the generic tracker's protocols in summaries.
const char* ProtoName(uint8_t p) {
  const char* n = L4ProtoName(p);
  return std::strcmp(n, "unknown") == 0 ? "other" : n;
}

bool HasPorts(uint8_t p) { return ProtoInfo(p).has_ports; }

std::string Describe(const ConnInfo& ci) {
  std::string s = ProtoName(ci.orig.protonum);
  s += ' ';
  bool ports = HasPorts(ci.orig.protonum);
  bool v6 = ci.orig.l3num == kAfInet6;
  auto ep = [&](const uint8_t* a, uint16_t port) {
    std::string e = v6 ? "[" + Addr(ci.orig.l3num, a) + "]" : Addr(ci.orig.l3num, a);
    if (ports) e += ":" + std::to_string(port);
    return e;
  };
  s += ep(ci.orig.src, ci.orig.src_id) + " -> " + ep(ci.orig.dst, ci.orig.dst_id);
  if (ci.orig.protonum == kProtoTcp || ci.orig.protonum == kProtoSctp) {
    s += std::string(" ") + StateName(ci.orig.protonum, ci.state);
  }
  s += " [" + StatusNames(ci.status) + "]";
  return s;
}

Ranked Top(const std::unordered_map<std::string, uint64_t>& m, uint32_t k) {
  Ranked v(m.begin(), m.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > k) v.resize(k);
  return v;
}

Attribution Attribute(const std::vector<ConnInfo>& snap, uint32_t top) {
  std::unordered_map<std::string, uint64_t> state, proto, src, dst, port, host;
  for (const ConnInfo& ci : snap) {
    ++state[CategoryName(CategoryOf(ci))];
    ++proto[ProtoName(ci.orig.protonum)];
    ++src[Prefix(ci.orig.l3num, ci.orig.src)];
    ++dst[Prefix(ci.orig.l3num, ci.orig.dst)];
    if (HasPorts(ci.orig.protonum)) {
      ++port[std::string(ProtoName(ci.orig.protonum)) + "/" + std::to_string(ci.orig.dst_id)];
    } else {
      ++port[ProtoName(ci.orig.protonum)];
    }
    ++host[Addr(ci.orig.l3num, ci.orig.src)];
  }
  Attribution a;
  a.entries = static_cast<uint32_t>(snap.size());
  a.by_state = Top(state, kCatCount);
  a.by_proto = Top(proto, top);
  a.src_prefix = Top(src, top);
  a.dst_prefix = Top(dst, top);
  a.dst_port = Top(port, top);
  a.heaviest_sources = Top(host, top);
  return a;
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

StaleClass MakeClass(std::string name, std::string description) {
  StaleClass c;
  c.name = std::move(name);
  c.description = std::move(description);
  return c;
}

std::vector<ConnInfo> Snapshot(const Conntrack& ct, Timestamp now) {
  std::vector<ConnInfo> v;
  v.reserve(ct.count());
  ct.ForEach(now, [&](const ConnInfo& ci) { v.push_back(ci); });
  return v;
}

std::vector<StaleClass> DetectStale(const std::vector<ConnInfo>& snap,
                                    const std::vector<IdInfo>& ids, Timestamp now,
                                    const SimOptions& opt, Timestamp t0) {
  StaleClass udp = MakeClass(
      "udp_unreplied_kept_alive",
      "UDP [UNREPLIED] entries older than " + std::to_string(opt.stale_factor).substr(0, 4) +
          " x nf_conntrack_udp_timeout, alive only through one-way refreshes");
  StaleClass idle =
      MakeClass("tcp_idle_established",
                "TCP ESTABLISHED entries idle for more than " +
                    std::to_string(static_cast<int>(opt.orphan_idle_s)) +
                    " s: peers gone, RST/FIN lost (kept for nf_conntrack_tcp_timeout_established)");
  StaleClass half =
      MakeClass("tcp_half_closed",
                "TCP entries closed in one direction only (FIN or RST one way), idle for more "
                "than " +
                    std::to_string(static_cast<int>(opt.orphan_idle_s)) + " s");
  StaleClass syn =
      MakeClass("tcp_syn_only", "TCP SYN_SENT entries never answered (SYN-only flood or scan)");
  std::unordered_map<std::string, uint64_t> syn_victims;
  Timestamp udp_limit = static_cast<Timestamp>(
      opt.stale_factor * static_cast<double>(opt.cfg.nf_conntrack_udp_timeout) * 1e9);
  Timestamp idle_limit = static_cast<Timestamp>(opt.orphan_idle_s * 1e9);
  auto add = [&](StaleClass& c, const ConnInfo& ci, const std::string& extra) {
    ++c.count;
    if (c.examples.size() < opt.examples) c.examples.push_back(Describe(ci) + extra);
  };
  for (const ConnInfo& ci : snap) {
    const IdInfo* info = ci.id < ids.size() ? &ids[ci.id] : nullptr;
    Timestamp created = info ? info->created : t0;
    Timestamp last = info ? info->last : t0;
    auto secs = [](Timestamp d) { return std::to_string(d / kNsPerSec) + " s"; };
    uint8_t p = ci.orig.protonum;
    if ((p == kProtoUdp || p == kProtoUdplite) && !(ci.status & kSeenReply) &&
        now - created > udp_limit) {
      add(udp, ci, " age " + secs(now - created) + ", last refresh " + secs(now - last) + " ago");
    } else if (p == kProtoTcp) {
      auto st = static_cast<TcpState>(ci.state);
      bool fin_one_way = ((ci.tcp_flags[0] ^ ci.tcp_flags[1]) & kTcpCloseInit) != 0;
      if (st == TcpState::kSynSent && !(ci.status & kSeenReply)) {
        add(syn, ci, "");
        ++syn_victims[Addr(ci.orig.l3num, ci.orig.dst) + " port " + std::to_string(ci.orig.dst_id)];
      } else if (now - last > idle_limit &&
                 ((TcpClosing(st) && st != TcpState::kTimeWait && st != TcpState::kClose) ||
                  (st == TcpState::kEstablished && fin_one_way))) {
        add(half, ci, " idle " + secs(now - last));
      } else if (now - last > idle_limit && st == TcpState::kEstablished) {
        add(idle, ci, " idle " + secs(now - last));
      }
    }
  }
  if (syn.count) {
    std::string v = "top targets:";
    for (auto& [k, n] : Top(syn_victims, 3)) v += " " + k + " (" + std::to_string(n) + ")";
    syn.description += "; " + v;
  }
  return {syn, idle, half, udp};
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
