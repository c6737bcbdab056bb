// Engine settings under the kernel's sysctl names (/proc/sys/net/netfilter), with the kernel's
// defaults (Linux 6.18 on a machine with more than 4 GiB of RAM).
#ifndef CTRACK_CONFIG_H_
#define CTRACK_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace ctrack {

// X(name, default, min, max): every tunable, in seconds for timeouts. One list drives the
// struct, the defaults, `--set` parsing and printing, so the names cannot drift apart.
#define CTRACK_SYSCTLS(X)                                                 \
  X(nf_conntrack_max, 262144, 0, 0x7fffffff)                              \
  X(nf_conntrack_buckets, 262144, 1, 1u << 28)                            \
  X(nf_conntrack_checksum, 1, 0, 1)                                       \
  X(nf_conntrack_acct, 0, 0, 1)                                           \
  X(nf_conntrack_timestamp, 0, 0, 1)                                      \
  X(nf_conntrack_generic_timeout, 600, 0, 0x7fffffff / 1000)              \
  X(nf_conntrack_tcp_timeout_syn_sent, 120, 0, 0x7fffffff / 1000)         \
  X(nf_conntrack_tcp_timeout_syn_recv, 60, 0, 0x7fffffff / 1000)          \
  X(nf_conntrack_tcp_timeout_established, 432000, 0, 0x7fffffff / 1000)   \
  X(nf_conntrack_tcp_timeout_fin_wait, 120, 0, 0x7fffffff / 1000)         \
  X(nf_conntrack_tcp_timeout_close_wait, 60, 0, 0x7fffffff / 1000)        \
  X(nf_conntrack_tcp_timeout_last_ack, 30, 0, 0x7fffffff / 1000)          \
  X(nf_conntrack_tcp_timeout_time_wait, 120, 0, 0x7fffffff / 1000)        \
  X(nf_conntrack_tcp_timeout_close, 10, 0, 0x7fffffff / 1000)             \
  X(nf_conntrack_tcp_timeout_max_retrans, 300, 0, 0x7fffffff / 1000)      \
  X(nf_conntrack_tcp_timeout_unacknowledged, 300, 0, 0x7fffffff / 1000)   \
  X(nf_conntrack_tcp_loose, 1, 0, 1)                                      \
  X(nf_conntrack_tcp_be_liberal, 0, 0, 1)                                 \
  X(nf_conntrack_tcp_ignore_invalid_rst, 0, 0, 1)                         \
  X(nf_conntrack_tcp_max_retrans, 3, 0, 255)                              \
  X(nf_conntrack_udp_timeout, 30, 0, 0x7fffffff / 1000)                   \
  X(nf_conntrack_udp_timeout_stream, 120, 0, 0x7fffffff / 1000)           \
  X(nf_conntrack_icmp_timeout, 30, 0, 0x7fffffff / 1000)                  \
  X(nf_conntrack_icmpv6_timeout, 30, 0, 0x7fffffff / 1000)                \
  X(nf_conntrack_gre_timeout, 30, 0, 0x7fffffff / 1000)                   \
  X(nf_conntrack_gre_timeout_stream, 180, 0, 0x7fffffff / 1000)           \
  X(nf_conntrack_sctp_timeout_closed, 10, 0, 0x7fffffff / 1000)           \
  X(nf_conntrack_sctp_timeout_cookie_wait, 3, 0, 0x7fffffff / 1000)       \
  X(nf_conntrack_sctp_timeout_cookie_echoed, 3, 0, 0x7fffffff / 1000)     \
  X(nf_conntrack_sctp_timeout_established, 210, 0, 0x7fffffff / 1000)     \
  X(nf_conntrack_sctp_timeout_shutdown_sent, 3, 0, 0x7fffffff / 1000)     \
  X(nf_conntrack_sctp_timeout_shutdown_recd, 3, 0, 0x7fffffff / 1000)     \
  X(nf_conntrack_sctp_timeout_shutdown_ack_sent, 3, 0, 0x7fffffff / 1000) \
  X(nf_conntrack_sctp_timeout_heartbeat_sent, 30, 0, 0x7fffffff / 1000)   \
  X(nf_conntrack_frag_timeout, 30, 1, 0x7fffffff / 1000)                  \
  X(nf_conntrack_frag6_timeout, 60, 1, 0x7fffffff / 1000)                 \
  X(nf_conntrack_frag_high_thresh, 4194304, 0, 0x7fffffff)                \
  X(nf_conntrack_frag6_high_thresh, 4194304, 0, 0x7fffffff)               \
  X(hash_seed, 0, 0, 0xffffffffu)                                         \
  X(ctrack_overload_policy, 0, 0, 4)                                      \
  X(ctrack_policy_start_pct, 60, 0, 100)                                  \
  X(ctrack_policy_end_pct, 100, 1, 100)                                   \
  X(ctrack_policy_emergency_pct, 30, 1, 100)                              \
  X(ctrack_per_source_max, 0, 0, 0x7fffffff)                              \
  X(ctrack_per_source_prefix4, 32, 0, 32)                                 \
  X(ctrack_per_source_prefix6, 64, 0, 128)                                \
  X(ctrack_lookup_index, 0, 0, 2)                                         \
  X(ctrack_bucket_summaries, 1, 0, 1)                                     \
  X(ctrack_filler_entries, 0, 0, 0x7fffffff)

