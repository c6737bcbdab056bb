#include "sim/forecast.h"

#include <arpa/inet.h>
#include <ctrack/tuple.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>

namespace ctrack::watch {
namespace {

// Class keys are indexed as protocol slot * 16 + state for the per-class smoothing arrays.
constexpr int kSlots = 8;
constexpr int kKeyCount = kSlots * 16;

int ProtoSlot(uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return 0;
    case kProtoUdp:
      return 1;
    case kProtoUdplite:
      return 2;
    case kProtoIcmp:
      return 3;
    case kProtoIcmpv6:
      return 4;
    case kProtoGre:
      return 5;
    case kProtoSctp:
      return 6;
    default:
      return 7;
  }
}
int KeyIndex(ClassKey k) { return ProtoSlot(k.proto) * 16 + (k.state & 15); }

// Smoothing weight of the newest interval's rate (exponential average over about two intervals).
constexpr double kAlpha = 0.5;

struct AddrKey {
  uint8_t addr[16];
  uint8_t family;
  friend bool operator==(const AddrKey& a, const AddrKey& b) {
    return a.family == b.family && std::memcmp(a.addr, b.addr, 16) == 0;
  }
};
struct AddrHash {
  size_t operator()(const AddrKey& k) const {
    uint64_t a, b;
    std::memcpy(&a, k.addr, 8);
    std::memcpy(&b, k.addr + 8, 8);
    uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b + k.family) * 0xc2b2ae3d27d4eb4full;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

std::string AddrText(const AddrKey& k) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(k.family == kAfInet6 ? AF_INET6 : AF_INET, k.addr, buf, sizeof buf);
  return buf;
}

template <typename Map, typename KeyFn>
std::vector<TopRow> TopOf(const Map& m, uint32_t top, uint64_t* other, KeyFn text,
                          const std::vector<std::pair<std::string, uint64_t>>& prev) {
  std::vector<std::pair<uint64_t, typename Map::key_type>> rows;
  rows.reserve(m.size());
  uint64_t total = 0;
  for (const auto& [k, n] : m) {
    rows.emplace_back(n, k);
    total += n;
  }
  size_t keep = std::min<size_t>(top, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + keep, rows.end(),
                    [&](const auto& a, const auto& b) {
                      if (a.first != b.first) return a.first > b.first;
                      return text(a.second) < text(b.second);
                    });
  std::vector<TopRow> out;
  uint64_t shown = 0;
  for (size_t i = 0; i < keep; ++i) {
    TopRow r;
    r.key = text(rows[i].second);
    r.count = rows[i].first;
    shown += r.count;
    for (const auto& [pk, pn] : prev)
      if (pk == r.key) r.growth = static_cast<int64_t>(r.count) - static_cast<int64_t>(pn);
    out.push_back(std::move(r));
  }
  *other = total - shown;
  return out;
}

}  // namespace

ClassKey ClassOf(const ConnInfo& ci) {
  ClassKey k;
  k.proto = ci.orig.protonum;
  const ProtoDesc& d = ProtoInfo(k.proto);
  if (d.has_states) {
    k.state = ci.state;
  } else if (k.proto == kProtoUdp || k.proto == kProtoUdplite || k.proto == kProtoGre) {
    k.state = (ci.status & ctrack::kAssured) ? kClassAssured
              : (ci.status & kSeenReply)     ? kClassReplied
                                             : kClassUnreplied;
  }
  return k;
}

const char* ClassProtoName(ClassKey k) { return L4ProtoName(k.proto); }

const char* ClassStateName(ClassKey k) {
  const ProtoDesc& d = ProtoInfo(k.proto);
  if (d.has_states) return StateName(k.proto, k.state);
  if (k.proto == kProtoUdp || k.proto == kProtoUdplite || k.proto == kProtoGre) {
    static const char* const kNames[] = {"UNREPLIED", "REPLIED", "ASSURED"};
    return k.state < 3 ? kNames[k.state] : "-";
  }
  return "-";
}

uint32_t ClassTimeout(const Config& c, ClassKey k) {
  // The engine's per-protocol timeout table (ProtoDesc::timeout). Stateful protocols index it by
  // state; UDP, UDP-Lite and GRE by "replied stream", which for a class is ASSURED.
  const ProtoDesc& d = ProtoInfo(k.proto);
  return d.timeout(c, d.has_states ? k.state : (k.state == kClassAssured ? 1 : 0));
}

