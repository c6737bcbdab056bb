// Bulk insertion of conntrack entries through ctnetlink (IPCTNL_MSG_CT_NEW with NLM_F_CREATE),
// what `conntrack -I` does one process per entry. For tests and benchmarks inside namespaces
// they create: filling a table to a known level, or padding a namespace so that its share of the
// global nf_conntrack_max (read-only outside the initial namespace) is a small, known number.
// This writes to the kernel: never call it in a namespace you did not create.
#ifndef CTRACK_HOST_INJECT_H_
#define CTRACK_HOST_INJECT_H_

#include <cstdint>
#include <string>

namespace ctrack {

struct InjectSpec {
  uint32_t count = 0;               // entries to insert
  uint32_t first_src = 0x0a000001;  // IPv4 source of the first entry (host order); then +1 ...
  uint32_t dst = 0x0a630001;        // IPv4 destination of every entry
  uint16_t sport = 40000, dport = 9;
  uint8_t proto = 17;  // 17 (UDP) or 6 (TCP)
  uint32_t timeout_s = 3600;
  bool assured = true;    // ASSURED|SEEN_REPLY (immune to early drop), else unreplied
  uint8_t tcp_state = 3;  // for TCP (3 = ESTABLISHED)
  uint16_t zone = 0;
};

// Inserts in the calling thread's namespace, many messages per send. Returns "" or the first
// error (EEXIST counts as an error: the spec's tuples must be new). `*inserted` is what the
// kernel accepted.
std::string InjectEntries(const InjectSpec& spec, uint32_t* inserted);

}  // namespace ctrack

#endif  // CTRACK_HOST_INJECT_H_
