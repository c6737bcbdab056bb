// GRE tracker (version 0 and PPTP's enhanced GRE; the tuple is built by the parser).
//
// Mirrors nf_conntrack_gre_packet(), net/netfilter/nf_conntrack_proto_gre.c (v6.18).
#include "proto/l4proto.h"

namespace ctrack {
namespace {

// IPS_NAT_CLASH (bit 12): clash-resolved loser entries never become ASSURED.

}  // namespace

L4Verdict GrePacket(Conn& ct, const ParsedPacket& /*pkt*/, TrackCtx& ctx) {
  if (!ct.confirmed()) {
    // The two timeouts are copied into the entry at creation (a PPTP helper may raise them), so a
    // later sysctl change does not affect existing entries.
    ct.l4.gre.timeout_s = ctx.cfg->nf_conntrack_gre_timeout;
    ct.l4.gre.stream_timeout_s = ctx.cfg->nf_conntrack_gre_timeout_stream;
  }

  // SEEN_REPLY as it was before this packet: the first reply still gets the short timeout.
  if (ct.status & kSeenReply) {
    ctx.Refresh(ct.l4.gre.stream_timeout_s);
    if (!(ct.status & kNatClash)) ct.status |= kAssured;
  } else {
    ctx.Refresh(ct.l4.gre.timeout_s);
  }
  return L4Verdict::kAccept;
}

}  // namespace ctrack
