// Generic tracker: every protocol without its own tracker (ESP, AH on IPv4, OSPF, DCCP, ...).
// One entry per address pair and protocol, refreshed by every packet, never ASSURED.
//
// Mirrors nf_generic_packet handling in nf_conntrack_handle_packet() and
// net/netfilter/nf_conntrack_proto_generic.c (v6.18).
#include "proto/l4proto.h"

namespace ctrack {

L4Verdict GenericPacket(Conn& /*ct*/, const ParsedPacket& /*pkt*/, TrackCtx& ctx) {
  ctx.Refresh(ctx.cfg->nf_conntrack_generic_timeout);
  return L4Verdict::kAccept;
}

}  // namespace ctrack
