// Benchmark workloads: the frames, settings and access order of each `ctrack bench` workload,
// built in memory, runnable on ctrack and exportable as pcap files so that the peer harnesses
// (bench/peers/) replay the very same frames in the same order and batch sizes.
//
// Every workload runs on a monotonic virtual clock: the timed frames carry increasing timestamps
// after the setup's, and each further pass over the same frames is shifted by `pass_dt`, so time
// never runs backwards and expiry and the GC run while timing, as they would in a data plane.
#ifndef CTRACK_GEN_WORKLOAD_H_
#define CTRACK_GEN_WORKLOAD_H_

#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/sharded.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ctrack::bench {

// Frames stored back to back in one arena (pointers stay valid once Seal() has run).
class FrameArena {
 public:
  void Add(const uint8_t* data, uint32_t len, Timestamp ts);
  // Builds frames(); call once after the last Add().
  void Seal();
  const std::vector<Frame>& frames() const { return frames_; }
  size_t size() const { return recs_.size(); }
  void Reserve(size_t frames, size_t bytes);
  // FNV-1a over every frame's bytes and timestamp: the same value on both sides of a peer run
  // shows that they replayed the same input.
  uint64_t Digest() const;

 private:
  struct Rec {
    size_t off;
    uint32_t len;
    Timestamp ts;
  };
  std::vector<uint8_t> bytes_;
  std::vector<Rec> recs_;
  std::vector<Frame> frames_;
};

struct Workload {
  std::string name;
  std::string what;  // one line: what is measured
  uint32_t linktype = 1;
  Config cfg;
  FrameArena setup;  // replayed untimed into a fresh table, in batches of `batch`
  FrameArena timed;  // replayed `passes` times, timed, in batches of `batch`
  uint32_t passes = 1;
  Timestamp pass_dt = 0;  // added to the timed frames' timestamps for each further pass
  size_t batch = 32;
};

struct WorkloadOptions {
  uint32_t conns = 0;  // workload default when 0
};

// Names accepted by MakeWorkload: w1 w2 w3 w4 lookup1m new new-steady full-assured.
std::vector<std::string> WorkloadNames();

// Builds a workload. `frames`/`linktype`, when frames is non-null, replace W1's generated capture
// (ctrack bench w1 --pcap). Returns "" or an error line.
std::string MakeWorkload(const std::string& name, const WorkloadOptions& opt, Workload* w,
                         const std::vector<Frame>* frames = nullptr, uint32_t linktype = 1);

struct RunResult {
  double timed_s = 0;
  uint64_t packets = 0;  // timed packets
  uint32_t entries = 0;  // table entries at the end
  uint32_t peak_entries = 0;
  size_t table_bytes = 0;     // Conntrack::memory_bytes() at the end
  long rss_growth_kb = 0;     // resident memory growth from before the table to the end
  uint64_t verdicts[7] = {};  // timed packets by Verdict value
  double ns_per_packet() const {
    return packets ? timed_s * 1e9 / static_cast<double>(packets) : 0;
  }
  double table_bytes_per_conn() const {
    return peak_entries ? static_cast<double>(table_bytes) / peak_entries : 0;
  }
  double rss_bytes_per_conn() const {
    return peak_entries ? static_cast<double>(rss_growth_kb) * 1024.0 / peak_entries : 0;
  }
};

// One run on a fresh table: setup, then the timed passes.
RunResult RunWorkload(const Workload& w);

// Writes DIR/NAME.setup.pcap, DIR/NAME.timed.pcap (nanosecond pcap, Ethernet) and DIR/NAME.meta
// (key=value lines: passes, pass_dt_ns, batch, max, buckets, digests). Returns "" or an error.
std::string ExportWorkload(const Workload& w, const std::string& dir);

// W1 on several cores: each of `threads` threads scans every frame, computes its shard
// (ShardedConntrack::ShardOf, the software equivalent of symmetric RSS) and tracks the frames of
// its own shard in batches; the timing includes the split. Each repeat also times one thread on
// one Conntrack over the same frames.
struct ThreadsResult {
  std::vector<double> single_s, multi_s, split_s;  // one per repeat
  std::vector<uint64_t> shard_packets;
  uint32_t entries = 0;
  size_t table_bytes = 0;  // memory_bytes() of all shards at the end
  uint64_t packets = 0;
};
ThreadsResult RunThreads(const Workload& w1, unsigned threads, int repeat);
// One timed run of w1.timed on the shards of `sh`, a thread each, the split included (see
// workload.cc); counts[t]: the packets shard t tracked. Returns the seconds.
double RunSharded(const Workload& w1, ShardedConntrack& sh, std::vector<uint64_t>* counts);

// A SYN flood keeps a full table busy with evictions while established UDP flows talk. Timed in
// alternating batches (32 established, 32 attack SYNs) on a monotonic clock, so attack SYNs,
// early drops, expiry and established packets are all in the measured mix; the same established
// batches with the same timestamps are also run alone.
struct FloodResult {
  double est_unloaded_ns = 0;  // per established packet, no flood
  double est_loaded_ns = 0;    // per established packet, inside the mix
  double syn_ns = 0;           // per attack SYN, inside the mix
  double mix_ns = 0;           // per packet of the whole mix
  uint64_t early_drops = 0, drops = 0, est_packets = 0, syn_packets = 0;
  uint32_t entries = 0;
  size_t table_bytes = 0;
  uint64_t est_not_established = 0;  // established packets not answered as established
};
FloodResult RunFlood(int repeat);

}  // namespace ctrack::bench

#endif  // CTRACK_GEN_WORKLOAD_H_
