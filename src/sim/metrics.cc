#include "sim/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "format/text.h"

namespace ctrack::watch {
namespace {

// Label values escape backslash, double quote and newline (exposition format rules).
std::string Escape(const std::string& v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      o += "\\\\";
    else if (c == '"')
      o += "\\\"";
    else if (c == '\n')
      o += "\\n";
    else
      o += c;
  }
  return o;
}

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char b[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(b, sizeof b, "%.0f", v);
  else
    std::snprintf(b, sizeof b, "%.15g", v);  // unix times need 13+ digits
  return b;
}

class Writer {
 public:
  explicit Writer(Exposition e) : om_(e == Exposition::kOpenMetrics) { out_.reserve(16384); }
  // Starts a family. For counters, `name` is without _total; samples get the suffix.
  void Family(const char* name, const char* type, const char* help) {
    name_ = name;
    counter_ = std::strcmp(type, "counter") == 0;
    // Prometheus 0.0.4 names the counter family with its _total; OpenMetrics without.
    std::string fam = name_ + (counter_ && !om_ ? "_total" : "");
    out_ += "# HELP " + fam + " " + help + "\n";
    out_ += "# TYPE " + fam + " " + type + "\n";
  }
  void Sample(double v, const std::string& labels = "") {
    out_ += name_;
    if (counter_) out_ += "_total";
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + Num(v) + "\n";
  }
  std::string Finish() {
    if (om_) out_ += "# EOF\n";
    return std::move(out_);
  }

