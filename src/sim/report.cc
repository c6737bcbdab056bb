// Text, JSON and HTML renderings of simulation, policy and sweep results.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>

#include "sim/sim.h"

namespace ctrack {
namespace {

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string Secs(Timestamp t) { return Fmt("%.3f", static_cast<double>(t) / 1e9); }
std::string U(uint64_t v) { return std::to_string(v); }
std::string Bytes(uint64_t b) {
  if (b >= (1ull << 30)) return Fmt("%.2f GiB", b / 1073741824.0);
  if (b >= (1ull << 20)) return Fmt("%.1f MiB", b / 1048576.0);
  if (b >= 1024) return Fmt("%.1f KiB", b / 1024.0);
  return U(b) + " B";
}

std::string Esc(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '<':
        o += "\\u003c";  // safe inside an HTML <script> element
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", ch);
          o += b;
        } else {
          o += ch;
        }
    }
  }
  return o;
}
std::string Q(const std::string& s) { return "\"" + Esc(s) + "\""; }
std::string Opt(const std::optional<Timestamp>& t) { return t ? Secs(*t) : "null"; }

std::string RankedJson(const Ranked& r) {
  std::string o = "[";
  for (size_t i = 0; i < r.size(); ++i) {
    if (i) o += ",";
    o += "[" + Q(r[i].first) + "," + U(r[i].second) + "]";
  }
  return o + "]";
}

std::string AttrJson(const Attribution& a) {
  return "{\"why\":" + Q(a.why) + ",\"t\":" + Secs(a.t) + ",\"packet\":" + U(a.packet) +
         ",\"entries\":" + U(a.entries) + ",\"by_state\":" + RankedJson(a.by_state) +
         ",\"by_proto\":" + RankedJson(a.by_proto) + ",\"src_prefix\":" + RankedJson(a.src_prefix) +
         ",\"dst_prefix\":" + RankedJson(a.dst_prefix) + ",\"dst_port\":" + RankedJson(a.dst_port) +
         ",\"heaviest_sources\":" + RankedJson(a.heaviest_sources) + "}";
}

std::string CountersJson(const Config& cfg, const SimCounters& c) {
  return "{\"packets\":" + U(c.packets) + ",\"created\":" + U(c.created) +
         ",\"expired\":" + U(c.expired) + ",\"early_drop\":" + U(c.early_drop) +
         ",\"gc_early_drop\":" + U(c.gc_early_drop) + ",\"drop\":" + U(c.drop) +
         ",\"table_full_drops\":" + U(c.table_full_drops) + ",\"invalid\":" + U(c.invalid) +
         ",\"peak\":" + U(c.peak) + ",\"peak_t\":" + Secs(c.peak_t) +
         ",\"final_count\":" + U(c.final_count) + ",\"first_full_t\":" + Opt(c.first_full) +
         ",\"first_drop_t\":" + Opt(c.first_drop) +
         ",\"overflow_episodes\":" + U(c.overflow_episodes) +
         ",\"refused_connections\":" + U(c.refused_flows) +
         ",\"legit_connections\":" + U(c.legit_flows) + ",\"legit_refused\":" + U(c.legit_hurt) +
         ",\"assured_evicted\":" + U(c.assured_evicted) + ",\"demand_peak\":" + U(c.demand_peak) +
         ",\"memory\":{\"kernel_bytes_peak\":" + U(c.kernel_bytes_peak) +
         ",\"kernel_bytes_full_table\":" + U(KernelBytes(cfg, cfg.nf_conntrack_max)) +
         ",\"ctrack_bytes\":" + U(c.ctrack_bytes) + "}}";
}

std::string SettingsJson(const Config& c) {
  return "{\"nf_conntrack_max\":" + U(c.nf_conntrack_max) +
         ",\"nf_conntrack_buckets\":" + U(c.nf_conntrack_buckets) +
         ",\"ctrack_overload_policy\":" + U(c.ctrack_overload_policy) +
         ",\"ctrack_per_source_max\":" + U(c.ctrack_per_source_max) + "}";
}

std::string InitialJson(const InitialTable& t) {
  return "{\"entries\":" + U(t.entries) + ",\"imported\":" + U(t.imported) +
         ",\"refused_full\":" + U(t.refused_full) + ",\"refused_exists\":" + U(t.refused_exists) +
         ",\"refused_invalid\":" + U(t.refused_invalid) + ",\"nat\":" + U(t.nat) +
         ",\"half_t\":" + Opt(t.half_t) + ",\"tenth_t\":" + Opt(t.tenth_t) +
         ",\"empty_t\":" + Opt(t.empty_t) + ",\"live_end\":" + U(t.live_end) + "}";
}