ClassOutlook Outlook(const ClassState& c) {
  ClassOutlook o;
  const double lambda = std::max(0.0, c.arrivals_per_s);
  const double mu = std::max(0.0, c.departures_per_s);
  if (c.timeout_s == 0) {  // unknown residence (count-only trend)
    o.timeout_driven = false;
    o.residence_s = kNever;
    o.level = lambda > mu ? kNever : static_cast<double>(c.count);
    return o;
  }
  const double t = c.timeout_s;
  // Entries staying clearly less than the timeout leave by transition or deletion: their
  // observed residence (Little's law read backwards, N / departure rate) replaces the timeout.
  const double observed = mu > 0 ? static_cast<double>(c.count) / mu : kNever;
  if (observed >= 0.8 * t) {
    o.residence_s = t;
    o.timeout_driven = true;
  } else {
    o.residence_s = std::max(observed, 1.0);
    o.timeout_driven = false;
  }
  o.level = lambda * o.residence_s;
  return o;
}

double Project(const ClassState& c, const ClassOutlook& o, double tau) {
  const double lambda = std::max(0.0, c.arrivals_per_s);
  const double n = static_cast<double>(c.count);
  if (c.timeout_s == 0) return n + (lambda - std::max(0.0, c.departures_per_s)) * tau;
  if (!o.timeout_driven) {
    return n + (o.level - n) * std::min(1.0, tau / o.residence_s);
  }
  double survivors;
  if (!c.survivors.empty()) {
    size_t r = static_cast<size_t>(tau);
    if (r >= c.survivors.size()) r = c.survivors.size() - 1;
    survivors = static_cast<double>(c.survivors[r]);
  } else {
    survivors = n * std::max(0.0, 1.0 - tau / c.timeout_s);  // ages assumed uniform
  }
  return survivors + lambda * std::min(tau, o.residence_s);
}

std::string HumanDuration(double s) {
  char b[32];
  if (!std::isfinite(s)) return "never";
  if (s < 90)
    std::snprintf(b, sizeof b, "%.0f s", s);
  else if (s < 5400)
    std::snprintf(b, sizeof b, "%.0f min", s / 60);
  else if (s < 172800)
    std::snprintf(b, sizeof b, "%.1f h", s / 3600);
  else
    std::snprintf(b, sizeof b, "%.0f d", s / 86400);
  return b;
}

Forecast ComputeForecast(std::span<const ClassState> classes, double other, uint64_t max) {
  Forecast f;
  std::vector<ClassOutlook> out;
  out.reserve(classes.size());
  double horizon = 1;
  for (const ClassState& c : classes) {
    out.push_back(Outlook(c));
    if (std::isfinite(out.back().residence_s)) horizon = std::max(horizon, out.back().residence_s);
  }
  horizon = std::min(horizon, 86400.0);  // a day ahead at most
  f.horizon_s = horizon;
  auto total = [&](double tau) {
    double n = other;
    for (size_t i = 0; i < classes.size(); ++i) n += Project(classes[i], out[i], tau);
    return n;
  };
  const double limit = static_cast<double>(max);
  double end = horizon;
  if (max > 0) {
    double prev = 0;
    if (total(0) >= limit) {
      f.time_to_full_s = 0;
    } else {
      // Grid of 1 s steps growing by 2 %, then bisection inside the first bracket that crosses.
      for (double tau = 1; prev < horizon; tau += std::max(1.0, tau * 0.02)) {
        tau = std::min(tau, horizon);
        if (total(tau) >= limit) {
          double lo = prev, hi = tau;
          for (int i = 0; i < 40 && hi - lo > 0.01; ++i) {
            double mid = (lo + hi) / 2;
            (total(mid) >= limit ? hi : lo) = mid;
          }
          f.time_to_full_s = hi;
          break;
        }
        prev = tau;
      }
    }
    if (std::isfinite(f.time_to_full_s)) end = f.time_to_full_s;
  }
  f.settle_entries = other;
  for (size_t i = 0; i < classes.size(); ++i) {
    f.settle_entries +=
        std::isfinite(out[i].level) ? out[i].level : Project(classes[i], out[i], horizon);
  }
  f.settle_fraction = max > 0 ? f.settle_entries / limit : 0;
  double best = 0;
  for (size_t i = 0; i < classes.size(); ++i) {
    double add = Project(classes[i], out[i], std::max(end, 1.0)) - classes[i].count;
    if (add > best) {
      best = add;
      f.driver = static_cast<int>(i);
    }
  }
  char b[160];
  std::string who = "";
  if (f.driver >= 0) {
    who = std::string(ClassProtoName(classes[f.driver].key));
    if (std::strcmp(ClassStateName(classes[f.driver].key), "-") != 0)
      who += std::string(" ") + ClassStateName(classes[f.driver].key);
  }
  if (f.time_to_full_s == 0) {
    f.text = "full now";
  } else if (std::isfinite(f.time_to_full_s)) {
    std::snprintf(b, sizeof b, "full in %s at the current %s arrival rate",
                  HumanDuration(f.time_to_full_s).c_str(), who.empty() ? "" : who.c_str());
    f.text = b;
  } else {
    std::snprintf(b, sizeof b, "settles at %.0f %% of max", f.settle_fraction * 100);
    f.text = b;
  }
  return f;
}

