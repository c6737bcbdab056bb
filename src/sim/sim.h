// What-if simulation on a capture's own clock: occupancy over time, drops, "who filled the
// table", kernel hash-chain depth and memory, stale/orphan entries, sizing sweeps and overload
// policies compared side by side. Built only on the public engine API; each run owns its own
// Conntrack, so runs can go in parallel threads over the same in-memory captures.
//
//   std::vector<LoadedCapture> caps = ...;          // LoadCapture() or LoadCaptureMemory()
//   SimOptions opt;  opt.cfg.nf_conntrack_max = 512;
//   SimReport rep = Simulate(caps, opt);
//   std::string json = ReportJson(rep);
#ifndef CTRACK_SIM_SIM_H_
#define CTRACK_SIM_SIM_H_

#include <ctrack/config.h>
#include <ctrack/conntrack.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/capture.h"
#include "io/replay.h"

namespace ctrack {

// Occupancy categories: TCP states, UDP by reply status, ICMP, other.
enum Category : uint8_t {
  kCatTcpSynSent,
  kCatTcpSynRecv,
  kCatTcpEstablished,
  kCatTcpFinWait,
  kCatTcpCloseWait,
  kCatTcpLastAck,
  kCatTcpTimeWait,
  kCatTcpClose,
  kCatTcpOther,
  kCatUdpUnreplied,
  kCatUdpReplied,
  kCatUdpAssured,
  kCatIcmp,
  kCatOther,
  kCatCount
};
const char* CategoryName(int c);
int CategoryOf(const ConnInfo& ci);

struct SimOptions {
  Config cfg;
  uint32_t samples = 240;      // occupancy samples, evenly spaced in virtual time
  uint32_t max_overflows = 5;  // attribution snapshots at the first drops of overflow episodes
  Timestamp overflow_gap = kNsPerSec;  // drops further apart than this start a new episode
  uint32_t top = 10;                   // rows per attribution table
  double stale_factor = 3;             // UDP unreplied older than this many udp timeouts is stale
  double orphan_idle_s = 60;  // TCP entries idle this long in ESTABLISHED/closing are orphans
  uint32_t examples = 5;      // example entries per stale class
  bool detail = true;         // false: counters and peak only (sweeps)
  bool baseline = true;       // also replay with an unlimited table to tell refused flows
  // Packet i's time (kernel-ct t_replay); nullopt keeps the previous time. Empty: capture times.
  ReplayTimes times;
  std::function<void(uint64_t packets)> progress;  // called every 64Ki packets
};

struct Sample {
  Timestamp t;  // ns since the first packet
  uint32_t count;
  uint32_t by_cat[kCatCount];
  uint64_t created, expired, early_drop, drop;  // cumulative
};

using Ranked = std::vector<std::pair<std::string, uint64_t>>;

// The table broken down at one instant.
struct Attribution {
  std::string why;  // "overflow" or "peak" or "end"
  Timestamp t = 0;  // ns since the first packet
  uint64_t packet = 0;
  uint32_t entries = 0;
  Ranked by_state, by_proto, src_prefix, dst_prefix, dst_port, heaviest_sources;
};

struct ChainReport {
  uint32_t buckets = 0;
  uint64_t nodes = 0;
  uint64_t used = 0;
  uint32_t max = 0;
  double mean_used = 0;           // nodes per non-empty bucket
  double load = 0;                // nodes per bucket
  std::vector<uint64_t> histo;    // buckets with depth 0, 1, ..., last bin is "that or more"
  uint32_t ctrack_max_chain = 0;  // ctrack's own table at the same instant
};

struct StaleClass {
  std::string name, description;
  uint64_t count = 0;
  std::vector<std::string> examples;
};

struct SimCounters {
  uint64_t packets = 0;
  uint64_t created = 0, expired = 0, early_drop = 0, gc_early_drop = 0;
  uint64_t drop = 0;              // stats.drop
  uint64_t table_full_drops = 0;  // packets dropped because no entry could be allocated
  uint64_t invalid = 0;
  uint32_t peak = 0;
  Timestamp peak_t = 0;
  uint64_t peak_packet = 0;
  uint32_t final_count = 0;
  std::optional<Timestamp> first_full;  // first instant count reached max
  std::optional<Timestamp> first_drop;
  uint64_t overflow_episodes = 0;
  uint64_t refused_flows = 0;  // distinct connections with a packet dropped (needs baseline)
  uint64_t legit_flows = 0;    // connections answered by the far end (baseline)
  uint64_t legit_hurt = 0;     // of those, with a packet dropped or turned invalid by the limit
  uint64_t assured_evicted = 0;
  size_t ctrack_bytes = 0;  // Conntrack::memory_bytes() at the end (it only grows)
  uint64_t kernel_bytes_peak = 0;
  uint32_t demand_peak = 0;  // peak of the unlimited baseline
};

struct SimReport {
  Config cfg;
  std::vector<std::string> inputs;
  Timestamp t0 = 0, t1 = 0;
  SimCounters c;
  Stats stats;
  std::vector<Sample> samples;
  std::vector<Attribution> overflows;
  std::optional<Attribution> peak;
  ChainReport chains;
  std::vector<StaleClass> stale;
  double wall_s = 0;
};

// Kernel memory for `entries` entries and the table's buckets: a 256-byte nf_conn slab object
// per entry, 128 bytes more of extensions with accounting or timestamps, 8 bytes per bucket.
uint64_t KernelBytes(const Config& cfg, uint64_t entries);

SimReport Simulate(const std::vector<LoadedCapture>& caps, const SimOptions& opt);

// --- overload policies side by side ---------------------------------------------------------
struct PolicyRow {
  std::string name;
  Config cfg;
  SimCounters c;
};
// Names: kernel adaptive emergency oldest persource ("all" for every one).
std::vector<std::string> PolicyNames();
std::string PolicyConfig(const std::string& name, const Config& base, Config* out);
std::vector<PolicyRow> ComparePolicies(const std::vector<LoadedCapture>& caps,
                                       const SimOptions& base,
                                       const std::vector<std::string>& names, unsigned threads);

// --- sizing sweeps ----------------------------------------------------------------------------
struct SweepDim {
  std::string name;  // a Config (sysctl) name
  std::vector<uint32_t> values;
};
std::string ParseSweep(const std::string& arg, SweepDim* out);

struct SweepRow {
  std::vector<std::pair<std::string, uint32_t>> settings;
  Config cfg;
  SimCounters c;
  uint64_t kernel_bytes_max = 0;  // kernel memory with a full table of this size
};
struct Sizing {
  uint32_t demand_peak = 0;                    // entries at the peak with no limit
  std::optional<uint32_t> smallest_zero_drop;  // smallest swept max without drops
  uint32_t rec_max = 0, rec_buckets = 0;
  double headroom = 0.5;
  uint64_t rec_kernel_bytes = 0;
  uint64_t rec_drops = 0;  // drops when the recommendation is replayed (should be 0)
  double rec_depth = 0;    // mean nodes per bucket with a full table
  uint32_t cores = 1;
  std::vector<std::string> apply;  // lines to apply
};
struct SweepReport {
  std::vector<SweepDim> dims;
  std::vector<SweepRow> rows;
  Sizing sizing;
  double wall_s = 0;
};
SweepReport Sweep(const std::vector<LoadedCapture>& caps, const SimOptions& base,
                  const std::vector<SweepDim>& dims, unsigned threads, double headroom,
                  uint32_t cores);

// --- output ---------------------------------------------------------------------------------
std::string ReportText(const SimReport* sim, const std::vector<PolicyRow>* policies,
                       const SweepReport* sweep);
std::string ReportJson(const SimReport* sim, const std::vector<PolicyRow>* policies,
                       const SweepReport* sweep);
// One self-contained HTML page (inline SVG drawn by inline JS, no network).
std::string ReportHtml(const SimReport* sim, const std::vector<PolicyRow>* policies,
                       const SweepReport* sweep);

}  // namespace ctrack

#endif  // CTRACK_SIM_SIM_H_
