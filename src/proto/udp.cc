// UDP and UDP-Lite trackers: no state, two timeouts (unreplied / stream).
//
// Mirrors udp_error(), udplite_error(), nf_conntrack_udp_packet() and
// nf_conntrack_udplite_packet(), net/netfilter/nf_conntrack_proto_udp.c (v6.18).
//
// The checksum checks model packets seen at PREROUTING without hardware checksum status (the
// kernel's CHECKSUM_NONE case), which is what a passive observer sees.
#include <cstdint>

#include "parse/bytes.h"
#include "parse/checksum.h"
#include "proto/l4proto.h"

namespace ctrack {
namespace {

constexpr uint32_t kUdpHeaderLen = 8;
// IPS_NAT_CLASH (bit 12): clash-resolved loser entries never become ASSURED.
// A replied flow becomes a "stream" (long timeout, ASSURED) only when it is still active this
// long after its first packet; filters out request/response exchanges such as DNS.
constexpr Timestamp kUdpStreamDelay = 2 * kNsPerSec;

// True when the packet is malformed: udp_error().
bool UdpError(const ParsedPacket& pkt, const Config& cfg) {
  const uint32_t udplen = pkt.l4_len();
  if (udplen < kUdpHeaderLen) return true;  // short packet
  const uint8_t* h = pkt.l4();
  const uint16_t len = Load16(h + 4);
  // The length field may be shorter than the datagram (trailing bytes are ignored) but never
  // longer, and never shorter than the header.
  if (len > udplen || len < kUdpHeaderLen) return true;
  if (Load16(h + 6) == 0) return false;  // no checksum (accepted on IPv6 too)
  // The kernel checksums the whole IP payload, not just the length field's bytes.
  if (cfg.nf_conntrack_checksum && !VerifyL4Checksum(pkt, kProtoUdp, udplen)) return true;
  return false;
}

// True when the packet is malformed: udplite_error().
bool UdpLiteError(const ParsedPacket& pkt, const Config& cfg) {
  const uint32_t udplen = pkt.l4_len();
  if (udplen < kUdpHeaderLen) return true;  // short packet
  const uint8_t* h = pkt.l4();
  uint32_t cscov = Load16(h + 4);  // UDP-Lite reuses the length field as checksum coverage
  if (cscov == 0) {
    cscov = udplen;  // 0: the whole datagram is covered
  } else if (cscov < kUdpHeaderLen || cscov > udplen) {
    return true;
  }
  if (Load16(h + 6) == 0) return true;  // UDP-Lite mandates a checksum
  // Kernel quirk kept on purpose: the pseudo-header is built with protocol 17 (UDP), not 136, so
  // an RFC 3828 checksum fails here and a "UDP-style" one passes (observed on 6.18).
  if (cfg.nf_conntrack_checksum && !VerifyL4Checksum(pkt, kProtoUdp, cscov)) return true;
  return false;
}

}  // namespace

// Mirrors udp_timeouts[UDP_CT_UNREPLIED / UDP_CT_REPLIED] (UDP-Lite shares them).
uint32_t UdpTimeout(const Config& cfg, uint8_t replied) {
  return replied ? cfg.nf_conntrack_udp_timeout_stream : cfg.nf_conntrack_udp_timeout;
}

L4Verdict UdpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx) {
  const Config& cfg = *ctx.cfg;
  if (UdpError(pkt, cfg)) return L4Verdict::kInvalid;

  if (!ct.confirmed()) ct.l4.udp.set_stream(ctx.now + kUdpStreamDelay);

  // SEEN_REPLY as it was before this packet: the engine sets it after a reply is accepted, so the
  // first reply itself still gets the unreplied timeout.
  if (ct.status & kSeenReply) {
    uint32_t timeout = UdpTimeout(cfg, 0);
    bool stream = false;
    if (ctx.now > ct.l4.udp.stream()) {  // strictly after, as time_after()
      timeout = UdpTimeout(cfg, 1);
      stream = !(ct.status & kAssured);
    }
    ctx.Refresh(timeout);
    if (stream && !(ct.status & kNatClash)) ct.status |= kAssured;
  } else {
    ctx.Refresh(UdpTimeout(cfg, 0));
  }
  return L4Verdict::kAccept;
}

L4Verdict UdpLitePacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx) {
  const Config& cfg = *ctx.cfg;
  if (UdpLiteError(pkt, cfg)) return L4Verdict::kInvalid;

  // Same two timeouts as UDP, but no two-second rule: any packet after a reply makes a stream.
  if (ct.status & kSeenReply) {
    ctx.Refresh(UdpTimeout(cfg, 1));
    if (!(ct.status & kNatClash)) ct.status |= kAssured;
  } else {
    ctx.Refresh(UdpTimeout(cfg, 0));
  }
  return L4Verdict::kAccept;
}

}  // namespace ctrack
