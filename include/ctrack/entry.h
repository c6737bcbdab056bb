// The public entry model: what one conntrack entry means, whoever produced it (a replay through
// the engine, a ctnetlink dump of the running kernel, a snapshot file, a pasted `conntrack -L`).
// Printers, the simulator and the tests speak only this model.
//
// Numbering follows the kernel's uapi so that values read from ctnetlink need no translation:
// status bits as enum ip_conntrack_status (linux/netfilter/nf_conntrack_common.h), TCP states as
// enum tcp_conntrack, SCTP states as enum sctp_conntrack, TCP flags as IP_CT_TCP_FLAG_*.
#ifndef CTRACK_ENTRY_H_
#define CTRACK_ENTRY_H_

#include <ctrack/packet.h>
#include <ctrack/tuple.h>

#include <cstdint>
#include <string>

namespace ctrack {

// Status bits (IPS_*). Can be set, not unset, except DYING on the way out.
enum Status : uint16_t {
  kExpected = 1u << 0,
  kSeenReply = 1u << 1,
  kAssured = 1u << 2,
  kConfirmed = 1u << 3,
  kSrcNat = 1u << 4,
  kDstNat = 1u << 5,
  kSeqAdjust = 1u << 6,
  kSrcNatDone = 1u << 7,
  kDstNatDone = 1u << 8,
  kDying = 1u << 9,
  kFixedTimeout = 1u << 10,
  kTemplate = 1u << 11,
  kNatClash = 1u << 12,
  kHelper = 1u << 13,
  kOffload = 1u << 14,
  kHwOffload = 1u << 15,
};

// TCP states, numbered as the kernel exports them (CTA_PROTOINFO_TCP_STATE).
enum class TcpState : uint8_t {
  kNone = 0,
  kSynSent = 1,
  kSynRecv = 2,
  kEstablished = 3,
  kFinWait = 4,
  kCloseWait = 5,
  kLastAck = 6,
  kTimeWait = 7,
  kClose = 8,
  kSynSent2 = 9,
  kMax = 10,  // also "invalid" in the transition table
  kIgnore = 11,
  kRetrans = 12,  // timeout-array index only
  kUnack = 13,    // timeout-array index only
};

// SCTP states (CTA_PROTOINFO_SCTP_STATE).
enum class SctpState : uint8_t {
  kNone = 0,
  kClosed,
  kCookieWait,
  kCookieEchoed,
  kEstablished,
  kShutdownSent,
  kShutdownRecd,
  kShutdownAckSent,
  kHeartbeatSent,
  kMax,
};

// TCP per-direction flags (IP_CT_TCP_FLAG_*), as ctnetlink reports them.
enum TcpFlag : uint8_t {
  kTcpWindowScale = 0x01,
  kTcpSackPerm = 0x02,
  kTcpCloseInit = 0x04,
  kTcpBeLiberal = 0x08,
  kTcpDataUnacknowledged = 0x10,
  kTcpMaxackSet = 0x20,
  kTcpExpChallengeAck = 0x40,   // last_flags only
  kTcpSimultaneousOpen = 0x80,  // last_flags only
};

// One protocol as the tools see it. One row per protocol the kernel has a tracker for; every
// other protocol number is the generic tracker's ("unknown").
struct ProtoDesc {
  uint8_t protonum;
  const char* name;     // as /proc/net/nf_conntrack and conntrack -L print it
  bool has_ports;       // the tuple's ids are ports (printed sport=/dport=)
  bool has_states;      // entries carry a state (TCP, SCTP) printed after the timeout
  uint8_t state_count;  // number of named states (0 when !has_states)
};
const ProtoDesc& ProtoInfo(uint8_t protonum);

// "tcp", "udp", ... "unknown" (the generic tracker's name).
const char* L4ProtoName(uint8_t protonum);
const char* TcpStateName(uint8_t state);   // "SYN_SENT", ...; "UNKNOWN" out of range
const char* SctpStateName(uint8_t state);  // "COOKIE_WAIT", ...
// State name for the oracle's `state` column: TCP/SCTP state, "-" otherwise.
const char* StateName(uint8_t protonum, uint8_t state);
// Status-bit names, as the oracle lists them ("SEEN_REPLY,ASSURED,CONFIRMED"); "-" when none.
std::string StatusNames(uint16_t status);
// TCP states in which the connection is being closed (FIN seen or later): FIN_WAIT, CLOSE_WAIT,
// LAST_ACK, TIME_WAIT, CLOSE.
bool TcpClosing(TcpState s);

// A snapshot of one entry, for printing and inspection (cold path).
struct ConnInfo {
  Tuple orig;
  Tuple reply;      // the real reply tuple: the inverse of orig unless NAT rewrote it
  uint32_t id;      // creation sequence number (0, 1, ...) of a replay; the kernel's ct id live
  uint16_t status;  // Status bits
  uint8_t state;    // TCP/SCTP state number, 0 for others
  uint32_t mark;
  int64_t timeout_s;  // whole seconds left, floored, clamped at 0
  Timestamp expires;  // absolute expiry instant (ns) on the producer's clock
  bool has_acct;
  uint64_t packets[2];
  uint64_t bytes[2];
  // GRE per-entry timeouts (printed by /proc).
  uint32_t gre_timeout_s;
  uint32_t gre_stream_timeout_s;
  // TCP per-direction window scale and flags (as ctnetlink reports them).
  uint8_t tcp_wscale[2];
  uint8_t tcp_flags[2];

  // --- kernel-only fields (a ctnetlink dump; a replay leaves the defaults) ---------------------
  uint32_t use = 1;                  // CTA_USE: references held (conntrack -L prints use=)
  int32_t tuple_zone[2] = {-1, -1};  // CTA_TUPLE_ZONE per direction (zone-orig=/zone-reply=)
  bool has_timestamp = false;        // CTA_TIMESTAMP present (nf_conntrack_timestamp=1)
  uint64_t ts_start_ns = 0;          // CLOCK_REALTIME ns at creation
  uint64_t ts_stop_ns = 0;           // 0 while alive
  bool has_labels = false;           // CTA_LABELS present
  uint8_t labels[16] = {};           // connlabel bits (128), as the kernel stores them
  uint32_t secmark = 0;              // CTA_SECMARK (deprecated, still sent when set)
  std::string helper;                // CTA_HELP_NAME ("ftp", ...), empty without a helper
  std::string secctx;                // CTA_SECCTX_NAME, empty without LSM labels
};

}  // namespace ctrack

#endif  // CTRACK_ENTRY_H_
