// The protocol descriptors (names, ports, states, early-drop rule, timeouts), printable names
// (cold path).
//
// Mirrors tcp_conntrack_names[] (nf_conntrack_proto_tcp.c), sctp_conntrack_names[]
// (nf_conntrack_proto_sctp.c), the l4proto names of /proc/net/nf_conntrack
// (nf_conntrack_standalone.c) and gc_worker_can_early_drop() with tcp_can_early_drop() /
// sctp_can_early_drop() (net/netfilter, v6.18). The timeout functions live beside each tracker.
#include <ctrack/entry.h>
#include <ctrack/tuple.h>

#include <cstddef>
#include <cstdint>
#include <string>

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

const ProtoDesc& ProtoInfo(uint8_t protonum) {
  // (OFFLOAD never occurs in CanEarlyDrop(): there is no flowtable.)
  // has_ports: the kernel prints sport=/dport= for these (their tuple ids are ports); GRE keys and
  // ICMP ids are printed by their own printers.
  constexpr auto kBit = [](auto s) { return 1u << static_cast<uint32_t>(s); };
  // tcp_can_early_drop(): the closing states (TcpClosing()).
  constexpr uint32_t kTcpDrop = kBit(TcpState::kFinWait) | kBit(TcpState::kCloseWait) |
                                kBit(TcpState::kLastAck) | kBit(TcpState::kTimeWait) |
                                kBit(TcpState::kClose);
  // sctp_can_early_drop(): the shutdown states.
  constexpr uint32_t kSctpDrop = kBit(SctpState::kShutdownSent) | kBit(SctpState::kShutdownRecd) |
                                 kBit(SctpState::kShutdownAckSent);
  static constexpr ProtoDesc kTcp{
      kProtoTcp, "tcp", true, true, static_cast<uint8_t>(TcpState::kMax), kTcpDrop, TcpTimeout};
  static constexpr ProtoDesc kUdp{kProtoUdp, "udp", true, false, 0, 0, UdpTimeout};
  static constexpr ProtoDesc kUdplite{kProtoUdplite, "udplite", true, false, 0, 0, UdpTimeout};
  static constexpr ProtoDesc kIcmp{kProtoIcmp, "icmp", false, false, 0, 0, IcmpTimeout};
  static constexpr ProtoDesc kIcmpv6{kProtoIcmpv6, "icmpv6", false, false, 0, 0, Icmpv6Timeout};
  static constexpr ProtoDesc kSctp{
      kProtoSctp, "sctp",     true, true, static_cast<uint8_t>(SctpState::kMax),
      kSctpDrop,  SctpTimeout};
  static constexpr ProtoDesc kGre{kProtoGre, "gre", false, false, 0, 0, GreTimeout};
  // Every other protocol is handled by the generic tracker, which the kernel names so.
  static constexpr ProtoDesc kGeneric{0, "unknown", false, false, 0, 0, GenericTimeout};
  switch (protonum) {
    case kProtoTcp:
      return kTcp;
    case kProtoUdp:
      return kUdp;
    case kProtoUdplite:
      return kUdplite;
    case kProtoIcmp:
      return kIcmp;
    case kProtoIcmpv6:
      return kIcmpv6;
    case kProtoSctp:
      return kSctp;
    case kProtoGre:
      return kGre;
    default:
      return kGeneric;
  }
}

const char* L4ProtoName(uint8_t protonum) { return ProtoInfo(protonum).name; }

const char* TcpStateName(uint8_t state) {
  if (state >= sizeof(kTcpStateNames) / sizeof(kTcpStateNames[0])) return "UNKNOWN";
  return kTcpStateNames[state];
}

const char* SctpStateName(uint8_t state) {
  if (state >= sizeof(kSctpStateNames) / sizeof(kSctpStateNames[0])) return "UNKNOWN";
  return kSctpStateNames[state];
}

const char* StateName(uint8_t protonum, uint8_t state) {
  if (protonum == kProtoTcp) return TcpStateName(state);
  if (protonum == kProtoSctp) return SctpStateName(state);
  return "-";
}

std::string StatusNames(uint16_t status) {
  static constexpr const char* kNames[16] = {
      "EXPECTED",   "SEEN_REPLY",   "ASSURED",      "CONFIRMED", "SRC_NAT",       "DST_NAT",
      "SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING",     "FIXED_TIMEOUT", "TEMPLATE",
      "NAT_CLASH",  "HELPER",       "OFFLOAD",      "HW_OFFLOAD"};
  std::string out;
  for (int bit = 0; bit < 16; ++bit) {
    if (!(status & (1u << bit))) continue;
    if (!out.empty()) out += ',';
    out += kNames[bit];
  }
  return out.empty() ? "-" : out;
}

bool TcpClosing(TcpState s) {
  switch (s) {
    case TcpState::kFinWait:
    case TcpState::kCloseWait:
    case TcpState::kLastAck:
    case TcpState::kTimeWait:
    case TcpState::kClose:
      return true;
    default:
      return false;
  }
}

}  // namespace ctrack
