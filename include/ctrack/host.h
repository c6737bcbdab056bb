// The running kernel's connection tracking: the table and counters through ctnetlink (libmnl,
// no libnetfilter_conntrack), and the facts around it from /proc, /sys, the kernel log and the
// firewall rules. Live entries arrive in the public entry model (ctrack/entry.h), the same one a
// replay produces, so every printer and analysis runs on them unchanged.
//
//   std::string err;
//   if (!ctrack::EnterNetns({.name = "blue"}, &err)) die(err);      // before anything else
//   auto reader = ctrack::HostReader::Open(&err);
//   ctrack::DumpResult r = reader->DumpTable(
//       [&] { agg.Reset(); },                       // called before each (re)try
//       [&](const ctrack::ConnInfo& ci) { agg.Add(ci); });
//   std::vector<ctrack::CpuStats> cpus;  reader->StatsPerCpu(&cpus, &err);
//   ctrack::HostFacts facts = ctrack::ReadHostFacts();
//
// Nothing here changes the host: every call reads.
#ifndef CTRACK_HOST_H_
#define CTRACK_HOST_H_

#include <ctrack/entry.h>
#include <ctrack/stats.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ctrack {

// --- decoding (pure: no I/O, no allocation beyond ConnInfo's strings) -------------------------

// Decodes one ctnetlink conntrack message: `msg` points at a netlink message header
// (struct nlmsghdr) of type IPCTNL_MSG_CT_NEW and `len` bytes are readable from it. Every length
// (the header's, each attribute's, each nested attribute's) is checked against its container;
// an attribute with a payload too short for its type, or one crossing its container, makes the
// whole message malformed. Returns "" and fills `ci` (defaults first, so nothing carries over),
// or a one-line reason. Unknown attributes are skipped, as the kernel's nla_parse does.
std::string DecodeConntrackMessage(const uint8_t* msg, size_t len, ConnInfo* ci);

// One CPU's ctnetlink counters (IPCTNL_MSG_CT_GET_STATS_CPU, ctnetlink_ct_stat_cpu_fill_info()).
struct CpuStats {
  uint32_t cpu = 0;
  Stats st;
};
// Decodes one IPCTNL_MSG_CT_GET_STATS_CPU reply message (same checks as above).
std::string DecodeCpuStatsMessage(const uint8_t* msg, size_t len, CpuStats* out);

// Walks a buffer of concatenated netlink messages (one recv()): calls fn(msg, msg_len) for each,
// checking every nlmsg_len against the buffer. Returns "" or the reason the buffer is malformed.
std::string ForEachNetlinkMessage(const uint8_t* buf, size_t len,
                                  const std::function<bool(const uint8_t*, size_t)>& fn);

// --- namespaces ---------------------------------------------------------------------------------

struct NetnsSpec {
  std::string name;  // as `ip netns` names it (/run/netns/NAME); empty: not by name
  int pid = 0;       // a process whose network namespace to enter; 0: not by pid
};
// Moves the calling thread (and whatever it starts afterwards: nft, iptables-save) into the
// namespace with setns(CLONE_NEWNET). A spec with neither set is the current namespace. Returns
// false and a one-line reason ("no network namespace 'x' (ip netns list)", "setns: ...").
bool EnterNetns(const NetnsSpec& spec, std::string* err);

// --- the table through ctnetlink -----------------------------------------------------------------

struct DumpResult {
  std::string error;         // "" on success; otherwise one line (the dump is unusable)
  uint64_t entries = 0;      // entries delivered by the successful attempt
  uint64_t messages = 0;     // netlink messages read in the successful attempt
  uint32_t attempts = 0;     // 1 + retries after NLM_F_DUMP_INTR
  bool interrupted = false;  // the last attempt was still interrupted (error says so)
};

class HostReader {
 public:
  // A NETLINK_NETFILTER socket in the current namespace, with a large receive buffer. Returns
  // nullptr and sets `err` when the socket cannot be opened.
  static std::unique_ptr<HostReader> Open(std::string* err);
  ~HostReader();
  HostReader(const HostReader&) = delete;
  HostReader& operator=(const HostReader&) = delete;

