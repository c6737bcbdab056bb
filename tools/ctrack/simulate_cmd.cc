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
#include "format/conntrack_format.h"
#include "format/snapshot.h"
#include "io/capture.h"
#include "sim/sim.h"

namespace ctrack::cli {
namespace {

constexpr const char* kUsage =
    "usage: ctrack simulate [OPTIONS] CAPTURE...\n"
    "       ctrack simulate --from-snapshot FILE [OPTIONS] [CAPTURE...]\n"
    "Replays captures on their own clock with the given settings and reports occupancy over\n"
    "time by protocol/state, new/expired/early-dropped/dropped entries, the first table-full\n"
    "instant, refused connections, who filled the table (at each overflow and at the peak),\n"
    "kernel hash-chain depth, memory, and stale/orphaned entries.\n"
    "\n"
    "Starting table:\n"
    "  --from-snapshot FILE  start from a saved table (ctrack snapshot, or pasted `conntrack -L\n"
    "                        [-o extended,id,ktimestamp]`, /proc/net/nf_conntrack, `conntrack "
    "-S`,\n"
    "                        /proc/net/stat/nf_conntrack, `sysctl net.netfilter` text) under its\n"
    "                        own settings (then --set/--max/--buckets on top), aged forward with\n"
    "                        the captures' traffic on top\n"
    "  --for SECONDS         age the table this long (default without captures: until it drains)\n"
    "  --final-table FILE    the table at the end, as `conntrack -L -o extended`\n"
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

// Writes `text` to `path` through a temporary file renamed over it, so that a failure leaves no
// partial output file.
int WriteWhole(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Fail(path + ": " + std::strerror(errno));
  }
  return 0;
}

// One `ctrack simulate` invocation: Parse() the flags, Prepare() the settings and the initial
// table, Run() the simulation and write the outputs. Each returns an exit code, or kGoOn.
class SimulateCommand {
 public:
  static constexpr int kGoOn = -1;

