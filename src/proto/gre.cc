// GRE tracker (version 0 and PPTP's enhanced GRE; the tuple is built by the parser).
//
// Mirrors nf_conntrack_gre_packet(), net/netfilter/nf_conntrack_proto_gre.c (v6.18).
#include "proto/l4proto.h"

namespace ctrack {
namespace {

// IPS_NAT_CLASH (bit 12): clash-resolved loser entries never become ASSURED.

}  // namespace

// Mirrors gre_timeouts[GRE_CT_UNREPLIED / GRE_CT_REPLIED].
uint32_t GreTimeout(const Config& cfg, uint8_t replied) {
  return replied ? cfg.nf_conntrack_gre_timeout_stream : cfg.nf_conntrack_gre_timeout;
}

L4Verdict GrePacket(Conn& ct, const ParsedPacket& /*pkt*/, TrackCtx& ctx) {
  if (!ct.confirmed()) {
    // The two timeouts are copied into the entry at creation (a PPTP helper may raise them), so a
    // later sysctl change does not affect existing entries.
    ct.l4.gre.timeout_s = GreTimeout(*ctx.cfg, 0);
    ct.l4.gre.stream_timeout_s = GreTimeout(*ctx.cfg, 1);
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
