// The per-packet verdicts table in kernel-ct's verdicts.tsv layout (oracle README), so that a
// ctrack run can be diffed against a kernel run column by column:
//
//   #index verdict dir state status entry fwd note summary t_replay   (tab separated)
#ifndef CTRACK_FORMAT_VERDICTS_H_
#define CTRACK_FORMAT_VERDICTS_H_

#include <ctrack/conntrack.h>
#include <ctrack/decode.h>
#include <ctrack/packet.h>

#include <cstdint>
#include <string>

namespace ctrack {

// The header line, with its newline.
const char* VerdictsHeader();

// What the link layer of a frame says, for the summary and note columns.
struct FrameInfo {
  bool ip = false;         // carries IPv4/IPv6 (else "non-ip", not injected)
  std::string link_notes;  // "vlan-stripped", "non-ip-ethertype-0x0806", ... comma separated
  std::string summary;     // "tcp 10.0.0.1:1000>10.0.0.2:80 [S]", "non-ip", ...
};
// From the frame's one decode (kernel-ct's notes for frames that carry no IP come from
// FrameFacts::not_ip); the second form decodes the frame first.
FrameInfo DescribeFrame(const FrameFacts& f);
FrameInfo DescribeFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen);

// One row, with its newline. `ci` is the attached entry after the packet (nullptr when the
// packet has none). `t_replay` is the packet's time in seconds from the start of the replay.
std::string FormatVerdictRow(uint64_t index, const PacketResult& r, const ConnInfo* ci,
                             const FrameInfo& frame, bool truncated, Timestamp t_replay);

}  // namespace ctrack

#endif  // CTRACK_FORMAT_VERDICTS_H_
