#include "sim/breakdown.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace ctrack {
namespace {

std::string Addr(uint8_t l3num, const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(l3num == kAfInet ? AF_INET : AF_INET6, a, buf, sizeof buf);
  return buf;
}

const char* ProtoName(uint8_t p) {
  const char* n = L4ProtoName(p);
  return std::strcmp(n, "unknown") == 0 ? "other" : n;
}

bool HasPorts(uint8_t p) { return ProtoInfo(p).has_ports; }

// Key layouts (b[16..19] tag the key): addresses [0..15], b[16] = l3num, b[17] = prefix kind.
BreakdownKey AddrKey(uint8_t l3num, const uint8_t* a, int prefix_bytes) {
  BreakdownKey k{};
  std::memcpy(k.b, a, static_cast<size_t>(prefix_bytes));
  k.b[16] = l3num;
  return k;
}
BreakdownKey PortKey(uint8_t proto, bool ports, uint16_t port) {
  BreakdownKey k{};
  k.b[0] = proto;
  k.b[1] = ports;
  k.b[2] = static_cast<uint8_t>(port >> 8);
  k.b[3] = static_cast<uint8_t>(port);
  return k;
}
BreakdownKey VictimKey(const Tuple& t) {
  BreakdownKey k = AddrKey(t.l3num, t.dst, 16);
  k.b[18] = static_cast<uint8_t>(t.dst_id >> 8);
  k.b[19] = static_cast<uint8_t>(t.dst_id);
  return k;
}

std::string AddrKeyName(const BreakdownKey& k, bool prefix) {
  uint8_t l3 = k.b[16];
  if (!prefix) return Addr(l3, k.b);
  return Addr(l3, k.b) + (l3 == kAfInet ? "/24" : "/64");
}
std::string PortKeyName(const BreakdownKey& k) {
  std::string s = ProtoName(k.b[0]);
  if (k.b[1]) s += "/" + std::to_string(k.b[2] << 8 | k.b[3]);
  return s;
}

template <typename NameFn>
Ranked TopOf(const BoundedCounter& c, uint32_t k, NameFn&& name) {
  // Only candidates that can make the top k are named: a partial sort on the counts first.
  std::vector<std::pair<uint64_t, BreakdownKey>> raw;
  raw.reserve(c.size());
  c.ForEach([&](const BreakdownKey& key, uint64_t n) { raw.emplace_back(n, key); });
  if (raw.size() > k) {
    std::nth_element(raw.begin(), raw.begin() + static_cast<long>(k) - 1, raw.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    uint64_t kth = raw[k - 1].first;
    // Keep every key tied with the k-th: names break ties.
    raw.erase(std::remove_if(raw.begin(), raw.end(), [&](const auto& e) { return e.first < kth; }),
              raw.end());
  }
  Ranked v;
  v.reserve(raw.size());
  for (const auto& [n, key] : raw) v.emplace_back(name(key), n);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > k) v.resize(k);
  return v;
}

StaleClass MakeClass(std::string name, std::string description) {
  StaleClass c;
  c.name = std::move(name);
  c.description = std::move(description);
  return c;
}

std::string Secs(Timestamp d) { return std::to_string(d / kNsPerSec) + " s"; }

// The full timeout a packet re-arms in this state, from the engine's per-protocol table
// (ProtoDesc::timeout); -1 where the idle time cannot be inferred from it (protocols other than
// TCP and UDP, TCP states without a timeout).
int64_t FullTimeout(const Config& c, const ConnInfo& ci) {
  const uint8_t p = ci.orig.protonum;
  if (p == kProtoTcp) {
    uint32_t t = ProtoInfo(p).timeout(c, ci.state);
    return t ? t : -1;
  }
  if (p == kProtoUdp || p == kProtoUdplite) {
    return ProtoInfo(p).timeout(c, (ci.status & kAssured) ? 1 : 0);
  }
  return -1;
}

}  // namespace

bool operator==(const BreakdownKey& x, const BreakdownKey& y) {
  return std::memcmp(x.b, y.b, sizeof x.b) == 0;
}

size_t BreakdownKeyHash::operator()(const BreakdownKey& k) const {
  // Every byte of the key reaches every bit of the result (a multiply-xorshift per word), so
  // keys that differ only in a few address bytes still spread over the buckets.
  uint32_t w[5];
  std::memcpy(w, k.b, sizeof w);
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint32_t x : w) {
    h = (h ^ x) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
  }
  h *= 0x94d049bb133111ebull;
  return static_cast<size_t>(h ^ (h >> 32));
}