struct Watcher::Acc {
  uint64_t entries = 0;
  uint64_t counts[kKeyCount] = {};
  ClassKey keys[kKeyCount];
  std::vector<uint64_t> hist[kKeyCount];
  std::unordered_map<AddrKey, uint64_t, AddrHash> src;
  std::unordered_map<uint32_t, uint64_t> port;
  std::unordered_map<uint8_t, uint64_t> proto;
  std::unordered_map<uint16_t, uint64_t> zone;
};

Watcher::Watcher(const Config& timeouts, uint32_t top)
    : cfg_(timeouts),
      top_(top),
      acc_(std::make_unique<Acc>()),
      smooth_arr_(kKeyCount, 0),
      smooth_dep_(kKeyCount, 0) {}

Watcher::~Watcher() = default;

void Watcher::BeginTable() {
  Acc& a = *acc_;
  a.entries = 0;
  for (int i = 0; i < kKeyCount; ++i) {
    a.counts[i] = 0;
    a.hist[i].clear();  // keeps capacity: no allocation per dump once warmed up
  }
  a.src.clear();
  a.port.clear();
  a.proto.clear();
  a.zone.clear();
  ids_.clear();
}

void Watcher::AddEntry(const ConnInfo& ci) {
  Acc& a = *acc_;
  ++a.entries;
  ClassKey k = ClassOf(ci);
  int ki = KeyIndex(k);
  a.keys[ki] = k;
  ++a.counts[ki];
  // Histogram of remaining seconds, one bucket per second up to the class timeout.
  auto& h = a.hist[ki];
  if (h.empty()) h.assign(std::min<uint32_t>(ClassTimeout(cfg_, k), 7 * 86400) + 2, 0);
  size_t rem = ci.timeout_s < 0 ? 0 : static_cast<size_t>(ci.timeout_s);
  ++h[std::min(rem, h.size() - 1)];
  ids_.emplace_back(ci.id, static_cast<uint16_t>(ki));
  AddrKey ak{};
  ak.family = ci.orig.l3num;
  std::memcpy(ak.addr, ci.orig.src, 16);
  ++a.src[ak];
  if (ProtoInfo(ci.orig.protonum).has_ports)
    ++a.port[(static_cast<uint32_t>(ci.orig.protonum) << 16) | ci.orig.dst_id];
  ++a.proto[ci.orig.protonum];
  ++a.zone[ci.orig.zone];
}

void Watcher::Observe(const Sample& s, std::span<const ConnInfo> entries) {
  BeginTable();
  if (s.has_table)
    for (const ConnInfo& ci : entries) AddEntry(ci);
  Observe(s);
}

namespace {

// Per-second rate of a counter between two samples dt apart; 0 when it went backwards (a
// counter reset).
double PerSecond(uint64_t now, uint64_t before, double dt) {
  return now >= before ? static_cast<double>(now - before) / dt : 0.0;
}

}  // namespace

