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
#include <random>
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

// Rewrites an Ethernet + IPv4 frame into a first fragment (MF set, offset 0) with a new IP id and
// a fixed header checksum: the defragmenter queues it and never sees the rest.
void MakeFirstFragment(uint8_t* frame, uint16_t id) {
  uint8_t* ip = frame + 14;
  ip[4] = static_cast<uint8_t>(id >> 8);
  ip[5] = static_cast<uint8_t>(id);
  ip[6] = 0x20;  // MF
  ip[7] = 0;
  ip[10] = ip[11] = 0;
  uint32_t sum = 0;
  const uint32_t ihl = (ip[0] & 0x0fu) * 4;
  for (uint32_t i = 0; i < ihl; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = static_cast<uint8_t>(~sum >> 8);
  ip[11] = static_cast<uint8_t>(~sum);
}

}  // namespace

int SoakMain(int argc, char** argv) {
  Config cfg;
  uint32_t seconds = 600, interval = 10;
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
      if (!ParseU32(v, &seconds)) return UsageError("--seconds: '" + std::string(v) + "'");
    } else if (a == "--interval") {
      if (!ParseU32(v, &interval) || interval == 0) {
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

  const long rss0 = RssKb();
  Conntrack ct(cfg);
  FrameSynth synth;
  std::mt19937_64 rng(1);
  static const uint8_t kMss[4] = {2, 4, 5, 0xb4};
  static const uint8_t kPayload[64] = {};
  std::vector<uint8_t> frag;
  const uint64_t frag_budget =
      static_cast<uint64_t>(cfg.nf_conntrack_frag_high_thresh) + cfg.nf_conntrack_frag6_high_thresh;

  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::time_point next_report = start;
  Timestamp now = 1700000000 * kNsPerSec;
  uint64_t packets = 0;
  size_t budget = 0;  // memory_bytes() when the table first filled
  long rss_full = 0;  // resident memory then
  long rss_max_after_full = 0;
  bool grew = false;
  std::printf("# soak: nf_conntrack_max=%u nf_conntrack_buckets=%u seconds=%u\n",
              cfg.nf_conntrack_max, cfg.nf_conntrack_buckets, seconds);
  std::printf("# %8s %12s %9s %14s %14s %10s %10s\n", "wall_s", "packets", "count", "table_bytes",
              "budget_bytes", "rss_kb", "rss_delta_kb");
  std::fflush(stdout);
  uint32_t elapsed = 0;
  while (true) {
    // 4096 packets per slice between clock reads: 2 SYN : 1 UDP, one unfinished fragment in 64.
    for (int k = 0; k < 4096; ++k, ++packets) {
      now += 10 * 1000;  // 100,000 packets per virtual second
      uint64_t r = rng();
      Endpoint src =
          V4(0x64400000u | static_cast<uint32_t>(r & 0x3fffff), static_cast<uint16_t>(r >> 22));
      Endpoint dst =
          V4(0xc6336400u | static_cast<uint32_t>(r >> 38 & 0xff), static_cast<uint16_t>(r >> 46));
      FrameSynth::View f;
      if (k % 64 == 63) {
        f = synth.Udp(src, dst, kPayload, sizeof kPayload);
        frag.assign(f.data, f.data + f.len);
        MakeFirstFragment(frag.data(), static_cast<uint16_t>(r >> 48));
        f = FrameSynth::View{frag.data(), static_cast<uint32_t>(frag.size())};
      } else if (k % 3 == 2) {
        f = synth.Udp(src, dst, kPayload, 16);
      } else {
        f = synth.Tcp(src, dst, static_cast<uint32_t>(r), 0, 0x02, 64240, kMss, 4, nullptr, 0);
      }
      ct.ProcessFrame(kLinkEthernet, f.data, f.len, f.len, now);
    }
    if (budget == 0 && ct.count() >= cfg.nf_conntrack_max) {
      budget = ct.memory_bytes();
      rss_full = RssKb();
    }
    if (budget != 0) {
      if (ct.memory_bytes() > budget) grew = true;
      long rss = RssKb();
      if (rss > rss_max_after_full) rss_max_after_full = rss;
    }
    Clock::time_point t = Clock::now();
    if (t >= next_report) {
      elapsed = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::seconds>(t - start).count());
      long rss = RssKb();
      std::printf("  %8u %12llu %9u %14zu %14zu %10ld %10ld\n", elapsed,
                  static_cast<unsigned long long>(packets), ct.count(), ct.memory_bytes(), budget,
                  rss, rss - rss0);
      std::fflush(stdout);
      next_report += std::chrono::seconds(interval);
      if (elapsed >= seconds) break;
    }
  }
  // Resident memory may exceed the table's own bytes by the defragmenter's budget and a fixed
  // allowance for the process (allocator slack, stdio, the frame synthesiser).
  const long allowance_kb = 8 * 1024;
  const long limit_kb = rss0 + static_cast<long>((budget + frag_budget) / 1024) + allowance_kb;
  std::printf(
      "# soak: %llu packets in %u s; table budget %zu bytes; rss %ld KiB at start, %ld KiB when "
      "full, max %ld KiB after (limit %ld KiB); table memory %s after full\n",
      static_cast<unsigned long long>(packets), elapsed, budget, rss0, rss_full, rss_max_after_full,
      limit_kb, grew ? "GREW" : "flat");
  if (budget == 0) {
    std::fprintf(stderr, "ctrack soak: the table never filled in %u s\n", seconds);
    return 1;
  }
  if (grew || rss_max_after_full > limit_kb) {
    std::fprintf(stderr, "ctrack soak: memory not bounded (see above)\n");
    return 1;
  }
  return 0;
}

}  // namespace ctrack::cli
