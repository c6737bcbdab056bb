// Generic tracker: every protocol without its own tracker (ESP, AH on IPv4, OSPF, DCCP, ...).
// One entry per address pair and protocol, refreshed by every packet, never ASSURED.
//
// Mirrors nf_generic_packet handling in nf_conntrack_handle_packet() and
// net/netfilter/nf_conntrack_proto_generic.c (v6.18).
#include "proto/l4proto.h"

namespace ctrack {

// One timeout whatever the state (nf_generic_net's timeout).
uint32_t GenericTimeout(const Config& cfg, uint8_t /*state*/) {
  return cfg.nf_conntrack_generic_timeout;
}

L4Verdict GenericPacket(Conn& /*ct*/, const ParsedPacket& /*pkt*/, TrackCtx& ctx) {
  ctx.Refresh(GenericTimeout(*ctx.cfg, 0));
  return L4Verdict::kAccept;
}

}  // namespace ctrack