// Immutable after validation. Fields keep the sysctl names. nf_conntrack_frag_timeout and
// nf_conntrack_frag_high_thresh stand for the IPv4 defragmenter's ipfrag_time and
// ipfrag_high_thresh (net.ipv4.*); hash_seed keys the table hash (0: a fixed built-in key, so that
// runs are reproducible; embedders facing hostile traffic should set a random one).
//
// ctrack_* settings go beyond the kernel (all off by default, so the default is the kernel):
//   ctrack_overload_policy   0 kernel early drop; 1 adaptive timeouts (pf: scaled down linearly
//                            from ctrack_policy_start_pct to ctrack_policy_end_pct of max);
//                            2 emergency mode (Suricata: timeouts cut to
//                            ctrack_policy_emergency_pct % above start_pct, kept until the fill
//                            falls below start_pct); 3 evict the oldest non-ASSURED entry;
//                            4 kernel early drop plus per-source limits only
//   ctrack_per_source_max    at most this many entries per source prefix (0: no limit), with
//                            the prefix lengths ctrack_per_source_prefix4/6.
//   ctrack_lookup_index      what lookups read (verdicts are the same either way): 0 chosen from
//                            max and buckets (the tag index once max >= 2 x buckets); 1 the tag
//                            index always (faster lookups in a large table, slower inserts);
//                            2 the kernel's chains always.
//   ctrack_bucket_summaries  1 (the default) lets early drop pass over a bucket whose summary
//                            (a lower bound on its entries' expiry and an "unassured" bit, kept
//                            from the first table-full on) says a scan would find nothing;
//                            0 reads every entry of every bucket it scans. Verdicts and counters
//                            are the same either way.
//   ctrack_filler_entries    entries outside the model that share the namespace's count: long-lived
//                            and ASSURED, as kernel-ct's --max N emulation inserts (global max - N
//                            of them). nf_conntrack_max stays the room left for modelled entries;
//                            only the gc worker sees the fillers: its 95 % early-drop test uses
//                            max + fillers (so it acts below a max of 100, which a real max never
//                            does) and its pacing counts them at the 300 s clamp.
struct Config {
#define CTRACK_CONFIG_FIELD(name, def, lo, hi) uint32_t name = def;
  CTRACK_SYSCTLS(CTRACK_CONFIG_FIELD)
#undef CTRACK_CONFIG_FIELD

  // Sets one value by sysctl name ("net.netfilter." prefix optional). Returns an empty string on
  // success, else a one-line description of the problem (unknown name, not a number, range).
  std::string Set(std::string_view name, std::string_view value);

  // Checks every field against its range in CTRACK_SYSCTLS (fields assigned directly bypass
  // Set()'s checks); empty string when valid, else the first field out of range.
  std::string Validate() const;

  // Lists "name = value" lines for every setting.
  std::string Dump() const;
};

}  // namespace ctrack

#endif  // CTRACK_CONFIG_H_
