// `ctrack bench WORKLOAD [--pcap FILE] [--threads N] [--conns N] [--repeat N] [--export DIR]`:
// tracking speed and memory on the workloads of src/gen/workload.h (or a capture loaded into
// memory first). This file only parses flags and prints; the workloads live in the library so
// that the peer harnesses (bench/peers/) can replay the same frames. Ends with one line:
//   WORKLOAD ns_per_packet=N mpps=N bytes_per_conn=N peak_rss_mb=N threads=N ...
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "ctrack/commands.h"
#include "gen/workload.h"
#include "io/capture.h"

namespace ctrack::cli {
namespace {

struct BenchOptions {
  std::string workload;
  std::string pcap;
  std::string export_dir;
  int threads = 1;
  uint32_t conns = 0;
  int repeat = 5;
  std::vector<std::string> sets;  // NAME=VALUE, applied over the workload's own settings
};

long PeakRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

struct Spread {
  double min = 0, median = 0, max = 0;
};
Spread SpreadOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return Spread{v.front(), v[v.size() / 2], v.back()};
}

void Usage(std::FILE* f) {
  std::fprintf(
      f,
      "usage: ctrack bench WORKLOAD [--pcap FILE] [--threads N] [--conns N] [--repeat N]\n"
      "                              [--export DIR] [--set NAME=VALUE]...\n"
      "Workloads (each run on a fresh table; median of --repeat runs, default 5):\n"
      "  w1          the W1 TCP workload (or --pcap FILE), checksums verified, in order;\n"
      "              --threads N: W1 on N shards/threads, the split included\n"
      "  w2          one UDP flow, the same datagram in batches of 32\n"
      "  w3          new UDP connections 10k..50k committed in order\n"
      "  w4          lookups of 50k existing UDP connections, shuffled order\n"
      "  lookup1m    random established lookups in a 1,000,000-connection table\n"
      "  new         first fill: SYNs of 1,000,000 new flows into an empty table\n"
      "  new-steady  SYNs of new flows while as many older ones expire (table of 1,000,000)\n"
      "  full-assured  SYNs of new flows into a table full of ASSURED flows (all refused)\n"
      "  flood       established UDP traffic inside a SYN flood that keeps the table full\n"
      "--export DIR writes the workload's frames (DIR/NAME.{setup,timed}.pcap, DIR/NAME.meta)\n"
      "for the peer harnesses, then exits.\n"
      "--set NAME=VALUE changes a setting over the workload's own (not for flood), e.g.\n"
      "--set ctrack_lookup_index=1 to serve lookups from the tag index.\n");
}

void PrintLine(const BenchOptions& o, double ns, double bpc, const std::string& extra) {
  std::printf("%s ns_per_packet=%.1f mpps=%.2f bytes_per_conn=%.0f peak_rss_mb=%.0f threads=%d%s\n",
              o.workload.c_str(), ns, ns > 0 ? 1000.0 / ns : 0.0, bpc, PeakRssKb() / 1024.0,
              o.threads, extra.c_str());
}

int RunFloodCmd(const BenchOptions& o) {
  bench::FloodResult f = bench::RunFlood(o.repeat);
  double bpc = f.entries ? static_cast<double>(f.table_bytes) / f.entries : 0;
  std::fprintf(
      stderr,
      "  flood: table max 100000 (buckets 25000) full of attack SYNs; 20000 ASSURED UDP "
      "flows\n"
      "  established alone %.1f ns/packet; inside the mix %.1f ns/packet (%.0f%% of "
      "unloaded throughput)\n"
      "  attack SYN %.1f ns/packet; whole mix %.1f ns/packet; %llu early drops, %llu drops,"
      " %llu established packets not established\n",
      f.est_unloaded_ns, f.est_loaded_ns, 100.0 * f.est_unloaded_ns / f.est_loaded_ns, f.syn_ns,
      f.mix_ns, static_cast<unsigned long long>(f.early_drops),
      static_cast<unsigned long long>(f.drops),
      static_cast<unsigned long long>(f.est_not_established));
  char extra[256];
  std::snprintf(extra, sizeof(extra),
                " est_unloaded_ns=%.1f est_loaded_ns=%.1f est_ratio=%.3f syn_ns=%.1f mix_ns=%.1f "
                "runs=%d",
                f.est_unloaded_ns, f.est_loaded_ns, f.est_unloaded_ns / f.est_loaded_ns, f.syn_ns,
                f.mix_ns, o.repeat);
  PrintLine(o, f.mix_ns, bpc, extra);
  return 0;
}

int RunThreadsCmd(const BenchOptions& o, const bench::Workload& w) {
  bench::ThreadsResult t = bench::RunThreads(w, static_cast<unsigned>(o.threads), o.repeat);
  double n = static_cast<double>(t.packets);
  std::vector<double> ratios;
  for (size_t i = 0; i < t.single_s.size(); ++i) ratios.push_back(t.single_s[i] / t.multi_s[i]);
  Spread s1 = SpreadOf(t.single_s), sm = SpreadOf(t.multi_s), sp = SpreadOf(t.split_s),
         sr = SpreadOf(ratios);
  std::fprintf(stderr, "  %s; shards:", w.what.c_str());
  for (uint64_t c : t.shard_packets)
    std::fprintf(stderr, " %llu", static_cast<unsigned long long>(c));
  std::fprintf(stderr,
               " packets; entries %u\n"
               "  1 thread %.1f ns/packet (min %.1f max %.1f); %d threads %.1f ns/packet "
               "(min %.1f max %.1f), split included (%.1f ns/packet on one thread); "
               "speed-up median %.2fx (min %.2f max %.2f) over %d runs\n",
               t.entries, s1.median * 1e9 / n, s1.min * 1e9 / n, s1.max * 1e9 / n, o.threads,
               sm.median * 1e9 / n, sm.min * 1e9 / n, sm.max * 1e9 / n, sp.median * 1e9 / n,
               sr.median, sr.min, sr.max, o.repeat);
  char extra[200];
  std::snprintf(extra, sizeof(extra), " single_ns=%.1f speedup=%.3f split_ns=%.1f runs=%d",
                s1.median * 1e9 / n, sr.median, sp.median * 1e9 / n, o.repeat);
  PrintLine(o, sm.median * 1e9 / n,
            t.entries ? static_cast<double>(t.table_bytes) / t.entries : 0.0, extra);
  return 0;
}

int RunSerialCmd(const BenchOptions& o, const bench::Workload& w) {
  std::vector<double> ns, tbpc, rbpc;
  bench::RunResult last;
  for (int k = 0; k < o.repeat; ++k) {
    last = bench::RunWorkload(w);
    ns.push_back(last.ns_per_packet());
    tbpc.push_back(last.table_bytes_per_conn());
    rbpc.push_back(last.rss_bytes_per_conn());
  }
  Spread s = SpreadOf(ns);
  std::fprintf(
      stderr,
      "  %s\n  %llu timed packets per run (%u passes, batches of %zu); %u entries at the "
      "end (peak %u); verdicts: new %llu established %llu invalid %llu drop %llu\n"
      "  %.1f ns/packet median of %d runs (min %.1f, max %.1f); table %.0f B/conn, "
      "resident growth %.0f B/conn\n",
      w.what.c_str(), static_cast<unsigned long long>(last.packets), w.passes, w.batch,
      last.entries, last.peak_entries,
      static_cast<unsigned long long>(last.verdicts[static_cast<int>(Verdict::kNew)]),
      static_cast<unsigned long long>(last.verdicts[static_cast<int>(Verdict::kEstablished)]),
      static_cast<unsigned long long>(last.verdicts[static_cast<int>(Verdict::kInvalid)]),
      static_cast<unsigned long long>(last.verdicts[static_cast<int>(Verdict::kDrop)]), s.median,
      o.repeat, s.min, s.max, SpreadOf(tbpc).median, SpreadOf(rbpc).median);
  char extra[200];
  std::snprintf(extra, sizeof(extra),
                " min_ns=%.1f max_ns=%.1f runs=%d rss_bytes_per_conn=%.0f entries=%u "
                "digest=%016llx",
                s.min, s.max, o.repeat, SpreadOf(rbpc).median, last.peak_entries,
                static_cast<unsigned long long>(w.timed.Digest()));
  PrintLine(o, s.median, SpreadOf(tbpc).median, extra);
  return 0;
}

// Returns -1 to go on, else the exit code. Bad values end the process (exit 2).
int ParseArgs(int argc, char** argv, BenchOptions* o) {
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    auto need = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ctrack bench: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](long lo, long hi) -> long {
      const char* v = need();
      char* end = nullptr;
      long x = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || x < lo || x > hi) {
        std::fprintf(stderr, "ctrack bench: %s wants a number in [%ld, %ld], not '%s'\n",
                     argv[i - 1], lo, hi, v);
        std::exit(2);
      }
      return x;
    };
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (a == "--pcap") {
      o->pcap = need();
    } else if (a == "--export") {
      o->export_dir = need();
    } else if (a == "--threads") {
      o->threads = static_cast<int>(number(1, 64));
    } else if (a == "--conns") {
      o->conns = static_cast<uint32_t>(number(1, 50000000));
    } else if (a == "--repeat") {
      o->repeat = static_cast<int>(number(1, 1000));
    } else if (a == "--set") {
      o->sets.push_back(need());
    } else if (o->workload.empty() && !a.empty() && a[0] != '-') {
      o->workload = argv[i];
    } else {
      std::fprintf(stderr, "ctrack bench: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (o->workload.empty()) {
    Usage(stderr);
    return 2;
  }
  return -1;
}

