// Sizing sweeps and overload policies compared side by side: many independent replays of the same
// in-memory captures, each with its own Conntrack, spread over worker threads.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <thread>

#include "sim/internal.h"
#include "sim/sim.h"

namespace ctrack {
namespace {

using sim_internal::Baseline;
using sim_internal::RunBaseline;
using sim_internal::RunCounters;

// Runs job(i) for i in [0, n) on up to `threads` threads.
void ParallelFor(size_t n, unsigned threads, const std::function<void(size_t)>& job) {
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(n)));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) job(i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

uint32_t NextPow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return static_cast<uint32_t>(std::min<uint64_t>(p, 1u << 28));
}

}  // namespace

std::vector<std::string> PolicyNames() {
  return {"kernel", "adaptive", "emergency", "oldest", "persource"};
}

std::string PolicyConfig(const std::string& name, const Config& base, Config* out) {
  Config c = base;
  c.ctrack_per_source_max = 0;
  if (name == "kernel") {
    c.ctrack_overload_policy = 0;
  } else if (name == "adaptive") {
    c.ctrack_overload_policy = 1;
  } else if (name == "emergency") {
    c.ctrack_overload_policy = 2;
  } else if (name == "oldest") {
    c.ctrack_overload_policy = 3;
  } else if (name == "persource") {
    c.ctrack_overload_policy = 4;
    // The user's limit if given, else an eighth of the table per source prefix.
    c.ctrack_per_source_max = base.ctrack_per_source_max != 0 ? base.ctrack_per_source_max
                              : base.nf_conntrack_max != 0 ? std::max(1u, base.nf_conntrack_max / 8)
                                                           : 4096;
  } else {
    return "unknown policy '" + name + "' (kernel, adaptive, emergency, oldest, persource, all)";
  }
  *out = c;
  return c.Validate();
}

std::vector<PolicyRow> ComparePolicies(const std::vector<LoadedCapture>& caps,
                                       const SimOptions& base,
                                       const std::vector<std::string>& names, unsigned threads) {
  Baseline b = RunBaseline(caps, base);
  std::vector<PolicyRow> rows(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    rows[i].name = names[i];
    PolicyConfig(names[i], base.cfg, &rows[i].cfg);
  }
  SimOptions opt = base;
  opt.progress = nullptr;
  ParallelFor(rows.size(), threads,
              [&](size_t i) { rows[i].c = RunCounters(caps, opt, rows[i].cfg, &b, nullptr); });
  return rows;
}

std::string ParseSweep(const std::string& arg, SweepDim* out) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos) return "--sweep " + arg + ": expected NAME=V1,V2,...";
  SweepDim d;
  d.name = arg.substr(0, eq);
  constexpr std::string_view kPrefix = "net.netfilter.";
  if (d.name.rfind(kPrefix, 0) == 0) d.name = d.name.substr(kPrefix.size());
  Config probe;
  std::string_view rest = std::string_view(arg).substr(eq + 1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || p != item.data() + item.size()) {
      return "--sweep " + d.name + ": '" + std::string(item) + "' is not a number";
    }
    if (std::string err = probe.Set(d.name, std::string(item)); !err.empty()) {
      return "--sweep " + err;
    }
    d.values.push_back(v);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (d.values.empty()) return "--sweep " + d.name + ": no values";
  *out = d;
  return "";
}

SweepReport Sweep(const std::vector<LoadedCapture>& caps, const SimOptions& base,
                  const std::vector<SweepDim>& dims, unsigned threads, double headroom,
                  uint32_t cores) {
  auto start = std::chrono::steady_clock::now();
  SweepReport rep;
  rep.dims = dims;
  // Cartesian product of the dimensions, last one fastest.
  size_t total = 1;
  for (const SweepDim& d : dims) total *= d.values.size();
  for (size_t k = 0; k < total; ++k) {
    SweepRow row;
    row.cfg = base.cfg;
    size_t rem = k;
    for (size_t j = dims.size(); j-- > 0;) {
      uint32_t v = dims[j].values[rem % dims[j].values.size()];
      rem /= dims[j].values.size();
      row.cfg.Set(dims[j].name, std::to_string(v));
      row.settings.insert(row.settings.begin(), {dims[j].name, v});
    }
    row.kernel_bytes_max = KernelBytes(row.cfg, row.cfg.nf_conntrack_max);
    rep.rows.push_back(row);
  }
  SimOptions opt = base;
  opt.progress = nullptr;
  opt.detail = false;
  // The rows and the unlimited demand run go together over the pool.
  uint32_t demand = 0;
  ParallelFor(rep.rows.size() + 1, threads, [&](size_t i) {
    if (i == rep.rows.size()) {
      demand = RunBaseline(caps, opt).peak;
      return;
    }
    SweepRow& r = rep.rows[i];
    if (!r.cfg.Validate().empty()) return;
    r.c = RunCounters(caps, opt, r.cfg, nullptr, nullptr);
  });
  Sizing& s = rep.sizing;
  s.demand_peak = demand;
  s.headroom = headroom;
  s.cores = std::max(1u, cores);
  for (const SweepRow& r : rep.rows) {
    if (r.cfg.nf_conntrack_max == 0 || r.c.table_full_drops != 0) continue;
    if (!s.smallest_zero_drop || r.cfg.nf_conntrack_max < *s.smallest_zero_drop) {
      s.smallest_zero_drop = r.cfg.nf_conntrack_max;
    }
  }
  uint64_t want = static_cast<uint64_t>(std::ceil(demand * (1.0 + headroom)));
  if (s.smallest_zero_drop) want = std::max<uint64_t>(want, *s.smallest_zero_drop);
  want = std::max<uint64_t>((want + 1023) / 1024 * 1024, 1024);  // whole multiples of 1024
  s.rec_max = static_cast<uint32_t>(std::min<uint64_t>(want, 0x7fffffff));
  // Both tuples of every entry hang in the table: 2 * max / buckets nodes per bucket when full.
  s.rec_buckets = NextPow2((static_cast<uint64_t>(s.rec_max) + 1) / 2);
  s.rec_depth = 2.0 * s.rec_max / s.rec_buckets;
  Config rc = base.cfg;
  rc.nf_conntrack_max = s.rec_max;
  rc.nf_conntrack_buckets = s.rec_buckets;
  s.rec_kernel_bytes = KernelBytes(rc, s.rec_max);
  s.rec_drops = RunCounters(caps, opt, rc, nullptr, nullptr).table_full_drops;
  uint32_t per_core = (s.rec_max + s.cores - 1) / s.cores;
  std::string m = std::to_string(s.rec_max), b = std::to_string(s.rec_buckets);
  s.apply = {
      "sysctl -w net.netfilter.nf_conntrack_max=" + m,
      "sysctl -w net.netfilter.nf_conntrack_buckets=" + b + "   # or: echo " + b +
          " > /sys/module/nf_conntrack/parameters/hashsize",
      "printf 'net.netfilter.nf_conntrack_max = " + m +
          "\\nnet.netfilter.nf_conntrack_buckets = " + b + "\\n' > /etc/sysctl.d/90-conntrack.conf",
      "kube-proxy --conntrack-max-per-core=" + std::to_string(per_core) + " --conntrack-min=" + m +
          "   # " + std::to_string(s.cores) +
          " cores; KubeProxyConfiguration conntrack.maxPerCore / conntrack.min",
  };
  rep.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

}  // namespace ctrack
