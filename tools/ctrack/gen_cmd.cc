// `ctrack gen SCENARIO -o FILE.pcap [--conns N] [--duration S] [--rate R] [--seed N]`
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "ctrack/commands.h"
#include "gen/traffic.h"

namespace ctrack::cli {
namespace {

void GenUsage(std::FILE* f) {
  std::fprintf(f,
               "usage: ctrack gen SCENARIO -o FILE.pcap [--conns N] [--duration SECONDS]\n"
               "                  [--rate PER_SECOND] [--seed N] [--ipv6-share F]\n"
               "Writes a deterministic capture of the scenario. Scenarios:\n");
  for (const std::string& s : ScenarioNames()) {
    std::fprintf(f, "  %-10s %s\n", s.c_str(), ScenarioHelp(s));
  }
}

bool ParseNumber(std::string_view flag, const char* text, double* out) {
  std::string_view s(text);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) {
    std::fprintf(stderr, "ctrack gen: %.*s: '%s' is not a non-negative number\n",
                 static_cast<int>(flag.size()), flag.data(), text);
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

int GenMain(int argc, char** argv) {
  std::string scenario, out;
  GenOptions opt;
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    auto value = [&](double* dst) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ctrack gen: %s needs a value\n", argv[i]);
        return false;
      }
      return ParseNumber(a, argv[++i], dst);
    };
    double v = 0;
    if (a == "-h" || a == "--help") {
      GenUsage(stdout);
      return 0;
    } else if (a == "-o" || a == "--output") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ctrack gen: %s needs a file name\n", argv[i]);
        return 2;
      }
      out = argv[++i];
    } else if (a == "--conns") {
      if (!value(&v)) return 2;
      opt.conns = static_cast<uint32_t>(v);
    } else if (a == "--duration") {
      if (!value(&v)) return 2;
      opt.duration_s = v;
    } else if (a == "--rate") {
      if (!value(&v)) return 2;
      opt.rate = v;
    } else if (a == "--seed") {
      if (!value(&v)) return 2;
      opt.seed = static_cast<uint64_t>(v);
    } else if (a == "--ipv6-share") {
      if (!value(&v) || v > 1) return 2;
      opt.ipv6_share = v;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "ctrack gen: unknown option '%s'\n", argv[i]);
      return 2;
    } else if (scenario.empty()) {
      scenario = argv[i];
    } else {
      std::fprintf(stderr, "ctrack gen: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (scenario.empty() || out.empty()) {
    GenUsage(stderr);
    return 2;
  }
  if (!ScenarioHelp(scenario)) {
    std::fprintf(stderr, "ctrack gen: unknown scenario '%s' (see ctrack gen --help)\n",
                 scenario.c_str());
    return 2;
  }
  // Write beside the target and rename, so that a failure leaves no partial capture.
  std::string tmp = out + ".tmp";
  PcapWriter w;
  std::string err = w.Open(tmp, kLinkEthernet);
  if (!err.empty()) {
    std::fprintf(stderr, "ctrack gen: %s\n", err.c_str());
    return 1;
  }
  err = GenerateScenario(scenario, opt, &w);
  uint64_t n = w.records();
  if (err.empty()) err = w.Close();
  if (err.empty() && std::rename(tmp.c_str(), out.c_str()) != 0) {
    err = out + ": " + std::strerror(errno);
  }
  if (!err.empty()) {
    std::remove(tmp.c_str());
    std::fprintf(stderr, "ctrack gen: %s\n", err.c_str());
    return 1;
  }
  std::fprintf(stderr, "ctrack gen: wrote %s: %llu packets (%s)\n", out.c_str(),
               static_cast<unsigned long long>(n), scenario.c_str());
  return 0;
}

}  // namespace ctrack::cli