std::string SimJson(const SimReport& r) {
  std::string o = "{\"inputs\":[";
  for (size_t i = 0; i < r.inputs.size(); ++i) o += (i ? "," : "") + Q(r.inputs[i]);
  o += "],\"settings\":" + SettingsJson(r.cfg) + ",\"duration_s\":" + Secs(r.t1 - r.t0) +
       ",\"counters\":" + CountersJson(r.cfg, r.c);
  if (r.initial) o += ",\"initial_table\":" + InitialJson(*r.initial);
  o += ",\"stats\":{\"found\":" + U(r.stats.found) + ",\"invalid\":" + U(r.stats.invalid) +
       ",\"insert_failed\":" + U(r.stats.insert_failed) + ",\"drop\":" + U(r.stats.drop) +
       ",\"early_drop\":" + U(r.stats.early_drop) + ",\"error\":" + U(r.stats.error) + "}";
  o += ",\"categories\":[";
  for (int k = 0; k < kCatCount; ++k) o += (k ? "," : "") + Q(CategoryName(k));
  o += "],\"samples\":[";
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const Sample& s = r.samples[i];
    o += (i ? ",{" : "{") + std::string("\"t\":") + Secs(s.t) + ",\"count\":" + U(s.count) +
         ",\"by_cat\":[";
    for (int k = 0; k < kCatCount; ++k) o += (k ? "," : "") + U(s.by_cat[k]);
    o += "],\"created\":" + U(s.created) + ",\"expired\":" + U(s.expired) +
         ",\"early_drop\":" + U(s.early_drop) + ",\"drop\":" + U(s.drop) + "}";
  }
  o += "],\"overflows\":[";
  for (size_t i = 0; i < r.overflows.size(); ++i) o += (i ? "," : "") + AttrJson(r.overflows[i]);
  o += "],\"peak\":" + (r.peak ? AttrJson(*r.peak) : std::string("null"));
  const ChainReport& ch = r.chains;
  o += ",\"chains\":{\"buckets\":" + U(ch.buckets) + ",\"nodes\":" + U(ch.nodes) +
       ",\"used_buckets\":" + U(ch.used) + ",\"max\":" + U(ch.max) +
       ",\"mean_used\":" + Fmt("%.3f", ch.mean_used) + ",\"load\":" + Fmt("%.4f", ch.load) +
       ",\"histogram\":[";
  for (size_t i = 0; i < ch.histo.size(); ++i) o += (i ? "," : "") + U(ch.histo[i]);
  o += "],\"ctrack_max_chain\":" + U(ch.ctrack_max_chain) + "}";
  o += ",\"stale\":[";
  for (size_t i = 0; i < r.stale.size(); ++i) {
    const StaleClass& s = r.stale[i];
    o += (i ? ",{" : "{") + std::string("\"name\":") + Q(s.name) +
         ",\"description\":" + Q(s.description) + ",\"count\":" + U(s.count) + ",\"examples\":[";
    for (size_t j = 0; j < s.examples.size(); ++j) o += (j ? "," : "") + Q(s.examples[j]);
    o += "]}";
  }
  o += "],\"wall_s\":" + Fmt("%.3f", r.wall_s) + "}";
  return o;
}

std::string PoliciesJson(const std::vector<PolicyRow>& p) {
  std::string o = "[";
  for (size_t i = 0; i < p.size(); ++i) {
    o += (i ? ",{" : "{") + std::string("\"policy\":") + Q(p[i].name) +
         ",\"settings\":" + SettingsJson(p[i].cfg) +
         ",\"counters\":" + CountersJson(p[i].cfg, p[i].c) + "}";
  }
  return o + "]";
}