// The workload's frames: built by the library, or W1 from --pcap loaded into *cap (which the
// caller keeps for the whole run, so the resident figures count it as before). Returns -1 or an
// exit code.
int BuildWorkload(const BenchOptions& o, LoadedCapture* cap, bench::Workload* w) {
  if (!o.pcap.empty()) {
    if (o.workload != "w1") {
      std::fprintf(stderr, "ctrack bench: --pcap applies to w1 only\n");
      return 2;
    }
    std::string err = LoadCapture(o.pcap, cap);
    if (err.empty() && cap->LinkRuns().size() > 1) {
      err = o.pcap + ": frames of several link types (the benchmark replays one link type)";
    }
    if (!err.empty()) {
      std::fprintf(stderr, "ctrack bench: %s\n", err.c_str());
      return 1;
    }
  }
  bench::WorkloadOptions wo;
  wo.conns = o.conns;
  std::string err = bench::MakeWorkload(o.workload, wo, w, o.pcap.empty() ? nullptr : &cap->frames,
                                        cap->linktypes.empty() ? kLinkEthernet : cap->linktypes[0]);
  for (const std::string& kv : o.sets) {
    if (!err.empty()) break;
    const size_t eq = kv.find('=');
    err = eq == std::string::npos ? "--set wants NAME=VALUE, not '" + kv + "'"
                                  : w->cfg.Set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!err.empty()) {
    std::fprintf(stderr, "ctrack bench: %s\n", err.c_str());
    return 2;
  }
  return -1;
}

}  // namespace

int BenchMain(int argc, char** argv) {
  BenchOptions o;
  if (int rc = ParseArgs(argc, argv, &o); rc >= 0) return rc;
  if (o.workload == "flood") {
    if (!o.sets.empty()) {
      std::fprintf(stderr, "ctrack bench: --set does not apply to flood (its table is fixed)\n");
      return 2;
    }
    return RunFloodCmd(o);
  }
  if (o.threads > 1 && o.workload != "w1") {
    std::fprintf(stderr, "ctrack bench: --threads applies to w1 only\n");
    return 2;
  }
  LoadedCapture cap;
  bench::Workload w;
  if (int rc = BuildWorkload(o, &cap, &w); rc >= 0) return rc;
  if (!o.export_dir.empty()) {
    if (std::string e = bench::ExportWorkload(w, o.export_dir); !e.empty()) {
      std::fprintf(stderr, "ctrack bench: %s\n", e.c_str());
      return 1;
    }
    return 0;
  }
  if (o.threads > 1) return RunThreadsCmd(o, w);
  return RunSerialCmd(o, w);
}

}  // namespace ctrack::cli