BoundedCounter::BoundedCounter(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {
  size_t n = 16;
  while (n < 2 * capacity_) n <<= 1;
  mask_ = n - 1;
  slots_.assign(n, Slot{});
  scratch_.reserve(capacity_);
}

size_t BoundedCounter::Find(const BreakdownKey& k) const {
  size_t i = BreakdownKeyHash()(k) & mask_;
  // Terminates: the table is never more than half full.
  while (slots_[i].n && !(slots_[i].k == k)) i = (i + 1) & mask_;
  return i;
}

uint64_t BoundedCounter::Get(const BreakdownKey& k) const { return slots_[Find(k)].n; }

void BoundedCounter::Add(const BreakdownKey& k) {
  if (slots_[last_].n && slots_[last_].k == k) {
    ++slots_[last_].n;
    return;
  }
  size_t i = Find(k);
  last_ = i;
  if (slots_[i].n) {
    ++slots_[i].n;
    return;
  }
  if (used_ < capacity_) {
    slots_[i] = Slot{k, 1};
    ++used_;
    return;
  }
  // Misra-Gries: the new key and every kept key lose one; zeros leave. Each decrement pays for
  // one earlier increment, so this costs O(1) amortized per Add. Survivors are re-inserted so
  // that no probe sequence has a hole.
  overflowed_ = true;
  ++decrements_;
  scratch_.clear();
  for (Slot& s : slots_) {
    if (s.n > 1) scratch_.push_back(Slot{s.k, s.n - 1u});
    s.n = 0;
  }
  used_ = 0;
  for (const Slot& s : scratch_) {
    slots_[Find(s.k)] = s;
    ++used_;
  }
}

void BoundedCounter::Clear() {
  if (used_) {
    for (Slot& s : slots_) s.n = 0;
  }
  used_ = 0;
  overflowed_ = false;
  decrements_ = 0;
}

TableBreakdown::TableBreakdown(const Config& cfg, double stale_factor, double orphan_idle_s,
                               uint32_t examples, size_t capacity)
    : cfg_(cfg),
      stale_factor_(stale_factor),
      orphan_idle_s_(orphan_idle_s),
      examples_(examples),
      src_(capacity),
      dst_(capacity),
      port_(capacity),
      host_(capacity),
      zone_(capacity),
      syn_victims_(capacity) {
  Reset();
}

void TableBreakdown::Reset() {
  entries_ = 0;
  by_cat_.fill(0);
  by_proto_.fill(0);
  for (BoundedCounter* c : {&src_, &dst_, &port_, &host_, &zone_, &syn_victims_}) c->Clear();
  udp_ =
      MakeClass("udp_unreplied_kept_alive",
                "UDP [UNREPLIED] entries older than " + std::to_string(stale_factor_).substr(0, 4) +
                    " x nf_conntrack_udp_timeout, alive only through one-way refreshes");
  idle_ =
      MakeClass("tcp_idle_established",
                "TCP ESTABLISHED entries idle for more than " +
                    std::to_string(static_cast<int>(orphan_idle_s_)) +
                    " s: peers gone, RST/FIN lost (kept for nf_conntrack_tcp_timeout_established)");
  half_ = MakeClass("tcp_half_closed",
                    "TCP entries closed in one direction only (FIN or RST one way), idle for "
                    "more than " +
                        std::to_string(static_cast<int>(orphan_idle_s_)) + " s");
  syn_ = MakeClass("tcp_syn_only", "TCP SYN_SENT entries never answered (SYN-only flood or scan)");
}

void TableBreakdown::Add(const ConnInfo& ci, const EntryTimes& t) {
  ++entries_;
  const Tuple& o = ci.orig;
  ++by_cat_[static_cast<size_t>(CategoryOf(ci))];
  ++by_proto_[o.protonum];
  int pb = o.l3num == kAfInet ? 3 : 8;
  src_.Add(AddrKey(o.l3num, o.src, pb));
  dst_.Add(AddrKey(o.l3num, o.dst, pb));
  bool ports = HasPorts(o.protonum);
  port_.Add(PortKey(o.protonum, ports, ports ? o.dst_id : 0));
  host_.Add(AddrKey(o.l3num, o.src, 16));
  BreakdownKey zk{};
  zk.b[0] = static_cast<uint8_t>(o.zone >> 8);
  zk.b[1] = static_cast<uint8_t>(o.zone);
  zone_.Add(zk);

  // Stale detectors: mirrors of DetectStale()'s classes, on whatever times are known.
  auto add = [&](StaleClass& c, const std::string& extra) {
    ++c.count;
    if (c.examples.size() < examples_) c.examples.push_back(DescribeEntry(ci) + extra);
  };
  Timestamp udp_limit = static_cast<Timestamp>(
      stale_factor_ * static_cast<double>(cfg_.nf_conntrack_udp_timeout) * 1e9);
  Timestamp idle_limit = static_cast<Timestamp>(orphan_idle_s_ * 1e9);
  uint8_t p = o.protonum;
  if ((p == kProtoUdp || p == kProtoUdplite) && !(ci.status & kSeenReply) && t.known_created &&
      t.age_ns > udp_limit) {
    add(udp_, " age " + Secs(t.age_ns) +
                  (t.known_idle ? ", last refresh " + Secs(t.idle_ns) + " ago" : std::string()));
  } else if (p == kProtoTcp) {
    auto st = static_cast<TcpState>(ci.state);
    bool fin_one_way = ((ci.tcp_flags[0] ^ ci.tcp_flags[1]) & kTcpCloseInit) != 0;
    bool idle = t.known_idle && t.idle_ns > idle_limit;
    if (st == TcpState::kSynSent && !(ci.status & kSeenReply)) {
      add(syn_, "");
      syn_victims_.Add(VictimKey(o));
    } else if (idle && ((TcpClosing(st) && st != TcpState::kTimeWait && st != TcpState::kClose) ||
                        (st == TcpState::kEstablished && fin_one_way))) {
      add(half_, " idle " + Secs(t.idle_ns));
    } else if (idle && st == TcpState::kEstablished) {
      add(idle_, " idle " + Secs(t.idle_ns));
    }
  }
}

void TableBreakdown::AddLive(const ConnInfo& ci, uint64_t now_realtime_ns) {
  EntryTimes t;
  int64_t full = FullTimeout(cfg_, ci);
  if (full >= 0 && ci.timeout_s <= full) {
    t.known_idle = true;
    t.idle_ns = (full - ci.timeout_s) * kNsPerSec;
  }
  if (ci.has_timestamp && ci.ts_start_ns && ci.ts_start_ns <= now_realtime_ns) {
    t.known_created = true;
    t.age_ns = static_cast<Timestamp>(now_realtime_ns - ci.ts_start_ns);
  } else if (!(ci.status & kSeenReply) && t.known_idle) {
    // Without timestamps an unreplied UDP entry's age is at least its idle time; one that one-way
    // refreshes keep alive is exactly the case where that says nothing, so it is not claimed.
    t.known_created = false;
  }
  Add(ci, t);
}

Attribution TableBreakdown::Result(uint32_t top) const {
  Attribution a;
  a.entries = static_cast<uint32_t>(entries_);
  for (int c = 0; c < kCatCount; ++c) {
    if (by_cat_[static_cast<size_t>(c)])
      a.by_state.emplace_back(CategoryName(c), by_cat_[static_cast<size_t>(c)]);
  }
  auto rank = [](Ranked* v) {
    std::sort(v->begin(), v->end(), [](const auto& x, const auto& y) {
      return x.second != y.second ? x.second > y.second : x.first < y.first;
    });
  };
  rank(&a.by_state);
  {
    // Protocols merge into names ("other" for every generic one).
    std::vector<std::pair<std::string, uint64_t>> v;
    for (int p = 0; p < 256; ++p) {
      if (!by_proto_[static_cast<size_t>(p)]) continue;
      std::string n = ProtoName(static_cast<uint8_t>(p));
      auto it = std::find_if(v.begin(), v.end(), [&](const auto& e) { return e.first == n; });
      if (it == v.end()) {
        v.emplace_back(n, by_proto_[static_cast<size_t>(p)]);
      } else {
        it->second += by_proto_[static_cast<size_t>(p)];
      }
    }
    rank(&v);
    if (v.size() > top) v.resize(top);
    a.by_proto = std::move(v);
  }
  a.src_prefix = TopOf(src_, top, [](const BreakdownKey& k) { return AddrKeyName(k, true); });
  a.dst_prefix = TopOf(dst_, top, [](const BreakdownKey& k) { return AddrKeyName(k, true); });
  a.dst_port = TopOf(port_, top, PortKeyName);
  a.heaviest_sources =
      TopOf(host_, top, [](const BreakdownKey& k) { return AddrKeyName(k, false); });
  return a;
}

Ranked TableBreakdown::Zones(uint32_t top) const {
  return TopOf(zone_, top,
               [](const BreakdownKey& k) { return std::to_string(k.b[0] << 8 | k.b[1]); });
}

std::vector<StaleClass> TableBreakdown::Stale() const {
  StaleClass syn = syn_;
  if (syn.count) {
    std::string v = "top targets:";
    for (auto& [k, n] : TopOf(syn_victims_, 3, [](const BreakdownKey& key) {
           return AddrKeyName(key, false) + " port " + std::to_string(key.b[18] << 8 | key.b[19]);
         })) {
      v += " " + k + " (" + std::to_string(n) + ")";
    }
    syn.description += "; " + v;
  }
  return {syn, idle_, half_, udp_};
}

bool TableBreakdown::exact() const {
  for (const BoundedCounter* c : {&src_, &dst_, &port_, &host_, &zone_, &syn_victims_}) {
    if (!c->exact()) return false;
  }
  return true;
}

uint64_t TableBreakdown::max_error() const {
  uint64_t m = 0;
  for (const BoundedCounter* c : {&src_, &dst_, &port_, &host_, &zone_, &syn_victims_}) {
    m = std::max(m, c->max_error());
  }
  return m;
}

size_t TableBreakdown::memory_bytes() const {
  size_t n = 0;
  for (const BoundedCounter* c : {&src_, &dst_, &port_, &host_, &zone_, &syn_victims_}) {
    n += c->size() * (sizeof(BreakdownKey) + sizeof(uint64_t) + 2 * sizeof(void*));
  }
  return n;
}

std::string PrefixName(uint8_t l3num, const uint8_t* a) {
  return AddrKeyName(AddrKey(l3num, a, l3num == kAfInet ? 3 : 8), true);
}

std::string DescribeEntry(const ConnInfo& ci) {
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

}  // namespace ctrack