 private:
  bool om_;
  bool counter_ = false;
  std::string name_;
  std::string out_;
};

std::string L(const char* k, const std::string& v) {
  return std::string(k) + "=\"" + Escape(v) + "\"";
}

std::string Iso(double unix_time) {
  time_t t = static_cast<time_t>(unix_time);
  struct tm tm;
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

std::string Rate(double v) { return v < 0 ? "-" : Num(std::round(v * 10) / 10); }

std::string JsonNum(double v) { return std::isfinite(v) ? Num(v) : "null"; }

// The kernel's per-CPU statistics (nf_conntrack_stat), first under node_exporter's names.
void StatsFamilies(Writer& w, const WatchReport& r) {
  struct Stat {
    const char* name;
    uint64_t v;
    const char* help;
  };
  const Stat st[] = {
      {"node_nf_conntrack_stat_found", r.stats.found,
       "Number of searched entries which were successful."},
      {"node_nf_conntrack_stat_invalid", r.stats.invalid,
       "Number of packets seen which can not be tracked."},
      {"node_nf_conntrack_stat_ignore", r.ignore,
       "Number of packets seen which are already connected to a conntrack entry."},
      {"node_nf_conntrack_stat_insert", r.stats.insert,
       "Number of entries inserted into the list."},
      {"node_nf_conntrack_stat_insert_failed", r.stats.insert_failed,
       "Number of entries for which list insertion was attempted but failed."},
      {"node_nf_conntrack_stat_drop", r.stats.drop,
       "Number of packets dropped due to conntrack failure."},
      {"node_nf_conntrack_stat_early_drop", r.stats.early_drop,
       "Number of dropped conntrack entries to make room for new ones, if maximum table size was "
       "reached."},
      {"node_nf_conntrack_stat_search_restart", r.stats.search_restart,
       "Number of conntrack table lookups which had to be restarted due to hashtable resizes."},
  };
  for (const auto& s : st) {
    w.Family(s.name, "gauge", s.help);
    w.Sample(static_cast<double>(s.v));
  }
  // The same counters typed as counters, for rate() without reset surprises.
  const Stat counters[] = {
      {"ctrack_conntrack_drops", r.stats.drop,
       "Packets dropped because the table was full (stat drop)."},
      {"ctrack_conntrack_early_drops", r.stats.early_drop,
       "Entries evicted to make room (stat early_drop)."},
      {"ctrack_conntrack_insert_failed", r.stats.insert_failed,
       "Confirmations that failed (stat insert_failed)."},
      {"ctrack_conntrack_invalid", r.stats.invalid,
       "Packets that could not be tracked (stat invalid)."},
      {"ctrack_conntrack_icmp_errors", r.stats.error, "ICMP errors rejected (stat error)."},
  };
  for (const auto& s : counters) {
    w.Family(s.name, "counter", s.help);
    w.Sample(static_cast<double>(s.v));
  }
}

// Families read from a table dump: per class, protocol, zone, top sources and ports.
void TableFamilies(Writer& w, const WatchReport& r) {
  w.Family("ctrack_conntrack_entries_by_state", "gauge", "Entries by protocol and state.");
  for (const ClassRow& c : r.classes)
    w.Sample(static_cast<double>(c.state.count), L("protocol", ClassProtoName(c.state.key)) + "," +
                                                     L("state", ClassStateName(c.state.key)));
  w.Family("ctrack_conntrack_state_arrivals_per_second", "gauge",
           "Entries entering each state per second.");
  for (const ClassRow& c : r.classes)
    w.Sample(c.state.arrivals_per_s, L("protocol", ClassProtoName(c.state.key)) + "," +
                                         L("state", ClassStateName(c.state.key)));
  w.Family("ctrack_conntrack_state_settle_entries", "gauge",
           "Level each state heads for: arrival rate times residence (Little's law).");
  for (const ClassRow& c : r.classes)
    w.Sample(c.outlook.level, L("protocol", ClassProtoName(c.state.key)) + "," +
                                  L("state", ClassStateName(c.state.key)));
  w.Family("ctrack_conntrack_entries_by_protocol", "gauge", "Entries by layer-4 protocol.");
  for (const auto& [p, n] : r.by_proto) w.Sample(static_cast<double>(n), L("protocol", p));
  w.Family("ctrack_conntrack_entries_by_zone", "gauge", "Entries by conntrack zone.");
  for (const auto& [z, n] : r.by_zone)
    w.Sample(static_cast<double>(n), L("zone", std::to_string(z)));
  w.Family("ctrack_conntrack_top_source_entries", "gauge",
           "Entries of the top original-direction sources (cardinality capped; the rest as "
           "source=\"other\").");
  for (const TopRow& t : r.top_sources) w.Sample(static_cast<double>(t.count), L("source", t.key));
  w.Sample(static_cast<double>(r.sources_other), L("source", "other"));
  w.Family(
      "ctrack_conntrack_top_dport_entries", "gauge",
      "Entries of the top destination ports (cardinality capped; the rest as port=\"other\").");
  for (const TopRow& t : r.top_dports) {
    size_t slash = t.key.find('/');
    w.Sample(static_cast<double>(t.count),
             L("protocol", t.key.substr(0, slash)) + "," + L("port", t.key.substr(slash + 1)));
  }
  w.Sample(static_cast<double>(r.dports_other), L("protocol", "other") + "," + L("port", "other"));
}

// The exporter's own sampling counters.
void ExporterFamilies(Writer& w, const ExporterStats& ex) {
  w.Family("ctrack_exporter_dumps", "counter",
           "Table samples taken (one per interval at most, whatever the scrape rate).");
  w.Sample(static_cast<double>(ex.dumps));
  w.Family("ctrack_exporter_dump_errors", "counter", "Table samples that failed.");
  w.Sample(static_cast<double>(ex.dump_errors));
  w.Family("ctrack_exporter_scrapes", "counter", "Metrics requests answered.");
  w.Sample(static_cast<double>(ex.scrapes));
  w.Family("ctrack_exporter_dump_duration_seconds", "gauge", "Duration of the last table sample.");
  w.Sample(ex.last_dump_s);
  w.Family("ctrack_exporter_last_sample_timestamp_seconds", "gauge",
           "Unix time of the last table sample.");
  w.Sample(ex.last_sample_unix);
  w.Family("ctrack_exporter_interval_seconds", "gauge", "Sampling interval.");
  w.Sample(ex.interval_s);
}

// End of a screen line: erase the rest of the terminal line, then a newline.
constexpr const char* kScreenEol = "\x1b[K\n";

// The screen's per-state rows (at most 8), ordered by how far each is from its level.
void ScreenStates(const WatchReport& r, std::string* out) {
  std::string& o = *out;
  const char* eol = kScreenEol;
  char b[512];
  // States ordered by how fast they grow toward their level.
  std::vector<const ClassRow*> rows;
  for (const ClassRow& c : r.classes) rows.push_back(&c);
  std::stable_sort(rows.begin(), rows.end(), [](const ClassRow* a, const ClassRow* b2) {
    return a->outlook.level - a->state.count > b2->outlook.level - b2->state.count;
  });
  std::snprintf(b, sizeof b, "%-6s %-12s %10s %10s %8s %10s", "proto", "state", "entries",
                "arrive/s", "timeout", "settles");
  o += b;
  o += eol;
  for (size_t i = 0; i < rows.size() && i < 8; ++i) {
    const ClassRow& c = *rows[i];
    std::snprintf(b, sizeof b, "%-6s %-12s %10llu %10.1f %8u %10.0f", ClassProtoName(c.state.key),
                  ClassStateName(c.state.key), static_cast<unsigned long long>(c.state.count),
                  c.state.arrivals_per_s, c.state.timeout_s,
                  std::isfinite(c.outlook.level) ? c.outlook.level : -1.0);
    o += b;
    o += eol;
  }
  o += eol;
}

// The screen's top sources and ports side by side (at most 5 rows), cut at `cols`.
void ScreenTops(const WatchReport& r, int cols, std::string* out) {
  std::string& o = *out;
  const char* eol = kScreenEol;
  char b[512];
  std::snprintf(b, sizeof b, "%-40s %10s %8s   %-12s %10s %8s", "source", "entries", "growth",
                "dport", "entries", "growth");
  o += b;
  o += eol;
  for (size_t i = 0; i < 5; ++i) {
    std::string l, rr;
    if (i < r.top_sources.size()) {
      std::snprintf(b, sizeof b, "%-40s %10llu %+8lld", r.top_sources[i].key.c_str(),
                    static_cast<unsigned long long>(r.top_sources[i].count),
                    static_cast<long long>(r.top_sources[i].growth));
      l = b;
    } else {
      l = std::string(60, ' ');
    }
    if (i < r.top_dports.size()) {
      std::snprintf(b, sizeof b, "   %-12s %10llu %+8lld", r.top_dports[i].key.c_str(),
                    static_cast<unsigned long long>(r.top_dports[i].count),
                    static_cast<long long>(r.top_dports[i].growth));
      rr = b;
    }
    if (i >= r.top_sources.size() && i >= r.top_dports.size()) break;
    o += (l + rr).substr(0, static_cast<size_t>(cols));
    o += eol;
  }
}

}  // namespace

const char* ContentType(Exposition e) {
  return e == Exposition::kOpenMetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

Exposition Negotiate(const std::string& accept) {
  return accept.find("application/openmetrics-text") != std::string::npos ? Exposition::kOpenMetrics
                                                                          : Exposition::kPrometheus;
}

std::string RenderMetrics(const WatchReport& r, const ExporterStats& ex, Exposition e) {
  Writer w(e);
  // node_exporter's names and types (collector/conntrack_linux.go: gauges).
  w.Family("node_nf_conntrack_entries", "gauge",
           "Number of currently allocated flow entries for connection tracking.");
  w.Sample(static_cast<double>(r.count));
  w.Family("node_nf_conntrack_entries_limit", "gauge",
           "Maximum size of connection tracking table.");
  w.Sample(static_cast<double>(r.max));
  if (r.has_stats) StatsFamilies(w, r);
  w.Family("ctrack_conntrack_insertions", "counter",
           "Entries created since the exporter started (events, else dump differences).");
  w.Sample(static_cast<double>(r.inserts_total));
  w.Family("ctrack_conntrack_deletions", "counter",
           "Entries removed since the exporter started (events, else dump differences).");
  w.Sample(static_cast<double>(r.deletes_total));
  w.Family("ctrack_conntrack_event_overruns", "counter",
           "Event socket overruns (ENOBUFS): events the kernel could not deliver.");
  w.Sample(static_cast<double>(r.events_overrun_total));
  w.Family("ctrack_conntrack_rate_per_second", "gauge", "Rates over the last interval.");
  w.Sample(std::max(0.0, r.insert_per_s), L("kind", "insert"));
  w.Sample(std::max(0.0, r.delete_per_s), L("kind", "delete"));
  w.Sample(std::max(0.0, r.drop_per_s), L("kind", "drop"));
  w.Sample(std::max(0.0, r.early_drop_per_s), L("kind", "early_drop"));
  if (r.has_table) TableFamilies(w, r);
  w.Family("ctrack_conntrack_buckets", "gauge", "Hash table buckets (nf_conntrack_buckets).");
  w.Sample(static_cast<double>(r.buckets));
  w.Family("ctrack_conntrack_bucket_depth_mean", "gauge",
           "Mean hash chain depth: two nodes per entry over the buckets.");
  w.Sample(r.bucket_depth);
  w.Family("ctrack_conntrack_kernel_memory_bytes", "gauge",
           "Kernel memory of the table: entry slab objects plus bucket heads.");
  w.Sample(static_cast<double>(r.kernel_bytes));
  w.Family("ctrack_conntrack_time_to_full_seconds", "gauge",
           "Forecast time until the table is full at the current arrival rates (+Inf: it settles "
           "below the limit).");
  w.Sample(r.forecast.time_to_full_s);
  w.Family("ctrack_conntrack_settle_ratio", "gauge",
           "Forecast level the table heads for, as a fraction of the limit.");
  w.Sample(r.forecast.settle_fraction);
  ExporterFamilies(w, ex);
  return w.Finish();
}

std::string RenderJson(const WatchReport& r, double unix_time) {
  std::string o = "{\"time\":" + JsonQuote(Iso(unix_time)) +
                  ",\"count\":" + std::to_string(r.count) + ",\"max\":" + std::to_string(r.max) +
                  ",\"fill\":" + JsonNum(r.fill) + ",\"interval_s\":" + JsonNum(r.interval_s);
  auto rate = [](double v) { return v < 0 ? std::string("null") : JsonNum(v); };
  o += ",\"rates\":{\"source\":" + JsonQuote(r.rate_source) +
       ",\"insert\":" + rate(r.insert_per_s) + ",\"delete\":" + rate(r.delete_per_s) +
       ",\"drop\":" + rate(r.drop_per_s) + ",\"early_drop\":" + rate(r.early_drop_per_s) + "}";
  o += ",\"stats\":{\"drop\":" + std::to_string(r.stats.drop) +
       ",\"early_drop\":" + std::to_string(r.stats.early_drop) +
       ",\"insert_failed\":" + std::to_string(r.stats.insert_failed) +
       ",\"invalid\":" + std::to_string(r.stats.invalid) + "}";
  o += ",\"event_overruns\":" + std::to_string(r.events_overrun_total);
  o += ",\"forecast\":{\"time_to_full_s\":" + JsonNum(r.forecast.time_to_full_s) +
       ",\"settle_entries\":" + JsonNum(r.forecast.settle_entries) +
       ",\"settle_fraction\":" + JsonNum(r.forecast.settle_fraction) +
       ",\"text\":" + JsonQuote(r.forecast.text) + "}";
  o += ",\"states\":[";
  for (size_t i = 0; i < r.classes.size(); ++i) {
    const ClassRow& c = r.classes[i];
    o += std::string(i ? "," : "") + "{\"protocol\":" + JsonQuote(ClassProtoName(c.state.key)) +
         ",\"state\":" + JsonQuote(ClassStateName(c.state.key)) +
         ",\"count\":" + std::to_string(c.state.count) +
         ",\"arrivals_per_s\":" + JsonNum(c.state.arrivals_per_s) +
         ",\"departures_per_s\":" + JsonNum(c.state.departures_per_s) +
         ",\"timeout_s\":" + std::to_string(c.state.timeout_s) +
         ",\"settle\":" + JsonNum(c.outlook.level) + "}";
  }
  auto tops = [&](const char* name, const std::vector<TopRow>& rows) {
    o += std::string(",\"") + name + "\":[";
    for (size_t i = 0; i < rows.size(); ++i)
      o += std::string(i ? "," : "") + "{\"key\":" + JsonQuote(rows[i].key) +
           ",\"count\":" + std::to_string(rows[i].count) +
           ",\"growth\":" + std::to_string(rows[i].growth) + "}";
    o += "]";
  };
  o += "]";
  tops("top_sources", r.top_sources);
  tops("top_dports", r.top_dports);
  o += "}";
  return o;
}

std::string RenderLine(const WatchReport& r, double unix_time) {
  char b[512];
  std::snprintf(b, sizeof b,
                "%s count=%llu max=%llu fill=%.1f%% insert/s=%s delete/s=%s drop/s=%s "
                "early_drop/s=%s forecast=\"%s\"",
                Iso(unix_time).c_str(), static_cast<unsigned long long>(r.count),
                static_cast<unsigned long long>(r.max), r.fill * 100, Rate(r.insert_per_s).c_str(),
                Rate(r.delete_per_s).c_str(), Rate(r.drop_per_s).c_str(),
                Rate(r.early_drop_per_s).c_str(), r.forecast.text.c_str());
  std::string o = b;
  if (!r.classes.empty() && r.has_table) {
    o += " top_state=" + std::string(ClassProtoName(r.classes[0].state.key)) + ":" +
         ClassStateName(r.classes[0].state.key) + "=" + std::to_string(r.classes[0].state.count);
  }
  return o;
}

std::string RenderScreen(const WatchReport& r, double unix_time, int cols,
                         const std::string& title) {
  cols = std::clamp(cols, 40, 200);
  std::string o;
  const char* eol = kScreenEol;
  char b[512];
  std::snprintf(b, sizeof b, "ctrack watch  %s  %s", title.c_str(), Iso(unix_time).c_str());
  o += b;
  o += eol;
  std::snprintf(b, sizeof b, "entries %llu / %llu  (%.1f %%)",
                static_cast<unsigned long long>(r.count), static_cast<unsigned long long>(r.max),
                r.fill * 100);
  o += b;
  o += eol;
  int width = cols - 2;
  int filled = static_cast<int>(std::clamp(r.fill, 0.0, 1.0) * width + 0.5);
  int settle = static_cast<int>(std::clamp(r.forecast.settle_fraction, 0.0, 1.0) * width + 0.5);
  o += "[";
  for (int i = 0; i < width; ++i) o += i < filled ? '#' : (i < settle ? '.' : ' ');
  o += "]";
  o += eol;
  std::snprintf(b, sizeof b, "rates/s (%s): insert %s  delete %s  drop %s  early_drop %s",
                r.rate_source, Rate(r.insert_per_s).c_str(), Rate(r.delete_per_s).c_str(),
                Rate(r.drop_per_s).c_str(), Rate(r.early_drop_per_s).c_str());
  o += b;
  o += eol;
  o += "forecast: " + r.forecast.text;
  if (r.events_overrun_total)
    o += "  (event overruns: " + std::to_string(r.events_overrun_total) + ")";
  o += eol;
  o += eol;
  if (r.has_table) {
    ScreenStates(r, &o);
    ScreenTops(r, cols, &o);
  } else {
    o += "(no table dump: count and counters only)";
    o += eol;
  }
  return o;
}

}  // namespace ctrack::watch