void Watcher::FillSampleFields(const Sample& s, double dt, bool rates, WatchReport* out) const {
  WatchReport& r = *out;
  r.t = s.t;
  r.count = s.count;
  r.max = s.max;
  r.buckets = s.buckets;
  r.fill = s.max ? static_cast<double>(s.count) / static_cast<double>(s.max) : 0;
  r.has_table = s.has_table;
  r.has_stats = s.has_stats;
  r.has_events = s.has_events;
  r.stats = s.stats;
  r.ignore = s.ignore;
  r.bucket_depth = s.buckets ? 2.0 * static_cast<double>(s.count) / s.buckets : 0;
  // Kernel memory: the nf_conntrack slab objects plus 8 bytes per bucket head
  // (nf_ct_alloc_hashtable() allocates hlist_nulls_head pointers).
  r.kernel_bytes = s.kernel_bytes ? s.kernel_bytes
                                  : s.count * (s.entry_bytes ? s.entry_bytes : 256) + s.buckets * 8;
  r.interval_s = dt;
  r.inserts_total = rep_.inserts_total;
  r.deletes_total = rep_.deletes_total;
  r.events_overrun_total = rep_.events_overrun_total;
  if (rates && s.has_stats && prev_.has_stats) {
    r.drop_per_s = PerSecond(s.stats.drop, prev_.stats.drop, dt);
    r.early_drop_per_s = PerSecond(s.stats.early_drop, prev_.stats.early_drop, dt);
    r.insert_failed_per_s = PerSecond(s.stats.insert_failed, prev_.stats.insert_failed, dt);
  }
}

void Watcher::DiffIds(double* arr, double* dep, uint64_t* born, uint64_t* gone) const {
  // Merge the sorted id lists: new ids were born, missing ids left, moved ids changed state.
  size_t i = 0, j = 0;
  while (i < ids_.size() || j < prev_ids_.size()) {
    if (j == prev_ids_.size() || (i < ids_.size() && ids_[i].first < prev_ids_[j].first)) {
      arr[ids_[i].second] += 1;
      ++*born;
      ++i;
    } else if (i == ids_.size() || prev_ids_[j].first < ids_[i].first) {
      dep[prev_ids_[j].second] += 1;
      ++*gone;
      ++j;
    } else {
      if (ids_[i].second != prev_ids_[j].second) {
        arr[ids_[i].second] += 1;
        dep[prev_ids_[j].second] += 1;
      }
      ++i;
      ++j;
    }
  }
}

void Watcher::FillTableRows(WatchReport* out) {
  WatchReport& r = *out;
  Acc& a = *acc_;
  uint64_t other = 0;
  r.top_sources = TopOf(
      a.src, top_, &other, [](const AddrKey& k) { return AddrText(k); }, prev_src_);
  r.sources_other = other;
  r.top_dports = TopOf(
      a.port, top_, &other,
      [](uint32_t k) {
        return std::string(L4ProtoName(static_cast<uint8_t>(k >> 16))) + "/" +
               std::to_string(k & 0xffff);
      },
      prev_port_);
  r.dports_other = other;
  prev_src_.clear();
  for (const TopRow& t : r.top_sources) prev_src_.emplace_back(t.key, t.count);
  prev_port_.clear();
  for (const TopRow& t : r.top_dports) prev_port_.emplace_back(t.key, t.count);
  for (const auto& [p, n] : a.proto) r.by_proto.emplace_back(L4ProtoName(p), n);
  std::sort(r.by_proto.begin(), r.by_proto.end());
  for (const auto& [z, n] : a.zone) r.by_zone.emplace_back(z, n);
  std::sort(r.by_zone.begin(), r.by_zone.end());
}

void Watcher::FillInsertDeleteRates(const Sample& s, double dt, bool rates, uint64_t born,
                                    uint64_t gone, WatchReport* out) const {
  WatchReport& r = *out;
  // Insertion and deletion rates: events when subscribed (exact up to counted overruns), else
  // the dump difference, else the net change of the count.
  if (s.has_events && (n_ == 0 || prev_.has_events)) {
    if (rates) {
      r.insert_per_s = PerSecond(s.events_new, prev_.events_new, dt);
      r.delete_per_s = PerSecond(s.events_destroy, prev_.events_destroy, dt);
      r.inserts_total += s.events_new - std::min(s.events_new, prev_.events_new);
      r.deletes_total += s.events_destroy - std::min(s.events_destroy, prev_.events_destroy);
      r.events_overrun_total += s.events_overrun - std::min(s.events_overrun, prev_.events_overrun);
    } else {
      r.inserts_total = s.events_new;
      r.deletes_total = s.events_destroy;
      r.events_overrun_total = s.events_overrun;
    }
    r.rate_source = "events";
  } else if (s.has_table && prev_.has_table && rates) {
    r.insert_per_s = born / dt;
    r.delete_per_s = gone / dt;
    r.inserts_total += born;
    r.deletes_total += gone;
    r.rate_source = "dump";
  } else if (rates) {
    double net = (static_cast<double>(s.count) - static_cast<double>(prev_.count)) / dt;
    r.insert_per_s = std::max(0.0, net);
    r.delete_per_s = std::max(0.0, -net);
    r.rate_source = "count";
  }
}

