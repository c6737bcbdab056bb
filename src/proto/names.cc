// Printable names and the GC early-drop policy (cold path).
//
// Mirrors tcp_conntrack_names[] (nf_conntrack_proto_tcp.c), sctp_conntrack_names[]
// (nf_conntrack_proto_sctp.c), the l4proto names of /proc/net/nf_conntrack
// (nf_conntrack_standalone.c) and gc_worker_can_early_drop() with tcp_can_early_drop() /
// sctp_can_early_drop() (net/netfilter, v6.18).
#include <ctrack/tuple.h>

#include <cstddef>
#include <cstdint>

#include "core/conn.h"
#include "proto/l4proto.h"

namespace ctrack {
namespace {

// Indexed by TcpState up to kSynSent2; names as the kernel prints them.
constexpr const char* kTcpStateNames[] = {
    "NONE",       "SYN_SENT", "SYN_RECV",  "ESTABLISHED", "FIN_WAIT",
    "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",       "SYN_SENT2",
};
static_assert(sizeof(kTcpStateNames) / sizeof(kTcpStateNames[0]) ==
                  static_cast<size_t>(TcpState::kMax),
              "one name per TCP state");

// Indexed by SctpState.
constexpr const char* kSctpStateNames[] = {
    "NONE",          "CLOSED",        "COOKIE_WAIT",       "COOKIE_ECHOED",  "ESTABLISHED",
    "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT",
};
static_assert(sizeof(kSctpStateNames) / sizeof(kSctpStateNames[0]) ==
                  static_cast<size_t>(SctpState::kMax),
              "one name per SCTP state");

}  // namespace

const char* L4ProtoName(uint8_t protonum) {
  switch (protonum) {
    case kProtoTcp:
      return "tcp";
    case kProtoUdp:
      return "udp";
    case kProtoUdplite:
      return "udplite";
    case kProtoIcmp:
      return "icmp";
    case kProtoIcmpv6:
      return "icmpv6";
    case kProtoSctp:
      return "sctp";
    case kProtoGre:
      return "gre";
    default:
      // Every other protocol is handled by the generic tracker, which the kernel names so.
      return "unknown";
  }
}

const char* TcpStateName(uint8_t state) {
  if (state >= sizeof(kTcpStateNames) / sizeof(kTcpStateNames[0])) return "UNKNOWN";
  return kTcpStateNames[state];
}

const char* SctpStateName(uint8_t state) {
  if (state >= sizeof(kSctpStateNames) / sizeof(kSctpStateNames[0])) return "UNKNOWN";
  return kSctpStateNames[state];
}

bool CanEarlyDropInGc(const Conn& ct) {
  // Unassured entries of any protocol may go; ASSURED ones only in the closing states the TCP and
  // SCTP trackers name. (OFFLOAD never occurs here: there is no flowtable.)
  if (!ct.assured()) return true;
  switch (ct.orig.protonum) {
    case kProtoTcp:
      switch (ct.tcp_state()) {
        case TcpState::kFinWait:
        case TcpState::kCloseWait:
        case TcpState::kLastAck:
        case TcpState::kTimeWait:
        case TcpState::kClose:
          return true;
        default:
          return false;
      }
    case kProtoSctp:
      switch (static_cast<SctpState>(ct.state)) {
        case SctpState::kShutdownSent:
        case SctpState::kShutdownRecd:
        case SctpState::kShutdownAckSent:
          return true;
        default:
          return false;
      }
    default:
      return false;
  }
}

}  // namespace ctrack
