// `ctrack simulate CAPTURE...`: what-if replays on the capture's clock. Flags -> SimOptions ->
// src/sim -> text / JSON / HTML. No simulation logic here.
#include <ctrack/config.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ctrack/cli_util.h"
#include "ctrack/commands.h"
#include "io/capture.h"
#include "sim/sim.h"

namespace ctrack::cli {
namespace {

constexpr const char* kUsage =
    "usage: ctrack simulate [OPTIONS] CAPTURE...\n"
    "Replays captures on their own clock with the given settings and reports occupancy over\n"
    "time by protocol/state, new/expired/early-dropped/dropped entries, the first table-full\n"
    "instant, refused connections, who filled the table (at each overflow and at the peak),\n"
    "kernel hash-chain depth, memory, and stale/orphaned entries.\n"
    "\n"
    "Settings:\n"
    "  --set NAME=VALUE      any sysctl of `ctrack replay --help` or ctrack_* policy setting\n"
    "  --max N, --buckets N  nf_conntrack_max, nf_conntrack_buckets\n"
    "  --times-from FILE     packet times from a kernel-ct verdicts.tsv (column t_replay)\n"
    "Analyses:\n"
    "  --sweep NAME=V1,V2,.. replay once per value (repeatable: every combination), in parallel;\n"
    "                        reports the smallest max without drops and a recommended\n"
    "                        max/buckets with the lines to apply\n"
    "  --headroom F          headroom over the peak demand for the recommendation (0.5)\n"
    "  --cores N             CPU cores for the kube-proxy --conntrack-max-per-core line (this\n"
    "                        machine's)\n"
    "  --policies LIST|all   compare overload policies side by side: kernel, adaptive,\n"
    "                        emergency, oldest, persource\n"
    "  --threads N           worker threads for sweeps and policies (hardware threads)\n"
    "  --samples N           occupancy samples over the capture's time span (240)\n"
    "  --overflows N         attribution snapshots of overflow episodes (5)\n"
    "  --top N               rows per attribution table (10)\n"
    "  --stale-factor F      UDP unreplied older than F x udp timeout is stale (3)\n"
    "  --orphan-idle S       TCP entries idle S seconds in ESTABLISHED/closing are orphans (60)\n"
    "Output:\n"
    "  -o, --output FMT      text (default) or json, on stdout\n"
    "  --report FILE.html    one self-contained HTML report with charts\n"
    "  -q, --quiet           no progress line on stderr\n"
    "  -h, --help            this text\n";

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "ctrack simulate: %s (try 'ctrack simulate --help')\n", msg.c_str());
  return 2;
}
int Fail(const std::string& msg) {
  std::fprintf(stderr, "ctrack simulate: %s\n", msg.c_str());
  return 1;
}