std::string SweepJson(const SweepReport& s) {
  std::string o = "{\"rows\":[";
  for (size_t i = 0; i < s.rows.size(); ++i) {
    const SweepRow& r = s.rows[i];
    o += (i ? ",{" : "{") + std::string("\"settings\":{");
    for (size_t j = 0; j < r.settings.size(); ++j) {
      o += (j ? "," : "") + Q(r.settings[j].first) + ":" + U(r.settings[j].second);
    }
    o += "},\"kernel_bytes_full_table\":" + U(r.kernel_bytes_max) +
         ",\"counters\":" + CountersJson(r.cfg, r.c) + "}";
  }
  const Sizing& z = s.sizing;
  o += "],\"sizing\":{\"demand_peak\":" + U(z.demand_peak) + ",\"smallest_zero_drop_max\":" +
       (z.smallest_zero_drop ? U(*z.smallest_zero_drop) : std::string("null")) +
       ",\"headroom\":" + Fmt("%.2f", z.headroom) + ",\"recommended_max\":" + U(z.rec_max) +
       ",\"recommended_buckets\":" + U(z.rec_buckets) +
       ",\"depth_when_full\":" + Fmt("%.2f", z.rec_depth) +
       ",\"kernel_bytes\":" + U(z.rec_kernel_bytes) + ",\"recommended_drops\":" + U(z.rec_drops) +
       ",\"cores\":" + U(z.cores) + ",\"apply\":[";
  for (size_t i = 0; i < z.apply.size(); ++i) o += (i ? "," : "") + Q(z.apply[i]);
  o += "]},\"wall_s\":" + Fmt("%.3f", s.wall_s) + "}";
  return o;
}

void RankedText(std::string& o, const char* title, const Ranked& r, uint32_t total) {
  o += std::string("    ") + title + ":";
  for (const auto& [k, n] : r) {
    o += "  " + k + " " + U(n) + Fmt(" (%.0f%%)", total ? 100.0 * n / total : 0.0);
  }
  o += "\n";
}

void AttrText(std::string& o, const Attribution& a) {
  o += "  " + a.why + " at t=" + Secs(a.t) + " s (packet " + U(a.packet) + "): " + U(a.entries) +
       " live entries\n";
  RankedText(o, "state", a.by_state, a.entries);
  RankedText(o, "protocol", a.by_proto, a.entries);
  RankedText(o, "source /24,/64", a.src_prefix, a.entries);
  RankedText(o, "destination /24,/64", a.dst_prefix, a.entries);
  RankedText(o, "destination port", a.dst_port, a.entries);
  RankedText(o, "heaviest sources", a.heaviest_sources, a.entries);
}

void CountersText(std::string& o, const Config& cfg, const SimCounters& c) {
  o += "  packets " + U(c.packets) + ", created " + U(c.created) + ", expired " + U(c.expired) +
       ", early_drop " + U(c.early_drop) + " (+" + U(c.gc_early_drop) + " by gc), drop " +
       U(c.drop) + " (table full " + U(c.table_full_drops) + "), invalid " + U(c.invalid) + "\n";
  o += "  peak " + U(c.peak) + " entries at t=" + Secs(c.peak_t) + " s (max " +
       U(cfg.nf_conntrack_max) + ", demand without limit " + U(c.demand_peak) + "), final " +
       U(c.final_count) + "\n";
  o += "  table full first at " + (c.first_full ? "t=" + Secs(*c.first_full) + " s" : "never") +
       ", first drop " + (c.first_drop ? "t=" + Secs(*c.first_drop) + " s" : "never") + ", " +
       U(c.overflow_episodes) + " overflow episode(s)\n";
  o += "  connections refused " + U(c.refused_flows) + "; legitimate (answered) connections " +
       U(c.legit_flows) + ", hurt by the limit " + U(c.legit_hurt) + "; ASSURED evicted " +
       U(c.assured_evicted) + "\n";
  o += "  memory: kernel " + Bytes(c.kernel_bytes_peak) + " at the peak (" +
       Bytes(KernelBytes(cfg, cfg.nf_conntrack_max)) + " with a full table), ctrack " +
       Bytes(c.ctrack_bytes) + "\n";
}

}  // namespace

std::string ReportJson(const SimReport* sim, const std::vector<PolicyRow>* policies,
                       const SweepReport* sweep) {
  std::string o = "{\"simulation\":" + (sim ? SimJson(*sim) : std::string("null"));
  o += ",\"policies\":" + (policies ? PoliciesJson(*policies) : std::string("null"));
  o += ",\"sweep\":" + (sweep ? SweepJson(*sweep) : std::string("null")) + "}\n";
  return o;
}

