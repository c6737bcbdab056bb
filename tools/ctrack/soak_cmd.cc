// `ctrack soak`: a SYN + UDP (+ IPv4 fragment) flood from spoofed sources that keeps a table at
// nf_conntrack_max for a stretch of wall time, printing resident memory every interval. The claim
// it checks: after the table fills, resident memory is flat and the table never holds more than
// its budget (Conntrack::memory_bytes() once full; the defragmenter adds at most its two
// high-threshold settings).
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/packet.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "ctrack/commands.h"
#include "gen/traffic.h"

namespace ctrack::cli {
namespace {

constexpr const char* kUsage =
    "usage: ctrack soak [--seconds N] [--max N] [--buckets N] [--interval N] [--set NAME=VALUE]\n"
    "Floods a connection table with new SYN and UDP flows (and unfinished IPv4 fragments) from\n"
    "spoofed sources at full speed for N seconds of wall time (default 600), printing resident\n"
    "memory every --interval seconds (default 10) next to the table's memory budget. Exits 1 if\n"
    "the table's memory grows after it is full or resident memory exceeds the budget.\n"
    "  --max N       nf_conntrack_max (default 262144)\n"
    "  --buckets N   nf_conntrack_buckets (default: as --max)\n";

long RssKb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * 4;
}

bool ParseU32(std::string_view s, uint32_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "ctrack soak: %s (try 'ctrack soak --help')\n", msg.c_str());
  return 2;
}

struct SoakArgs {
  Config cfg;
  uint32_t seconds = 600, interval = 10;
};

// Returns -1 to go on, else the exit code; a valid args->cfg with a limit when it goes on.
int ParseArgs(int argc, char** argv, SoakArgs* args) {
  Config& cfg = args->cfg;
  bool buckets_given = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return UsageError(std::string(a) + " needs a value");
    std::string_view v(argv[++i]);
    std::string err;
    if (a == "--seconds") {
      if (!ParseU32(v, &args->seconds)) return UsageError("--seconds: '" + std::string(v) + "'");
    } else if (a == "--interval") {
      if (!ParseU32(v, &args->interval) || args->interval == 0) {
        return UsageError("--interval: '" + std::string(v) + "'");
      }
    } else if (a == "--max") {
      err = cfg.Set("nf_conntrack_max", v);
    } else if (a == "--buckets") {
      err = cfg.Set("nf_conntrack_buckets", v);
      buckets_given = true;
    } else if (a == "--set") {
      size_t eq = v.find('=');
      if (eq == std::string_view::npos)
        return UsageError("--set " + std::string(v) + ": expected NAME=VALUE");
      err = cfg.Set(v.substr(0, eq), v.substr(eq + 1));
    } else {
      return UsageError("unknown option '" + std::string(a) + "'");
    }
    if (!err.empty()) return UsageError(std::string(a) + " " + err);
  }
  if (!buckets_given && cfg.nf_conntrack_max > 0) cfg.nf_conntrack_buckets = cfg.nf_conntrack_max;
  if (cfg.nf_conntrack_max == 0) return UsageError("--max 0 (no limit) cannot be soaked");
  if (std::string err = cfg.Validate(); !err.empty()) return UsageError(err);
  return -1;
}

struct SoakResult {
  uint64_t packets = 0;
  uint32_t elapsed = 0;  // wall seconds at the last report
  size_t budget = 0;     // memory_bytes() when the table first filled; 0: it never did
  long rss_full = 0;     // resident memory then
  long rss_max_after_full = 0;
  bool grew = false;  // memory_bytes() went over the budget after the table filled
};

// Floods a fresh table for args.seconds of wall time, printing a row every args.interval
// seconds (the header first). `rss0` is resident memory before the table exists.
SoakResult Flood(const SoakArgs& args, long rss0) {
  const Config& cfg = args.cfg;
  Conntrack ct(cfg);
  SoakFlood flood(/*seed=*/1, /*fragments=*/true);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::time_point next_report = start;
  Timestamp now = 1700000000 * kNsPerSec;
  SoakResult r;
  std::printf("# soak: nf_conntrack_max=%u nf_conntrack_buckets=%u seconds=%u\n",
              cfg.nf_conntrack_max, cfg.nf_conntrack_buckets, args.seconds);
  std::printf("# %8s %12s %9s %14s %14s %10s %10s\n", "wall_s", "packets", "count", "table_bytes",
              "budget_bytes", "rss_kb", "rss_delta_kb");
  std::fflush(stdout);
  while (true) {
    // 4096 packets per slice between clock reads: 2 SYN : 1 UDP, one unfinished fragment in 64.
    for (int k = 0; k < 4096; ++k, ++r.packets) {
      now += 10 * 1000;  // 100,000 packets per virtual second
      FrameSynth::View f = flood.Next(static_cast<uint64_t>(k));
      ct.ProcessFrame(kLinkEthernet, f.data, f.len, f.len, now);
    }
    // Full, and found full by a new flow at least once: early drop's bucket summaries, taken
    // then, belong to the budget.
    if (r.budget == 0 && ct.count() >= cfg.nf_conntrack_max &&
        ct.stats().early_drop + ct.stats().drop > 0) {
      r.budget = ct.memory_bytes();
      r.rss_full = RssKb();
    }
    if (r.budget != 0) {
      if (ct.memory_bytes() > r.budget) r.grew = true;
      long rss = RssKb();
      if (rss > r.rss_max_after_full) r.rss_max_after_full = rss;
    }
    Clock::time_point t = Clock::now();
    if (t >= next_report) {
      r.elapsed = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::seconds>(t - start).count());
      long rss = RssKb();
      std::printf("  %8u %12llu %9u %14zu %14zu %10ld %10ld\n", r.elapsed,
                  static_cast<unsigned long long>(r.packets), ct.count(), ct.memory_bytes(),
                  r.budget, rss, rss - rss0);
      std::fflush(stdout);
      next_report += std::chrono::seconds(args.interval);
      if (r.elapsed >= args.seconds) break;
    }
  }
  return r;
}

}  // namespace

int SoakMain(int argc, char** argv) {
  SoakArgs args;
  if (int rc = ParseArgs(argc, argv, &args); rc >= 0) return rc;
  const long rss0 = RssKb();
  SoakResult r = Flood(args, rss0);
  const uint64_t frag_budget = static_cast<uint64_t>(args.cfg.nf_conntrack_frag_high_thresh) +
                               args.cfg.nf_conntrack_frag6_high_thresh;
  // Resident memory may exceed the table's own bytes by the defragmenter's budget and a fixed
  // allowance for the process (allocator slack, stdio, the frame synthesiser).
  const long allowance_kb = 8 * 1024;
  const long limit_kb = rss0 + static_cast<long>((r.budget + frag_budget) / 1024) + allowance_kb;
  std::printf(
      "# soak: %llu packets in %u s; table budget %zu bytes; rss %ld KiB at start, %ld KiB when "
      "full, max %ld KiB after (limit %ld KiB); table memory %s after full\n",
      static_cast<unsigned long long>(r.packets), r.elapsed, r.budget, rss0, r.rss_full,
      r.rss_max_after_full, limit_kb, r.grew ? "GREW" : "flat");
  if (r.budget == 0) {
    std::fprintf(stderr, "ctrack soak: the table never filled in %u s\n", args.seconds);
    return 1;
  }
  if (r.grew || r.rss_max_after_full > limit_kb) {
    std::fprintf(stderr, "ctrack soak: memory not bounded (see above)\n");
    return 1;
  }
  return 0;
}

}  // namespace ctrack::cli
