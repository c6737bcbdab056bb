// Renderings of a WatchReport: Prometheus text exposition 0.0.4 and OpenMetrics 1.0 (the
// exporter), one JSON object, one plain timestamped line and a full-screen view (ctrack watch).
// Names shared with node_exporter's conntrack collector (node_nf_conntrack_entries,
// node_nf_conntrack_entries_limit, node_nf_conntrack_stat_*) keep its meaning and type, so
// dashboards and alerts built on it keep working; everything else is under ctrack_conntrack_*.
#ifndef CTRACK_SIM_METRICS_H_
#define CTRACK_SIM_METRICS_H_

#include <cstdint>
#include <string>

#include "sim/forecast.h"

namespace ctrack::watch {

// The exporter's own counters, exposed beside the table's.
struct ExporterStats {
  uint64_t dumps = 0;           // table dumps taken (one per interval at most)
  uint64_t dump_errors = 0;     // samples that failed
  uint64_t scrapes = 0;         // /metrics answers
  double last_dump_s = 0;       // duration of the last sample, seconds
  double last_sample_unix = 0;  // wall time of the last sample
  double interval_s = 0;        // the sampling interval
};

enum class Exposition { kPrometheus, kOpenMetrics };
// Content-Type header value for the format.
const char* ContentType(Exposition e);
// Picks OpenMetrics when the Accept header asks for application/openmetrics-text.
Exposition Negotiate(const std::string& accept);

std::string RenderMetrics(const WatchReport& r, const ExporterStats& ex, Exposition e);
std::string RenderJson(const WatchReport& r, double unix_time);
// "2026-12-01T19:40:02Z count=1234 max=262144 fill=0.5% ins/s=... ttf=..."
std::string RenderLine(const WatchReport& r, double unix_time);
// The live view, `cols` wide, with a fill bar; lines end in "\x1b[K" (clear to end of line) so
// it can be redrawn in place.
std::string RenderScreen(const WatchReport& r, double unix_time, int cols,
                         const std::string& title);

}  // namespace ctrack::watch

#endif  // CTRACK_SIM_METRICS_H_