  int Parse(int argc, char** argv) {
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
            opt_.cfg.Set(std::string_view(v).substr(0, eq), std::string_view(v).substr(eq + 1));
        if (!err.empty()) return UsageError("--set " + err);
        sets_.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      } else if (a == "--max" || a == "--buckets") {
        if (!value()) return UsageError(need("a value"));
        const char* name = a == "--max" ? "nf_conntrack_max" : "nf_conntrack_buckets";
        std::string err = opt_.cfg.Set(name, v);
        if (!err.empty()) return UsageError(std::string(a) + ": " + err);
        sets_.emplace_back(name, v);
      } else if (a == "--from-snapshot") {
        if (!value()) return UsageError(need("a file name"));
        snapshot_path_ = v;
      } else if (a == "--final-table") {
        if (!value()) return UsageError(need("a file name"));
        final_table_ = v;
      } else if (a == "--for") {
        if (!value() || !Num(v, &for_s_) || !(for_s_ >= 0) || for_s_ > 1e8) {
          return UsageError("--for needs a number of seconds");
        }
      } else if (a == "--times-from") {
        if (!value()) return UsageError(need("a file name"));
        times_path_ = v;
      } else if (a == "--sweep") {
        if (!value()) return UsageError(need("NAME=V1,V2,..."));
        SweepDim d;
        if (std::string err = ParseSweep(v, &d); !err.empty()) return UsageError(err);
        dims_.push_back(d);
      } else if (a == "--headroom") {
        if (!value() || !Num(v, &headroom_) || headroom_ < 0 || headroom_ > 100) {
          return UsageError("--headroom needs a fraction, e.g. 0.5");
        }
      } else if (uint32_t* count = CountFlag(a)) {
        if (!value() || !Num(v, count) || *count == 0 || *count > 100000) {
          return UsageError(need("a positive number"));
        }
      } else if (a == "--stale-factor" || a == "--orphan-idle") {
        double d = 0;
        if (!value() || !Num(v, &d) || d <= 0) return UsageError(need("a positive number"));
        (a == "--stale-factor" ? opt_.stale_factor : opt_.orphan_idle_s) = d;
      } else if (a == "--policies") {
        if (!value()) return UsageError(need("a list of policies or 'all'"));
        AddPolicies(v);
      } else if (a == "-o" || a == "--output") {
        if (!value() || (v != "text" && v != "json")) return UsageError("-o takes text or json");
        format_ = v;
      } else if (a == "--report") {
        if (!value()) return UsageError(need("a file name"));
        report_ = v;
      } else if (a == "-q" || a == "--quiet") {
        quiet_ = true;
      } else if (a.size() > 1 && a[0] == '-') {
        return UsageError("unknown option '" + std::string(a) + "'");
      } else {
        captures_.emplace_back(a);
      }
    }
    return kGoOn;
  }

  // The member a counting flag (--cores, --threads, --samples, --overflows, --top) sets, or null.
  uint32_t* CountFlag(std::string_view a) {
    if (a == "--cores") return &cores_;
    if (a == "--threads") return &threads_;
    if (a == "--samples") return &opt_.samples;
    if (a == "--overflows") return &opt_.max_overflows;
    if (a == "--top") return &opt_.top;
    return nullptr;
  }

  // --policies: "all", or names separated by commas (checked when the policies are built).
  void AddPolicies(const std::string& v) {
    if (v == "all") {
      policies_ = PolicyNames();
      return;
    }
    std::string_view rest(v);
    for (;;) {
      size_t comma = rest.find(',');
      policies_.emplace_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }

  int Prepare() {
    if (captures_.empty() && snapshot_path_.empty()) return UsageError("no capture given");
    if (!snapshot_path_.empty()) {
      if (std::string err = ReadSnapshotFile(snapshot_path_, &snap_); !err.empty())
        return Fail(err);
      // The snapshot's settings first, then the flags on top.
      Config cfg;
      // Counters in a pasted listing mean the host had accounting on, even when its sysctls were
      // not pasted.
      for (const SnapshotEntry& e : snap_.entries) {
        if (e.ci.has_acct) cfg.nf_conntrack_acct = 1;
      }
      if (std::string err = ApplySysctls(snap_.header, &cfg); !err.empty()) {
        return Fail(snapshot_path_ + ": " + err);
      }
      for (const auto& [name, value] : sets_) {
        if (std::string err = cfg.Set(name, value); !err.empty()) return UsageError(err);
      }
      opt_.cfg = cfg;
      initial_.reserve(snap_.entries.size());
      int64_t longest = 0;
      for (const SnapshotEntry& e : snap_.entries) {
        initial_.push_back(e.ci);
        longest = std::max(longest, e.ci.timeout_s);
      }
      opt_.initial = &initial_;
      // Without captures or --for: until every entry of the snapshot has timed out.
      double horizon_s =
          for_s_ >= 0 ? for_s_ : (captures_.empty() ? static_cast<double>(longest) + 2 : 0);
      opt_.horizon = static_cast<Timestamp>(horizon_s * 1e9);
      opt_.keep_final = !final_table_.empty();
    } else if (for_s_ >= 0 || !final_table_.empty()) {
      if (for_s_ >= 0) opt_.horizon = static_cast<Timestamp>(for_s_ * 1e9);
      opt_.keep_final = !final_table_.empty();
    }
    if (std::string err = opt_.cfg.Validate(); !err.empty()) return UsageError(err);
    for (const std::string& p : policies_) {
      Config probe;
      if (std::string err = PolicyConfig(p, opt_.cfg, &probe); !err.empty()) return UsageError(err);
    }
    if (!times_path_.empty()) {
      if (std::string err = LoadReplayTimes(times_path_, &opt_.times); !err.empty())
        return Fail(err);
    }
    return kGoOn;
  }

  int Run() {
    Progress progress("ctrack simulate", !quiet_ && isatty(STDERR_FILENO));
    std::vector<LoadedCapture> caps(captures_.size());
    uint64_t total = 0;
    for (size_t i = 0; i < captures_.size(); ++i) {
      progress.Note(("loading " + captures_[i]).c_str());
      if (std::string err = LoadCapture(captures_[i], &caps[i]); !err.empty()) return Fail(err);
      if (!caps[i].warning.empty()) {
        std::fprintf(stderr, "ctrack simulate: warning: %s\n", caps[i].warning.c_str());
      }
      total += caps[i].frames.size();
    }
    if (!opt_.times.empty() && opt_.times.size() < total) {
      return Fail(times_path_ + ": fewer rows than packets");
    }

    // The detailed run replays three times (unlimited baseline, the run, up to the peak).
    uint64_t done = 0;
    opt_.progress = [&](uint64_t n) {
      (void)n;
      done += 0x10000;
      progress.Tick(done, "simulating");
    };
    SimReport sim = Simulate(caps, opt_);
    std::vector<PolicyRow> pol;
    if (!policies_.empty()) {
      progress.Note(("comparing " + std::to_string(policies_.size()) + " policies").c_str());
      pol = ComparePolicies(caps, opt_, policies_, threads_);
    }
    SweepReport sweep;
    if (!dims_.empty()) {
      progress.Note("sweeping");
      sweep = Sweep(caps, opt_, dims_, threads_, headroom_, cores_);
    }
    progress.Done();

    const std::vector<PolicyRow>* pp = policies_.empty() ? nullptr : &pol;
    const SweepReport* sp = dims_.empty() ? nullptr : &sweep;
    std::string out = format_ == "json" ? ReportJson(&sim, pp, sp) : ReportText(&sim, pp, sp);
    if (!report_.empty()) {
      if (int rc = WriteWhole(report_, ReportHtml(&sim, pp, sp)); rc != 0) return rc;
    }
    if (!final_table_.empty()) {
      std::string text = FormatTable(sim.final_table, ListFormat::kExtended);
      if (int rc = WriteWhole(final_table_, text); rc != 0) return rc;
    }
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      return Fail(std::string("standard output: ") + std::strerror(errno));
    }
    return 0;
  }

 private:
  SimOptions opt_;
  std::vector<std::string> captures_, policies_;
  std::vector<SweepDim> dims_;
  std::string format_ = "text", report_, times_path_;
  double headroom_ = 0.5;
  unsigned threads_ = std::max(1u, std::thread::hardware_concurrency());
  uint32_t cores_ = std::max(1u, std::thread::hardware_concurrency());
  bool quiet_ = false;
  std::string snapshot_path_, final_table_;
  double for_s_ = -1;
  // Settings are applied after the snapshot's own sysctls, so the flags win.
  std::vector<std::pair<std::string, std::string>> sets_;
  Snapshot snap_;
  std::vector<ConnInfo> initial_;  // opt_.initial points here
};

}  // namespace

int SimulateMain(int argc, char** argv) {
  SimulateCommand cmd;
  if (int rc = cmd.Parse(argc, argv); rc != SimulateCommand::kGoOn) return rc;
  if (int rc = cmd.Prepare(); rc != SimulateCommand::kGoOn) return rc;
  return cmd.Run();
}

}  // namespace ctrack::cli
