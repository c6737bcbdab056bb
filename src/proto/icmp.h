// ICMP / ICMPv6 error handling (icmp_error_message, nf_conntrack_icmpv4_error,
// nf_conntrack_icmpv6_error; net/netfilter/nf_conntrack_proto_icmp*.c, v6.18). Runs before the
// normal lookup; the engine owns the table, so this returns what to look up.
#ifndef CTRACK_PROTO_ICMP_H_
#define CTRACK_PROTO_ICMP_H_

#include <ctrack/config.h>
#include <ctrack/packet.h>
#include <ctrack/tuple.h>

#include <cstdint>

namespace ctrack {

enum class IcmpErrorAction : uint8_t {
  kNotError,   // not an error message: continue with normal processing
  kError,      // rejected by the error handler: count `error`, verdict invalid
  kUntracked,  // ICMPv6 neighbour discovery / MLD: untracked, no counter
  kLookup,     // an error quoting a flow: look up `lookup` among confirmed entries; if found and
               // the outer destination equals the matched tuple's destination, RELATED (original
               // tuple matched) or RELATED_REPLY; else count `error`, invalid
};

struct IcmpErrorResult {
  IcmpErrorAction action = IcmpErrorAction::kNotError;
  Tuple lookup{};  // the inverted embedded tuple (with kLookup)
};

// `pkt` must have protonum kProtoIcmp on IPv4 (resp. kProtoIcmpv6 on IPv6); callers route other
// combinations to the normal path, where the tracker rejects the family mismatch.
IcmpErrorResult IcmpError(const ParsedPacket& pkt, uint16_t zone, const Config& cfg);
IcmpErrorResult Icmpv6Error(const ParsedPacket& pkt, uint16_t zone, const Config& cfg);

}  // namespace ctrack

#endif  // CTRACK_PROTO_ICMP_H_
