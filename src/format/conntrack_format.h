// Text forms of the table and counters, as the kernel and conntrack-tools 1.4.7 print them
// (ct_seq_show() in nf_conntrack_standalone.c, conntrack-tools src/conntrack.c): `conntrack -L [-o
// extended]`, /proc/net/nf_conntrack, JSON lines, `conntrack -S`, `conntrack -C` and
// /proc/net/stat/nf_conntrack.
#ifndef CTRACK_FORMAT_CONNTRACK_FORMAT_H_
#define CTRACK_FORMAT_CONNTRACK_FORMAT_H_

#include <ctrack/conntrack.h>
#include <ctrack/stats.h>
#include <ctrack/tuple.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ctrack {

enum class ListFormat : uint8_t {
  kDefault,   // conntrack -L
  kExtended,  // conntrack -L -o extended (with the l3 columns)
  kProc,      // /proc/net/nf_conntrack
  kJson,      // one JSON object per entry, fields as kernel-ct's table.jsonl
};

// Parses "default", "extended", "proc", "json"; false for anything else.
bool ParseListFormat(const std::string& name, ListFormat* out);

// An address in text form: IPv4 dotted quad; IPv6 compressed (RFC 5952, as inet_ntop) or, with
// `full`, eight groups of four hex digits as /proc prints them.
// DCCP: the generic tracker's here (no DCCP tracker), but the tools know its ports.
inline constexpr uint8_t kProtoDccp = 33;
// kernel-ct's name for a protocol number: the kernel's for the protocols it tracks (ProtoInfo),
// plus igmp, dccp, esp and ah; nullptr for any other.
const char* OracleL4Name(uint8_t protonum);

std::string FormatAddress(uint8_t l3num, const uint8_t* addr, bool full = false);

// One line without the newline.
std::string FormatConntrackLine(const ConnInfo& ci, bool extended);
std::string FormatProcLine(const ConnInfo& ci);
std::string FormatJsonLine(const ConnInfo& ci);

// A whole listing, one line per entry, each ending in '\n'. Text forms are sorted as strings
// (byte order), as kernel-ct sorts table.txt, so that listings diff stably; JSON is sorted by
// entry number.
std::string FormatTable(const std::vector<ConnInfo>& entries, ListFormat fmt);

// `conntrack -S` for one CPU holding the summed counters: "cpu=0   \tfound=0 ... chaintoolong=0
// \n".
std::string FormatConntrackStats(const Stats& st);
// `conntrack -C`: the count and a newline.
std::string FormatConntrackCount(uint32_t count);
// /proc/net/stat/nf_conntrack: the header line and one line for CPU 0 holding the sums.
std::string FormatProcStat(const Stats& st, uint32_t count);

}  // namespace ctrack

#endif  // CTRACK_FORMAT_CONNTRACK_FORMAT_H_
