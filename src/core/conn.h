// The connection entry: one or two 64-byte slots per tracked connection.
//
// Slot layout (Conn, 64 bytes, one cache line; everything a lookup touches):
//   [0..40)    Tuple orig       original-direction tuple incl. zone; reply tuple is derived
//   [40..42)   status           IPS_* bits (kernel numbering)
//   [42]       state            TCP or SCTP state; 0 for stateless protocols
//   [43]       l4flags          tracker-private bits, but for kConnHasExtra (the table's)
//   [44..48)   id               creation sequence number, given at confirmation
//   [48..56)   expires          absolute expiry instant (ns)
//   [56..64)   l4               UDP / UDP-Lite / GRE data (union); unused otherwise
//
// TCP and SCTP entries (ConnHasExt) take two slots, an even one and the next, which holds their
// window or tag state (ConnExt); every other protocol's entry is the one line. A UDP-heavy table
// thus costs half the memory and half the lines per lookup of a TCP one. The mark and a reply
// tuple that is not the inverse of orig (both only from imported snapshots) live beside the
// table (Table::SetStoredReply, Table::SetMark), flagged by kConnHasExtra so that a lookup's
// reply comparison learns from this line alone that there is something else to read.
//
// Early drop and the GC read only expires and status of the entries they pass over; both sit in
// the one line, so a scan costs one cache line per entry.
#ifndef CTRACK_CORE_CONN_H_
#define CTRACK_CORE_CONN_H_

#include <ctrack/entry.h>
#include <ctrack/packet.h>
#include <ctrack/tuple.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ctrack {

// Per-direction TCP window data (struct ip_ct_tcp_state). Describes the sender in that direction.
struct TcpDirState {
  uint32_t td_end;     // highest seq + len sent
  uint32_t td_maxend;  // highest right edge of the window the peer advertised to this sender
  uint32_t td_maxwin;  // largest window advertised by this sender; 0: not initialised
  uint32_t td_maxack;  // highest ack sent (valid with kTcpMaxackSet)
  uint8_t td_scale;    // window scale shift, 0..14
  uint8_t flags;       // kTcpFlag* below
};

struct TcpData {
  TcpDirState seen[2];
  uint32_t last_seq;
  uint32_t last_ack;
  uint32_t last_end;
  uint16_t last_win;
  uint8_t last_dir;
  uint8_t last_index;
  uint8_t last_wscale;
  uint8_t last_flags;
  uint8_t retrans;
};

struct UdpData {
  uint32_t stream_ts[2];  // absolute ns after which a replied flow becomes a stream; split so
                          // that the union is 4-byte aligned and fits the line's tail
  Timestamp stream() const {
    uint64_t v = static_cast<uint64_t>(stream_ts[1]) << 32 | stream_ts[0];
    return static_cast<Timestamp>(v);
  }
  void set_stream(Timestamp t) {
    uint64_t v = static_cast<uint64_t>(t);
    stream_ts[0] = static_cast<uint32_t>(v);
    stream_ts[1] = static_cast<uint32_t>(v >> 32);
  }
};

struct GreData {
  uint32_t timeout_s;         // copied from nf_conntrack_gre_timeout at creation
  uint32_t stream_timeout_s;  // copied from nf_conntrack_gre_timeout_stream at creation
};

struct SctpData {
  uint32_t vtag[2];  // expected verification tag per direction
  uint8_t last_dir;
  uint8_t init[2];  // INIT / INIT_ACK seen per direction (heartbeat vtag learning)
};

// l4flags bit owned by the table: the entry has a mark or a stored reply tuple beside the table.
// Trackers keep to the other seven bits.
inline constexpr uint8_t kConnHasExtra = 0x80;

// True for the protocols whose entries take a second slot (ConnExt): fixed by the original
// tuple's protocol, which never changes.
constexpr bool ConnHasExt(uint8_t protonum) {
  return protonum == kProtoTcp || protonum == kProtoSctp;
}

// The second slot of a TCP or SCTP entry.
struct alignas(64) ConnExt {
  union {
    TcpData tcp;
    SctpData sctp;
  };
};
static_assert(sizeof(ConnExt) == 64, "one cache line");

struct alignas(64) Conn {
  // Identity. Set once at creation; never changes.
  Tuple orig;
  uint16_t status;
  uint8_t state;
  uint8_t l4flags;
  // Creation sequence number (0, 1, ... in confirmation order); set at confirmation.
  uint32_t id;
  // Absolute expiry instant. The kernel keeps a relative timeout until confirmation; here the
  // packet that creates an entry also confirms it at the same virtual instant, so the two agree.
  Timestamp expires;
  union {
    UdpData udp;
    GreData gre;
  } l4;

  bool confirmed() const { return status & kConfirmed; }
  bool seen_reply() const { return status & kSeenReply; }
  bool assured() const { return status & kAssured; }
  TcpState tcp_state() const { return static_cast<TcpState>(state); }
  // The second slot; only for an entry of a ConnHasExt protocol, which the table allocated as a
  // pair of slots (an entry is never copied out of its slot).
  inline ConnExt& ext();
  inline const ConnExt& ext() const;
  TcpData& tcp() { return ext().tcp; }
  const TcpData& tcp() const { return ext().tcp; }
  SctpData& sctp() { return ext().sctp; }
  const SctpData& sctp() const { return ext().sctp; }
};
static_assert(sizeof(Conn) == 64, "one cache line; see the layout comment");

// What the table's chunks are arrays of: a slot is an entry's first line or a pair's second.
union Slot {
  Conn conn;
  ConnExt ext;
};
static_assert(sizeof(Slot) == 64);

inline ConnExt& Conn::ext() { return (reinterpret_cast<Slot*>(this) + 1)->ext; }
inline const ConnExt& Conn::ext() const { return (reinterpret_cast<const Slot*>(this) + 1)->ext; }

// Per-direction accounting (nf_conn_acct), kept beside the table only when
// nf_conntrack_acct was on when the entry was created.
struct ConnCounters {
  uint64_t packets[2];
  uint64_t bytes[2];
};

}  // namespace ctrack

#endif  // CTRACK_CORE_CONN_H_
