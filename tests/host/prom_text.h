// A strict parser of the Prometheus text exposition format 0.0.4 and of OpenMetrics 1.0 text, for
// checking the exporter's output when promtool is not installed. Strict where the formats are:
// metric and label names, label-value escapes, numbers, one HELP and one TYPE per family before
// its samples, families not interleaved, no duplicate series, counters' samples ending in
// _total (OpenMetrics: families named without it, "# EOF" last and nothing after).
#ifndef CTRACK_TESTS_HOST_PROM_TEXT_H_
#define CTRACK_TESTS_HOST_PROM_TEXT_H_

#include <map>
#include <string>
#include <vector>

namespace ctrack::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromDoc {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family -> type
  // First sample with this name whose labels include `want`; nullptr when none.
  const PromSample* Find(const std::string& name,
                         const std::map<std::string, std::string>& want = {}) const;
};

// Returns "" and fills *doc, or "line N: reason".
std::string ParsePromText(const std::string& text, bool openmetrics, PromDoc* doc);

}  // namespace ctrack::testing

#endif  // CTRACK_TESTS_HOST_PROM_TEXT_H_
