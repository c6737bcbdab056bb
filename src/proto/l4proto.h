// The one tracker interface. The table stores tuples and expiry times and calls the trackers; a
// tracker sees one connection and one packet and never walks buckets.
//
// Mirrors nf_conntrack_handle_packet() and struct nf_conntrack_l4proto,
// net/netfilter/nf_conntrack_proto*.c (v6.18).
#ifndef CTRACK_PROTO_L4PROTO_H_
#define CTRACK_PROTO_L4PROTO_H_

#include <ctrack/config.h>
#include <ctrack/packet.h>

#include <cstdint>

#include "core/conn.h"

namespace ctrack {

// ctinfo as the kernel numbers it (enum ip_conntrack_info).
enum class CtInfo : uint8_t {
  kEstablished = 0,
  kRelated = 1,
  kNew = 2,
  kEstablishedReply = 3,
  kRelatedReply = 4,
  kUntracked = 7,
};

// What a tracker decided (NF_ACCEPT, -NF_ACCEPT, -NF_DROP, NF_REPEAT in the kernel).
enum class L4Verdict : uint8_t {
  kAccept,   // packet keeps its ctinfo
  kInvalid,  // detach, count `invalid`
  kDrop,     // detach, count `invalid` and `drop`, drop the packet
  kRepeat,   // tracker asked to delete the entry (TCP re-open); reprocess the packet
};

// Per-packet context handed to a tracker. Inputs are set by the engine; the tracker reports what
// the engine must do to the entry through the outputs, so that trackers never touch the table.
struct TrackCtx {
  // Inputs.
  const Config* cfg;
  Timestamp now;
  Dir dir;
  CtInfo ctinfo;

  // Outputs (start false / 0).
  bool refresh = false;      // set expiry = now + timeout_ns and count accounting
  Timestamp timeout_ns = 0;  // with refresh
  bool kill = false;         // delete the entry after accepting the packet (e.g. TCP RST
                             // before any reply); accounting counts the packet first
  bool set_expiry = false;   // set the absolute expiry to expiry_ns, no accounting
  Timestamp expiry_ns = 0;   //   (TCP out-of-window FIN/RST shrink rule)

  void Refresh(uint32_t seconds) {
    refresh = true;
    timeout_ns = static_cast<Timestamp>(seconds) * kNsPerSec;
  }
};

// Trackers. Each runs the protocol's error checks (checksum where the kernel verifies it, header
// sanity), initialises the per-protocol data when the entry is not yet confirmed (the kernel's
// *_new() callbacks) and then the packet rules. `ct` may be unconfirmed (a new entry).
L4Verdict TcpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);
L4Verdict UdpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);
L4Verdict UdpLitePacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);
L4Verdict IcmpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);
L4Verdict Icmpv6Packet(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);
L4Verdict GrePacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);
L4Verdict SctpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);
L4Verdict GenericPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx);

// Protocol-specific pre-lookup checks that the kernel runs in the L4 "error" callbacks before
// nf_conntrack_in resolves the tuple. Only TCP/UDP/UDP-Lite/SCTP need nothing here (their checks
// run inside *Packet); ICMP errors are handled by icmp.h.

// Timeouts by state, one per tracker (ProtoDesc::timeout; the index is described there).
uint32_t TcpTimeout(const Config& cfg, uint8_t state);
uint32_t SctpTimeout(const Config& cfg, uint8_t state);
uint32_t UdpTimeout(const Config& cfg, uint8_t replied);
uint32_t GreTimeout(const Config& cfg, uint8_t replied);
uint32_t IcmpTimeout(const Config& cfg, uint8_t state);
uint32_t Icmpv6Timeout(const Config& cfg, uint8_t state);
uint32_t GenericTimeout(const Config& cfg, uint8_t state);

}  // namespace ctrack

#endif  // CTRACK_PROTO_L4PROTO_H_