std::vector<ClassState> Watcher::ForecastClasses(const Sample& s, double dt, bool rates,
                                                 const double* arr, const double* dep,
                                                 double* other) {
  Acc& a = *acc_;
  std::vector<ClassState> cs;
  if (s.has_table) {
    for (int ki = 0; ki < kKeyCount; ++ki) {
      if (rates && prev_.has_table) {
        // Fast attack, slow decay: a rising arrival rate is believed at once (an alert must
        // not wait for an average to catch up with a flood), a falling one decays gradually.
        const double raw = arr[ki] / dt;
        smooth_arr_[ki] =
            n_ > 1 ? std::max(raw, kAlpha * raw + (1 - kAlpha) * smooth_arr_[ki]) : raw;
        smooth_dep_[ki] =
            n_ > 1 ? kAlpha * dep[ki] / dt + (1 - kAlpha) * smooth_dep_[ki] : dep[ki] / dt;
      }
      if (a.counts[ki] == 0) continue;  // nothing to project from; arrivals show next time
      ClassState c;
      c.key = a.keys[ki];
      c.count = a.counts[ki];
      c.arrivals_per_s = smooth_arr_[ki];
      c.departures_per_s = smooth_dep_[ki];
      c.timeout_s = ClassTimeout(cfg_, c.key);
      // survivors[r] = entries with more than r seconds left: suffix sums of the histogram.
      auto& h = a.hist[ki];
      c.survivors.assign(h.size(), 0);
      uint64_t acc = 0;
      for (size_t rr = h.size(); rr-- > 0;) {
        c.survivors[rr] = acc;
        acc += h[rr];
      }
      cs.push_back(std::move(c));
    }
    uint64_t dumped = a.entries;
    *other = s.count > dumped ? static_cast<double>(s.count - dumped) : 0;
  } else {
    ClassState c;
    c.key = ClassKey{0, 0};
    c.count = s.count;
    if (rates) {
      double net = (static_cast<double>(s.count) - static_cast<double>(prev_.count)) / dt;
      smooth_arr_[0] = n_ > 1 ? kAlpha * net + (1 - kAlpha) * smooth_arr_[0] : net;
      c.arrivals_per_s = std::max(0.0, smooth_arr_[0]);
      c.departures_per_s = std::max(0.0, -smooth_arr_[0]);
    }
    c.timeout_s = 0;  // trend only
    cs.push_back(std::move(c));
  }
  return cs;
}

void Watcher::Observe(const Sample& s) {
  WatchReport r;
  const double dt = n_ > 0 ? s.t - prev_.t : 0;
  const bool rates = n_ > 0 && dt > 0;
  FillSampleFields(s, dt, rates, &r);

  double arr[kKeyCount] = {}, dep[kKeyCount] = {};
  uint64_t born = 0, gone = 0;
  if (s.has_table) {
    std::sort(ids_.begin(), ids_.end());
    if (rates && prev_.has_table) DiffIds(arr, dep, &born, &gone);
    FillTableRows(&r);
    prev_ids_.swap(ids_);
  }
  FillInsertDeleteRates(s, dt, rates, born, gone, &r);

  double other = 0;
  std::vector<ClassState> cs = ForecastClasses(s, dt, rates, arr, dep, &other);
  r.forecast = ComputeForecast(cs, other, s.max);
  if (!s.has_table && r.forecast.driver >= 0) {
    // The trend has no class to name.
    if (std::isfinite(r.forecast.time_to_full_s) && r.forecast.time_to_full_s > 0)
      r.forecast.text = "full in " + HumanDuration(r.forecast.time_to_full_s) +
                        " at the current net growth (count only)";
  }
  for (ClassState& c : cs) {
    ClassRow row;
    row.outlook = Outlook(c);
    c.survivors.clear();
    c.survivors.shrink_to_fit();
    row.state = std::move(c);
    r.classes.push_back(std::move(row));
  }
  std::sort(r.classes.begin(), r.classes.end(),
            [](const ClassRow& x, const ClassRow& y) { return x.state.count > y.state.count; });
  prev_ = s;
  ++n_;
  rep_ = std::move(r);
}

}  // namespace ctrack::watch
