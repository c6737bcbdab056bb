// The counters of /proc/net/stat/nf_conntrack (struct ip_conntrack_stat), summed over CPUs.
#ifndef CTRACK_STATS_H_
#define CTRACK_STATS_H_

#include <cstdint>

namespace ctrack {

struct Stats {
  uint64_t found = 0;           // NAT tuple-taken hits only; stays 0 without NAT
  uint64_t invalid = 0;         // packets left without a conntrack (parse, tuple, handler)
  uint64_t insert = 0;          // ctnetlink inserts only; stays 0
  uint64_t insert_failed = 0;   // confirmations that failed
  uint64_t drop = 0;            // packets dropped by conntrack itself (table full)
  uint64_t early_drop = 0;      // entries evicted by the packet-path early drop
  uint64_t error = 0;           // ICMP/ICMPv6 error-handler rejections (icmp_error)
  uint64_t search_restart = 0;  // concurrent rehash restarts; 0 in this engine
  uint64_t clash_resolve = 0;   // clashes resolved at insert; 0 in a single-writer table
  uint64_t chaintoolong = 0;    // inserts refused for chain length (not emulated)
};

// Counters of work outside the kernel's stat file, for diagnostics and simulation.
struct EngineCounters {
  uint64_t packets = 0;           // frames handed to the engine
  uint64_t not_ip = 0;            // frames without an IPv4/IPv6 payload (verdict none)
  uint64_t ip_dropped = 0;        // dropped by the IP input checks before PREROUTING (none)
  uint64_t frag_held = 0;         // fragments queued for reassembly (none)
  uint64_t frag_reassembled = 0;  // datagrams completed by defragmentation
  uint64_t frag_dropped = 0;      // fragments dropped by defragmentation (overlap, limits, timeout)
  uint64_t created = 0;           // entries confirmed into the table
  uint64_t not_confirmed = 0;     // new entries freed: their packet was dropped after PREROUTING
  uint64_t expired = 0;           // entries reaped after their timeout
  uint64_t gc_early_drop = 0;     // entries evicted by the GC in early-drop mode
  uint64_t deleted_other = 0;     // TCP re-open, RST without reply, and similar deletions
  // Buckets that early drop (and the reaping before it) passed over on their summaries, reading
  // no entry (ctrack_bucket_summaries): not a kernel counter, and no verdict depends on it.
  uint64_t early_drop_buckets_skipped = 0;
};

}  // namespace ctrack

#endif  // CTRACK_STATS_H_