  // Dumps the table (IPCTNL_MSG_CT_GET, NLM_F_DUMP, both families) and calls on_entry once per
  // entry as the messages stream in; memory stays bounded by the receive buffer whatever the
  // table's size. The kernel sets NLM_F_DUMP_INTR on a message when the table changed under the
  // dump in a way that may have skipped entries; the dump is then redone from the start, up to
  // `retries` more times, calling `on_begin` before each attempt so that the caller can discard
  // what it aggregated. Still interrupted after that: an error, never a silently partial table.
  // The ConnInfo passed to on_entry is only valid during the call.
  DumpResult DumpTable(const std::function<void()>& on_begin,
                       const std::function<void(const ConnInfo&)>& on_entry, int retries = 3);

  // Only counts the messages of a dump (no decoding): the kernel's floor, for benchmarks.
  DumpResult DumpCountOnly();

  // Per-CPU counters (what `conntrack -S` prints), in CPU order.
  bool StatsPerCpu(std::vector<CpuStats>* out, std::string* err);

  // The entry count and max through IPCTNL_MSG_CT_GET_STATS (what `conntrack -C` prints).
  bool Count(uint32_t* count, uint32_t* max, std::string* err);

 private:
  HostReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// --- the facts beside the table ----------------------------------------------------------------

struct SlabInfo {
  bool present = false;
  uint64_t active_objs = 0, num_objs = 0;
  uint32_t objsize = 0;  // bytes per nf_conn object
};

struct TableFullLine {
  double seconds_since_boot = 0;  // from /dev/kmsg's timestamp (or journalctl's)
  std::string text;               // the message as logged
};

struct RuleFacts {
  bool nft_available = false, iptables_available = false;
  std::string nft_error, iptables_error;  // why a source could not be read ("" when read)
  std::vector<std::string>
      tracking;  // rules that make the kernel track ("nft: ...", "iptables: ...")
  std::vector<std::string> notrack;  // NOTRACK / notrack rules present
  bool nat = false;                  // a nat table/chain exists
};

struct HostFacts {
  bool module_loaded = false;  // /proc/sys/net/netfilter/nf_conntrack_max exists
  // Every net.netfilter.* sysctl of the namespace, name without the prefix, value as text.
  std::vector<std::pair<std::string, std::string>> sysctls;
  std::optional<uint64_t> count, max, buckets;  // from the sysctls
  std::optional<uint64_t> hashsize;             // /sys/module/nf_conntrack/parameters/hashsize
  // /proc/net/stat/nf_conntrack, one row per CPU (hex in the file); field names as its header.
  std::vector<std::string> proc_stat_fields;
  std::vector<std::vector<uint64_t>> proc_stat_cpus;
  std::string proc_stat_error;
  SlabInfo slab;
  std::string slab_error;  // /proc/slabinfo unreadable (needs root)
  std::vector<TableFullLine> table_full;
  std::string kmsg_source;  // "/dev/kmsg", "journalctl -k", or "" with kmsg_error
  std::string kmsg_error;
  RuleFacts rules;
  double uptime_s = 0;  // /proc/uptime
  std::vector<std::string>
      kube_proxy;  // kube-proxy command lines seen in /proc (with conntrack flags)
};

// Reads everything above. Never fails as a whole: each source that cannot be read leaves its
// error text. `rules` false skips running nft/iptables-save; `kmsg` false skips the kernel log.
HostFacts ReadHostFacts(bool rules = true, bool kmsg = true);

// Parses /proc/net/stat/nf_conntrack text (header + one hex row per CPU). Returns "" or why not.
std::string ParseProcStat(const std::string& text, std::vector<std::string>* fields,
                          std::vector<std::vector<uint64_t>>* cpus);
// Parses /proc/slabinfo text for the nf_conntrack cache.
SlabInfo ParseSlabInfo(const std::string& text);
// Finds "nf_conntrack: table full, dropping packet" lines in /dev/kmsg records
// ("pri,seq,usec,flags;text") or journalctl -k -o short-monotonic lines ("[  123.456] ...").
std::vector<TableFullLine> ParseTableFull(const std::string& text, bool kmsg_format);
// Classifies the lines of `nft list ruleset` / `iptables-save` text into `out`.
void ClassifyNftRules(const std::string& ruleset, RuleFacts* out);
void ClassifyIptablesRules(const std::string& save, const char* tool, RuleFacts* out);

}  // namespace ctrack

#endif  // CTRACK_HOST_H_