std::string ReportText(const SimReport* sim, const std::vector<PolicyRow>* policies,
                       const SweepReport* sweep) {
  std::string o;
  if (sim) {
    const SimReport& r = *sim;
    o += "simulation: " + U(r.c.packets) + " packets over " + Secs(r.t1 - r.t0) +
         " s of capture time, nf_conntrack_max " + U(r.cfg.nf_conntrack_max) + ", buckets " +
         U(r.cfg.nf_conntrack_buckets) + Fmt(" (%.2f s wall)\n", r.wall_s);
    if (r.initial) {
      const InitialTable& t = *r.initial;
      auto when = [](const std::optional<Timestamp>& x) {
        return x ? "t=" + Secs(*x) + " s" : std::string("not within the run");
      };
      o += "  initial table: " + U(t.imported) + " of " + U(t.entries) + " entries imported";
      if (t.refused_full) o += ", " + U(t.refused_full) + " did not fit (nf_conntrack_max)";
      if (t.refused_exists) o += ", " + U(t.refused_exists) + " duplicate";
      if (t.refused_invalid) o += ", " + U(t.refused_invalid) + " invalid";
      o += " (" + U(t.nat) + " NAT with their own reply tuple)\n";
      o += "  drains to half " + when(t.half_t) + ", to a tenth " + when(t.tenth_t) + ", empty " +
           when(t.empty_t) + "; " + U(t.live_end) + " live entries at t=" + Secs(r.t1 - r.t0) +
           " s\n";
    }
    CountersText(o, r.cfg, r.c);
    if (r.peak) AttrText(o, *r.peak);
    for (const Attribution& a : r.overflows) AttrText(o, a);
    const ChainReport& ch = r.chains;
    o += "  kernel hash chains at the peak (" + U(ch.buckets) + " buckets, both tuples): max " +
         U(ch.max) + Fmt(", mean %.2f per used bucket", ch.mean_used) +
         Fmt(", %.3f per bucket", ch.load) + "; histogram";
    for (size_t i = 0; i < ch.histo.size(); ++i) {
      if (ch.histo[i])
        o += " " + U(i) + (i + 1 == ch.histo.size() ? "+" : "") + ":" + U(ch.histo[i]);
    }
    o += "\n  stale and orphaned entries at the end:\n";
    for (const StaleClass& s : r.stale) {
      o += "    " + s.name + ": " + U(s.count) + " — " + s.description + "\n";
      for (const std::string& e : s.examples) o += "      " + e + "\n";
    }
  }
  if (policies) {
    o += "policies:\n";
    char line[256];
    std::snprintf(line, sizeof line, "  %-10s %10s %10s %10s %12s %10s %10s %12s\n", "policy",
                  "drops", "early_drop", "refused", "legit_hurt", "assured_ev", "peak",
                  "peak_memory");
    o += line;
    for (const PolicyRow& p : *policies) {
      std::snprintf(line, sizeof line,
                    "  %-10s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %12" PRIu64 " %10" PRIu64
                    " %10u %12s\n",
                    p.name.c_str(), p.c.table_full_drops, p.c.early_drop + p.c.gc_early_drop,
                    p.c.refused_flows, p.c.legit_hurt, p.c.assured_evicted, p.c.peak,
                    Bytes(p.c.kernel_bytes_peak).c_str());
      o += line;
    }
  }
  if (sweep) {
    o += "sweep (" + U(sweep->rows.size()) + " settings" + Fmt(", %.2f s wall):\n", sweep->wall_s);
    for (const SweepRow& r : sweep->rows) {
      o += " ";
      for (auto& [k, v] : r.settings) o += " " + k + "=" + U(v);
      o += ": drops " + U(r.c.table_full_drops) + ", early_drop " + U(r.c.early_drop) + ", peak " +
           U(r.c.peak) + ", kernel memory " + Bytes(r.kernel_bytes_max) + " full\n";
    }
    const Sizing& z = sweep->sizing;
    o += "sizing: demand peak " + U(z.demand_peak) + " entries; smallest max with zero drops: " +
         (z.smallest_zero_drop ? U(*z.smallest_zero_drop) : std::string("none of the swept")) +
         "\n  recommended nf_conntrack_max " + U(z.rec_max) +
         Fmt(" (%.0f%% headroom)", z.headroom * 100) + ", nf_conntrack_buckets " +
         U(z.rec_buckets) + Fmt(" (%.1f nodes per bucket when full)", z.rec_depth) +
         ", kernel memory " + Bytes(z.rec_kernel_bytes) + ", drops when replayed " +
         U(z.rec_drops) + "\n  apply:\n";
    for (const std::string& l : z.apply) o += "    " + l + "\n";
  }
  return o;
}

}  // namespace ctrack
