// Conntrack table snapshots: the model, the JSON-lines writer and the readers (ctrack's own
// snapshot files and the text a user can paste from a host without ctrack: `conntrack -L
// [-o extended[,id,ktimestamp]]`, /proc/net/nf_conntrack, `conntrack -S`,
// /proc/net/stat/nf_conntrack). The file format is documented in docs/snapshot-format.md.
//
// A snapshot is one header (where and when it was taken, every net.netfilter sysctl, the
// counters per CPU and summed) followed by one record per entry (ConnInfo) and a trailer that
// counts the entries, so that a truncated file is told from a complete one.
#ifndef CTRACK_FORMAT_SNAPSHOT_H_
#define CTRACK_FORMAT_SNAPSHOT_H_

#include <ctrack/config.h>
#include <ctrack/entry.h>
#include <ctrack/stats.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace ctrack {

inline constexpr int kSnapshotVersion = 1;

// The counters of one CPU: /proc/net/stat/nf_conntrack's columns (a superset of `conntrack -S`).
struct SnapshotCpuStats {
  uint32_t cpu = 0;
  Stats stats;
  uint64_t entries = 0;  // the /proc file's first column (the global count, on every CPU line)
  uint64_t new_ = 0;     // the legacy columns, 0 on current kernels
  uint64_t ignore = 0;
  uint64_t delete_ = 0;
  uint64_t expect_new = 0;
  uint64_t expect_create = 0;
  uint64_t expect_delete = 0;
};

struct SnapshotHeader {
  int version = kSnapshotVersion;
  std::string source;   // producer: "ctnetlink", "conntrack-L", "proc", "ctrack-replay", ...
  std::string kernel;   // `uname -r` of the host ("" when unknown)
  std::string host;     // host name ("" when unknown)
  int64_t time_ns = 0;  // wall-clock instant (Unix ns) of the dump; 0 when unknown
  // Every net.netfilter sysctl read on the host, name without the "net.netfilter." prefix, value
  // as text (some are not numbers: nf_conntrack_helper, nf_log.*). Order as read.
  std::vector<std::pair<std::string, std::string>> sysctls;
  uint32_t buckets = 0;                   // nf_conntrack_buckets (0 when unknown)
  int64_t count = -1;                     // nf_conntrack_count at the dump (-1 when unknown)
  std::vector<SnapshotCpuStats> per_cpu;  // empty when the counters were not saved
  Stats total;                            // the per-CPU counters summed
  bool has_stats = false;
};

// One entry. `ci.timeout_s` is the remaining timeout in whole seconds at header.time_ns;
// `ci.expires` is not used in files (readers set it to 0). ci.orig.zone == ci.reply.zone.
struct SnapshotEntry {
  ConnInfo ci{};
  bool has_id = false;         // ci.id is the kernel's ct id (`-o id`, ctnetlink)
  bool has_timestamp = false;  // start/stop below are set (`-o ktimestamp`, nf_conntrack_timestamp)
  int64_t start_ns = 0;        // CTA_TIMESTAMP_START, Unix ns
  int64_t stop_ns = 0;         // CTA_TIMESTAMP_STOP, 0 while alive
  uint32_t use = 0;            // the reference count printed by the kernel (informational)
  std::string helper;          // helper name ("" none)
  std::string labels;          // connlabels as printed (informational)
};

struct Snapshot {
  SnapshotHeader header;
  std::vector<SnapshotEntry> entries;
};

// Builds a SnapshotHeader's sysctl list from a Config (the kernel's tunables only, not
// ctrack_* or hash_seed), and applies a header's sysctls to a Config: names the engine does not
// model are skipped; a value the engine refuses is an error (returned as one line, "" on
// success).
void SysctlsFromConfig(const Config& cfg, SnapshotHeader* h);
std::string ApplySysctls(const SnapshotHeader& h, Config* cfg);

// Streaming writer of the snapshot format. Open() writes into "PATH.tmp" (or stdout for "-"),
// Finish() writes the trailer and renames it to PATH, so that a failed run leaves no partial
// file; the destructor removes the temporary file if Finish() was not reached.
class SnapshotWriter {
 public:
  SnapshotWriter() = default;
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Returns "" on success or a one-line error.
  std::string Open(const std::string& path);
  void WriteHeader(const SnapshotHeader& h);
  void WriteEntry(const SnapshotEntry& e);
  // Trailer, flush, close, rename; "" on success or a one-line error (write failures included).
  std::string Finish();
  uint64_t entries_written() const { return entries_; }

 private:
  std::string path_;
  std::string tmp_;
  FILE* f_ = nullptr;
  bool to_stdout_ = false;
  uint64_t entries_ = 0;
  bool failed_ = false;
};

// Single lines of the format (no newline), for tests and other writers.
std::string FormatSnapshotHeader(const SnapshotHeader& h);
std::string FormatSnapshotEntry(const SnapshotEntry& e);
std::string FormatSnapshotTrailer(uint64_t entries);

// Reads a whole snapshot file or pasted text, detecting the form line by line: ctrack snapshot
// JSON lines; `conntrack -L` (default or `-o extended`, optionally with `-o id,ktimestamp`);
// /proc/net/nf_conntrack; `conntrack -S`; /proc/net/stat/nf_conntrack (hex, one line per CPU).
// Several forms may be concatenated in one file (a table followed by its counters). Blank lines
// and conntrack's trailing "conntrack v1.4.7 (conntrack-tools): N flow entries have been shown."
// are skipped. `name` is used in error messages. Returns "" on success, else one line
// "NAME:LINE: what is wrong".
std::string ReadSnapshotText(const std::string& text, const std::string& name, Snapshot* out);
std::string ReadSnapshotFile(const std::string& path, Snapshot* out);

// Parsers of one pasted line, exposed for the fuzz target and tests. Each returns "" on success
// or what is wrong (without file and line).
std::string ParseConntrackListLine(const std::string& line, SnapshotEntry* out);  // -L and /proc
std::string ParseSnapshotEntryLine(const std::string& line, SnapshotEntry* out);  // JSON record

}  // namespace ctrack

#endif  // CTRACK_FORMAT_SNAPSHOT_H_