template <typename T>
bool Num(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

int SimulateMain(int argc, char** argv) {
  SimOptions opt;
  std::vector<std::string> captures, policies;
  std::vector<SweepDim> dims;
  std::string format = "text", report, times_path;
  double headroom = 0.5;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
  bool quiet = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    std::string v;
    auto value = [&]() -> bool {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    auto need = [&](const char* what) { return std::string(a) + " needs " + what; };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--set") {
      if (!value()) return UsageError(need("NAME=VALUE"));
      size_t eq = v.find('=');
      if (eq == std::string::npos) return UsageError("--set " + v + ": expected NAME=VALUE");
      std::string err =
          opt.cfg.Set(std::string_view(v).substr(0, eq), std::string_view(v).substr(eq + 1));
      if (!err.empty()) return UsageError("--set " + err);
    } else if (a == "--max" || a == "--buckets") {
      if (!value()) return UsageError(need("a value"));
      std::string err = opt.cfg.Set(a == "--max" ? "nf_conntrack_max" : "nf_conntrack_buckets", v);
      if (!err.empty()) return UsageError(std::string(a) + ": " + err);
    } else if (a == "--times-from") {
      if (!value()) return UsageError(need("a file name"));
      times_path = v;
    } else if (a == "--sweep") {
      if (!value()) return UsageError(need("NAME=V1,V2,..."));
      SweepDim d;
      if (std::string err = ParseSweep(v, &d); !err.empty()) return UsageError(err);
      dims.push_back(d);
    } else if (a == "--headroom") {
      if (!value() || !Num(v, &headroom) || headroom < 0 || headroom > 100) {
        return UsageError("--headroom needs a fraction, e.g. 0.5");
      }
    } else if (a == "--cores" || a == "--threads" || a == "--samples" || a == "--overflows" ||
               a == "--top") {
      uint32_t n = 0;
      if (!value() || !Num(v, &n) || n == 0 || n > 100000) {
        return UsageError(need("a positive number"));
      }
      if (a == "--cores") cores = n;
      if (a == "--threads") threads = n;
      if (a == "--samples") opt.samples = n;
      if (a == "--overflows") opt.max_overflows = n;
      if (a == "--top") opt.top = n;
    } else if (a == "--stale-factor" || a == "--orphan-idle") {
      double d = 0;
      if (!value() || !Num(v, &d) || d <= 0) return UsageError(need("a positive number"));
      (a == "--stale-factor" ? opt.stale_factor : opt.orphan_idle_s) = d;
    } else if (a == "--policies") {
      if (!value()) return UsageError(need("a list of policies or 'all'"));
      if (v == "all") {
        policies = PolicyNames();
      } else {
        std::string_view rest(v);
        for (;;) {
          size_t comma = rest.find(',');
          policies.emplace_back(rest.substr(0, comma));
          if (comma == std::string_view::npos) break;
          rest.remove_prefix(comma + 1);
        }
      }
    } else if (a == "-o" || a == "--output") {
      if (!value() || (v != "text" && v != "json")) return UsageError("-o takes text or json");
      format = v;
    } else if (a == "--report") {
      if (!value()) return UsageError(need("a file name"));
      report = v;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return UsageError("unknown option '" + std::string(a) + "'");
    } else {
      captures.emplace_back(a);
    }
  }
  if (captures.empty()) return UsageError("no capture given");
  if (std::string err = opt.cfg.Validate(); !err.empty()) return UsageError(err);
  for (const std::string& p : policies) {
    Config probe;
    if (std::string err = PolicyConfig(p, opt.cfg, &probe); !err.empty()) return UsageError(err);
  }
  if (!times_path.empty()) {
    if (std::string err = LoadReplayTimes(times_path, &opt.times); !err.empty()) return Fail(err);
  }

  Progress progress("ctrack simulate", !quiet && isatty(STDERR_FILENO));
  std::vector<LoadedCapture> caps(captures.size());
  uint64_t total = 0;
  for (size_t i = 0; i < captures.size(); ++i) {
    progress.Note(("loading " + captures[i]).c_str());
    if (std::string err = LoadCapture(captures[i], &caps[i]); !err.empty()) return Fail(err);
    if (!caps[i].warning.empty()) {
      std::fprintf(stderr, "ctrack simulate: warning: %s\n", caps[i].warning.c_str());
    }
    total += caps[i].frames.size();
  }
  if (!opt.times.empty() && opt.times.size() < total) {
    return Fail(times_path + ": fewer rows than packets");
  }

  // The detailed run replays three times (unlimited baseline, the run, up to the peak).
  uint64_t done = 0;
  opt.progress = [&](uint64_t n) {
    (void)n;
    done += 0x10000;
    progress.Tick(done, "simulating");
  };
  SimReport sim = Simulate(caps, opt);
  std::vector<PolicyRow> pol;
  if (!policies.empty()) {
    progress.Note(("comparing " + std::to_string(policies.size()) + " policies").c_str());
    pol = ComparePolicies(caps, opt, policies, threads);
  }
  SweepReport sweep;
  if (!dims.empty()) {
    progress.Note("sweeping");
    sweep = Sweep(caps, opt, dims, threads, headroom, cores);
  }
  progress.Done();

  const std::vector<PolicyRow>* pp = policies.empty() ? nullptr : &pol;
  const SweepReport* sp = dims.empty() ? nullptr : &sweep;
  std::string out = format == "json" ? ReportJson(&sim, pp, sp) : ReportText(&sim, pp, sp);
  if (!report.empty()) {
    std::string tmp = report + ".tmp";
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    std::string html = ReportHtml(&sim, pp, sp);
    f.write(html.data(), static_cast<std::streamsize>(html.size()));
    f.close();
    if (!f || std::rename(tmp.c_str(), report.c_str()) != 0) {
      std::remove(tmp.c_str());
      return Fail(report + ": " + std::strerror(errno));
    }
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return Fail(std::string("standard output: ") + std::strerror(errno));
  }
  return 0;
}

}  // namespace ctrack::cli
