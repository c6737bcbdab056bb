// The connection entry: one fixed-size, cache-line aligned record per tracked connection.
//
// Layout (128 bytes, two cache lines; the first holds everything a lookup touches):
//   [0..40)    Tuple orig       original-direction tuple incl. zone; reply tuple is derived
//   [40..42)   status           IPS_* bits (kernel numbering)
//   [42]       state            TCP or SCTP state; 0 for stateless protocols
//   [43]       l4flags          tracker-private bits
//   [44..48)   spare            unused
//   [48..56)   expires          absolute expiry instant (ns)
//   [56..60)   id               creation sequence number, given at confirmation
//   [60..64)   mark
//   [64..128)  l4               per-protocol data (union)
//
// Early drop and the GC read only expires and status of the entries they pass over; both sit in
// the first line, so a scan costs one cache line per entry.
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
                          // the union stays 4-byte aligned and the entry 128 bytes
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

struct alignas(64) Conn {
  // Identity. Set once at creation; never changes.
  Tuple orig;
  uint16_t status;
  uint8_t state;
  uint8_t l4flags;
  // Unused; keeps the layout below stable.
  uint32_t spare;
  // Absolute expiry instant. The kernel keeps a relative timeout until confirmation; here the
  // packet that creates an entry also confirms it at the same virtual instant, so the two agree.
  Timestamp expires;
  // Creation sequence number (0, 1, ... in confirmation order); set at confirmation.
  uint32_t id;
  uint32_t mark;
  union {
    TcpData tcp;
    UdpData udp;
    GreData gre;
    SctpData sctp;
  } l4;

  bool confirmed() const { return status & kConfirmed; }
  bool seen_reply() const { return status & kSeenReply; }
  bool assured() const { return status & kAssured; }
  TcpState tcp_state() const { return static_cast<TcpState>(state); }
};
static_assert(sizeof(Conn) == 128, "two cache lines; see the layout comment");
static_assert(offsetof(Conn, status) < 64 && offsetof(Conn, expires) < 64,
              "what scans read stays in the first line");

// Per-direction accounting (nf_conn_acct), kept beside the table only when
// nf_conntrack_acct was on when the entry was created.
struct ConnCounters {
  uint64_t packets[2];
  uint64_t bytes[2];
};

}  // namespace ctrack

#endif  // CTRACK_CORE_CONN_H_
