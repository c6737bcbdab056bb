// SCTP tracker: chunk sanity, verification tags and the per-chunk state machine.
//
// Mirrors sctp_error(), do_basic_checks(), sctp_new(), sctp_new_state() and
// nf_conntrack_sctp_packet(), net/netfilter/nf_conntrack_proto_sctp.c (v6.18).
//
// Per-entry data (Conn::sctp(), ct.state, ct.l4flags):
//   state        SctpState, changed per chunk
//   vtag[dir]    the verification tag packets of direction `dir` must carry (host order)
//   init[dir]    an INIT was seen from `dir` (INIT/INIT_ACK collision checks)
//   last_dir     direction of the HEARTBEAT whose vtag failed (with kHeartbeatVtagFailed)
#include <array>
#include <cstdint>
#include <cstring>

#include "parse/bytes.h"
#include "parse/checksum.h"
#include "proto/l4proto.h"

namespace ctrack {
namespace {

constexpr uint32_t kSctpHeaderLen = 12;  // ports, vtag, checksum
constexpr uint32_t kChunkHeaderLen = 4;  // type, flags, length
constexpr uint32_t kInitHeaderLen = 16;  // init_tag, a_rwnd, streams, initial TSN
constexpr uint8_t kChunkFlagT = 0x01;    // ABORT / SHUTDOWN_COMPLETE: tag reflected

// l4flags bit: a HEARTBEAT carried an unexpected vtag; its HEARTBEAT_ACK may re-learn the tags.
constexpr uint8_t kHeartbeatVtagFailed = 0x01;

enum ChunkType : uint8_t {
  kData = 0,
  kInit = 1,
  kInitAck = 2,
  kHeartbeat = 4,
  kHeartbeatAck = 5,
  kAbort = 6,
  kShutdown = 7,
  kShutdownAck = 8,
  kError = 9,
  kCookieEcho = 10,
  kCookieAck = 11,
  kShutdownComplete = 14,
};

// Walks the chunks as for_each_sctp_chunk: from just after the common header, while a whole
// 4-byte chunk header is readable, advancing by the length rounded up to 4. `fn(off, type,
// flags, length)` returns false to stop. Returns the number of chunks visited.
template <typename Fn>
uint32_t ForEachChunk(const uint8_t* l4, uint32_t len, Fn&& fn) {
  uint32_t count = 0;
  for (uint32_t off = kSctpHeaderLen; off + kChunkHeaderLen <= len; ++count) {
    const uint16_t clen = Load16(l4 + off + 2);
    if (!fn(off, l4[off], l4[off + 1], clen)) return count;
    off += (static_cast<uint32_t>(clen) + 3) & ~3u;
  }
  return count;
}

struct ChunkMap {
  uint64_t bits[4] = {0, 0, 0, 0};
  void Set(uint8_t t) { bits[t >> 6] |= uint64_t{1} << (t & 63); }
  bool Has(uint8_t t) const { return bits[t >> 6] >> (t & 63) & 1; }
};

// do_basic_checks(): true when the chunk layout is acceptable; fills `map` with the chunk types.
//   COOKIE_ECHO / COOKIE_ACK must be the first chunk; INIT, INIT_ACK and SHUTDOWN_COMPLETE must be
//   the only chunk (any chunk from the one they are in onwards is rejected unless it is the first);
//   no chunk may have length 0; there must be at least one chunk.
bool BasicChecks(const uint8_t* l4, uint32_t len, ChunkMap* map) {
  bool ok = true;
  bool exclusive = false;
  uint32_t index = 0;
  uint32_t count = ForEachChunk(l4, len, [&](uint32_t, uint8_t type, uint8_t, uint16_t clen) {
    if (type == kInit || type == kInitAck || type == kShutdownComplete) exclusive = true;
    if (((type == kCookieAck || type == kCookieEcho || exclusive) && index != 0) || clen == 0) {
      ok = false;
      return false;
    }
    map->Set(type);
    ++index;
    return true;
  });
  return ok && count != 0;
}

constexpr uint8_t sNO = static_cast<uint8_t>(SctpState::kNone);
constexpr uint8_t sCL = static_cast<uint8_t>(SctpState::kClosed);
constexpr uint8_t sCW = static_cast<uint8_t>(SctpState::kCookieWait);
constexpr uint8_t sCE = static_cast<uint8_t>(SctpState::kCookieEchoed);
constexpr uint8_t sES = static_cast<uint8_t>(SctpState::kEstablished);
constexpr uint8_t sSS = static_cast<uint8_t>(SctpState::kShutdownSent);
constexpr uint8_t sSR = static_cast<uint8_t>(SctpState::kShutdownRecd);
constexpr uint8_t sSA = static_cast<uint8_t>(SctpState::kShutdownAckSent);
constexpr uint8_t sHS = static_cast<uint8_t>(SctpState::kHeartbeatSent);
constexpr uint8_t sIV = static_cast<uint8_t>(SctpState::kMax);  // invalid

constexpr int kNumStates = static_cast<int>(SctpState::kMax);

// kTransitions[dir][chunk row][state]; rows in the order of ChunkRow(). The connection's states,
// not an endpoint's: the first INIT goes to CLOSED (not COOKIE_WAIT) and the INIT_ACK in the reply
// direction moves it to COOKIE_WAIT; nothing but HEARTBEAT may start a flow from the reply side.
constexpr uint8_t kTransitions[2][11][kNumStates] = {
    {
        // Original direction.
        //  NO   CL   CW   CE   ES   SS   SR   SA   HS
        {sCL, sCL, sCW, sCE, sES, sCL, sCL, sSA, sCW},  // INIT: (re)starts; in SHUTDOWN_* a
                                                        //   restart closes the old association
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL},  // INIT_ACK: only valid from the responder
        {sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},  // ABORT: closes from anywhere
        {sCL, sCL, sCW, sCE, sSS, sSS, sSR, sSA, sCL},  // SHUTDOWN: ES -> SS
        {sSA, sCL, sCW, sCE, sES, sSA, sSA, sSA, sSA},  // SHUTDOWN_ACK: answers a SHUTDOWN
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL},  // ERROR: no stale-cookie handling
        {sCL, sCL, sCE, sCE, sES, sSS, sSR, sSA, sCL},  // COOKIE_ECHO: CW -> CE
        {sCL, sCL, sCW, sES, sES, sSS, sSR, sSA, sCL},  // COOKIE_ACK: not expected this way
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sCL, sCL},  // SHUTDOWN_COMPLETE: SA -> CL
        {sHS, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS},  // HEARTBEAT: may start a secondary flow
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS},  // HEARTBEAT_ACK
    },
    {
        // Reply direction. NONE and HEARTBEAT_SENT reject the chunks of an association (sIV):
        // the reply side cannot start one.
        //  NO   CL   CW   CE   ES   SS   SR   SA   HS
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sIV},  // INIT
        {sIV, sCW, sCW, sCE, sES, sSS, sSR, sSA, sIV},  // INIT_ACK: CL -> CW
        {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sIV},  // ABORT
        {sIV, sCL, sCW, sCE, sSR, sSS, sSR, sSA, sIV},  // SHUTDOWN: ES -> SR
        {sIV, sCL, sCW, sCE, sES, sSA, sSA, sSA, sIV},  // SHUTDOWN_ACK
        {sIV, sCL, sCW, sCL, sES, sSS, sSR, sSA, sIV},  // ERROR: in CE (stale cookie) closes
        {sIV, sCL, sCE, sCE, sES, sSS, sSR, sSA, sIV},  // COOKIE_ECHO: not expected this way
        {sIV, sCL, sCW, sES, sES, sSS, sSR, sSA, sIV},  // COOKIE_ACK: CE -> ES
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sCL, sIV},  // SHUTDOWN_COMPLETE: SA -> CL
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS},  // HEARTBEAT
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sES},  // HEARTBEAT_ACK: answered -> ES
    },
};

// Row of kTransitions for a chunk type; -1 for chunks that leave the state alone (DATA, SACK...).
int ChunkRow(uint8_t type) {
  switch (type) {
    case kInit:
      return 0;
    case kInitAck:
      return 1;
    case kAbort:
      return 2;
    case kShutdown:
      return 3;
    case kShutdownAck:
      return 4;
    case kError:
      return 5;
    case kCookieEcho:
      return 6;
    case kCookieAck:
      return 7;
    case kShutdownComplete:
      return 8;
    case kHeartbeat:
      return 9;
    case kHeartbeatAck:
      return 10;
    default:
      return -1;
  }
}

uint8_t NewState(int dir, uint8_t cur, uint8_t chunk_type) {
  const int row = ChunkRow(chunk_type);
  if (row < 0 || cur >= kNumStates) return cur;
  return kTransitions[dir][row][cur];
}

uint32_t StateTimeout(const Config& cfg, uint8_t state) {
  switch (static_cast<SctpState>(state)) {
    case SctpState::kCookieWait:
      return cfg.nf_conntrack_sctp_timeout_cookie_wait;
    case SctpState::kCookieEchoed:
      return cfg.nf_conntrack_sctp_timeout_cookie_echoed;
    case SctpState::kEstablished:
      return cfg.nf_conntrack_sctp_timeout_established;
    case SctpState::kShutdownSent:
      return cfg.nf_conntrack_sctp_timeout_shutdown_sent;
    case SctpState::kShutdownRecd:
      return cfg.nf_conntrack_sctp_timeout_shutdown_recd;
    case SctpState::kShutdownAckSent:
      return cfg.nf_conntrack_sctp_timeout_shutdown_ack_sent;
    case SctpState::kHeartbeatSent:
      return cfg.nf_conntrack_sctp_timeout_heartbeat_sent;
    default:
      // CLOSED; the kernel also fills the unused NONE slot with the CLOSED value.
      return cfg.nf_conntrack_sctp_timeout_closed;
  }
}

// sctp_new(): initialises a not yet confirmed entry from its first packet. False: refuse.
bool SctpNew(Conn& ct, const uint8_t* l4, uint32_t len, uint32_t pkt_vtag) {
  std::memset(&ct.sctp(), 0, sizeof(SctpData));
  ct.l4flags &= kConnHasExtra;  // the table's bit stays
  ct.state = sNO;
  bool ok = true;
  ForEachChunk(l4, len, [&](uint32_t off, uint8_t type, uint8_t, uint16_t) {
    const uint8_t ns = NewState(0, sNO, type);
    // Chunks that keep NONE (DATA, SACK, ...) cannot start an entry.
    if (ns == sNO || ns == sIV) {
      ok = false;
      return false;
    }
    if (type == kInit) {
      // RFC 9260 8.5.1 (A): a packet carrying INIT has vtag 0.
      if (pkt_vtag != 0 || off + kChunkHeaderLen + kInitHeaderLen > len) {
        ok = false;
        return false;
      }
      ct.sctp().vtag[1] = Load32(l4 + off + kChunkHeaderLen);  // the peer must use init_tag
    } else if (type == kHeartbeat) {
      ct.sctp().vtag[0] = pkt_vtag;
    } else if (type == kShutdownAck) {
      // Out-of-the-blue SHUTDOWN_ACK: the SHUTDOWN_COMPLETE (or ABORT) answering it reflects
      // its tag (RFC 9260 8.4 (5)). No other chunk copies the packet's tag to the reply side
      // (upstream 6e348067ee4b): after a HEARTBEAT_ACK, say, vtag[reply] stays 0 so that the
      // peer's next HEARTBEAT or HEARTBEAT_ACK can learn it.
      ct.sctp().vtag[1] = pkt_vtag;
    }
    return true;
  });
  return ok;
}

// sctp_error() and do_basic_checks(): length, checksum and chunk layout of the packet. Fills
// `map` with the chunk types seen.
bool PacketSane(const Config& cfg, const ParsedPacket& pkt, ChunkMap* map) {
  const uint32_t len = pkt.l4_len();
  if (len < kSctpHeaderLen) return false;  // short packet
  // Verified at PREROUTING for packets without checksum-offload status, as a passive observer's.
  if (cfg.nf_conntrack_checksum && !VerifySctpChecksum(pkt)) return false;
  return BasicChecks(pkt.l4(), len, map);
}

// The packet-wide verification tag check of nf_conntrack_sctp_packet() (RFC 9260 8.5): a packet
// without any chunk that has its own tag rule must carry the direction's vtag.
bool PacketVtagOk(const ChunkMap& map, uint32_t vtag, const SctpData& sd, int dir) {
  if (map.Has(kInit) || map.Has(kShutdownComplete) || map.Has(kCookieEcho) || map.Has(kAbort) ||
      map.Has(kShutdownAck) || map.Has(kHeartbeat) || map.Has(kHeartbeatAck)) {
    return true;
  }
  return vtag == sd.vtag[dir];
}

// What the per-chunk tag rules decide for one chunk.
enum class ChunkStep {
  kTransition,  // go on with the state transition of this chunk
  kSkip,        // accept the chunk without a state transition
  kInvalid,     // the packet is invalid
};

// State of one packet's walk over its chunks in nf_conntrack_sctp_packet().
struct ChunkWalk {
  Conn& ct;
  SctpData& sd;
  const ChunkMap& map;
  const uint8_t* l4;
  uint32_t len;
  uint32_t vtag;  // the packet's verification tag
  int dir;
  int odir;
  uint8_t new_state = sNO;  // state after the last chunk that made a transition
  bool ignore = false;      // accept the packet without refreshing the timeout
};

// HEARTBEAT tag rule: learn the tag of a flow picked up by its heartbeat; an unexpected tag may be
// a restarted peer (multi-homing), accepted once without a transition or a refresh so that a
// HEARTBEAT_ACK from the other side can re-learn the tags.
ChunkStep HeartbeatVtag(ChunkWalk& w) {
  if (w.sd.vtag[w.dir] == 0) {
    w.sd.vtag[w.dir] = w.vtag;
  } else if (w.vtag != w.sd.vtag[w.dir]) {
    if (w.map.Has(kData) || w.ignore) return ChunkStep::kInvalid;
    w.ct.l4flags |= kHeartbeatVtagFailed;
    w.sd.last_dir = static_cast<uint8_t>(w.dir);
    w.ignore = true;
    return ChunkStep::kSkip;
  } else {
    w.ct.l4flags &= static_cast<uint8_t>(~kHeartbeatVtagFailed);
  }
  return ChunkStep::kTransition;
}

// HEARTBEAT_ACK tag rule: an unexpected tag is accepted only as the answer, from the other
// direction, to a HEARTBEAT whose tag failed; it then replaces this direction's tag and clears the
// other's so that it is learnt again.
ChunkStep HeartbeatAckVtag(ChunkWalk& w) {
  if (w.sd.vtag[w.dir] == 0) {
    w.sd.vtag[w.dir] = w.vtag;
  } else if (w.vtag != w.sd.vtag[w.dir]) {
    if (w.map.Has(kData) || w.ignore) return ChunkStep::kInvalid;
    if (!(w.ct.l4flags & kHeartbeatVtagFailed) || w.sd.last_dir == w.dir) {
      return ChunkStep::kInvalid;
    }
    w.ct.l4flags &= static_cast<uint8_t>(~kHeartbeatVtagFailed);
    w.sd.vtag[w.dir] = w.vtag;
    w.sd.vtag[w.odir] = 0;
  } else {
    w.ct.l4flags &= static_cast<uint8_t>(~kHeartbeatVtagFailed);
  }
  return ChunkStep::kTransition;
}

// The per-chunk verification tag rules (RFC 9260 8.5.1) at the top of the chunk loop of
// nf_conntrack_sctp_packet(); COOKIE_ACK also ends the INIT collision window.
ChunkStep ChunkVtag(ChunkWalk& w, uint8_t type, uint8_t flags) {
  switch (type) {
    case kInit:
      return w.vtag == 0 ? ChunkStep::kTransition : ChunkStep::kInvalid;  // 8.5.1 (A)
    case kAbort:
    case kShutdownComplete: {
      // 8.5.1 (B), (C): own tag, or the peer's tag when the T bit says it was reflected.
      const int tag_dir = (flags & kChunkFlagT) ? w.odir : w.dir;
      return w.vtag == w.sd.vtag[tag_dir] ? ChunkStep::kTransition : ChunkStep::kInvalid;
    }
    case kCookieEcho:  // 8.5.1 (D): the tag from the INIT_ACK
      return w.vtag == w.sd.vtag[w.dir] ? ChunkStep::kTransition : ChunkStep::kInvalid;
    case kCookieAck:
      w.sd.init[0] = w.sd.init[1] = 0;
      return ChunkStep::kTransition;
    case kHeartbeat:
      return HeartbeatVtag(w);
    case kHeartbeatAck:
      return HeartbeatAckVtag(w);
    default:
      return ChunkStep::kTransition;
  }
}

// INIT / INIT_ACK after their transition is known: the chunk must hold the INIT header; its
// init_tag is the tag the other direction must use. An INIT_ACK's tag must match one an INIT
// announced unless no INIT was seen from the other side. False: the packet is invalid.
bool LearnInitTag(ChunkWalk& w, uint32_t off, uint8_t type, uint8_t old_state) {
  if (type != kInit && type != kInitAck) return true;
  if (off + kChunkHeaderLen + kInitHeaderLen > w.len) return false;
  const uint32_t init_tag = Load32(w.l4 + off + kChunkHeaderLen);
  SctpData& sd = w.sd;
  if (type == kInit) {
    // An INIT carrying the tag already expected from this side (retransmitted, or stale after
    // the INIT_ACK) says nothing new and leaves the collision flags alone (kernel commit
    // 576a5d2bad48, in 6.18), except on the entry's first chunk, whose reply tag sctp_new()
    // has just set from this very INIT.
    if (old_state == sNO || sd.vtag[w.odir] != init_tag) {
      if (sd.init[w.dir] && sd.init[w.odir]) sd.init[w.odir] = 0;
      sd.init[w.dir] = 1;
    }
    sd.vtag[w.odir] = init_tag;
    // A retransmitted INIT must not keep a stale entry (or its NAT binding) alive.
    if (w.new_state == sCL && old_state == sCL && w.ct.confirmed()) w.ignore = true;
    return true;
  }
  const uint32_t expected = sd.vtag[w.odir];
  if (!sd.init[w.odir] && expected != 0 && expected != init_tag) return false;
  if (sd.init[w.dir] && sd.init[w.odir] && expected != init_tag) return false;  // INIT collision
  sd.vtag[w.odir] = init_tag;
  return true;
}

// One chunk of the loop: tag rules, sctp_new_state(), INIT tags, then the state and, on entering
// ESTABLISHED, the ASSURED bit. False: the packet is invalid (the walk stops; changes made by
// earlier chunks stay, as in the kernel).
bool ProcessChunk(ChunkWalk& w, uint32_t off, uint8_t type, uint8_t flags) {
  switch (ChunkVtag(w, type, flags)) {
    case ChunkStep::kInvalid:
      return false;
    case ChunkStep::kSkip:
      return true;
    case ChunkStep::kTransition:
      break;
  }
  const uint8_t old_state = w.ct.state;
  w.new_state = NewState(w.dir, old_state, type);
  if (w.new_state == sIV) return false;
  if (!LearnInitTag(w, off, type, old_state)) return false;
  w.ct.state = w.new_state;
  if (old_state != w.new_state && w.new_state == sES) w.ct.status |= kAssured;
  return true;
}

}  // namespace

L4Verdict SctpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx) {
  ChunkMap map;
  if (!PacketSane(*ctx.cfg, pkt, &map)) return L4Verdict::kInvalid;

  const uint8_t* l4 = pkt.l4();
  const uint32_t len = pkt.l4_len();
  const uint32_t vtag = Load32(l4 + 4);
  if (!ct.confirmed()) {
    // Out-of-the-blue packets with these chunks must not create state (RFC 9260 8.4).
    if (map.Has(kAbort) || map.Has(kShutdownComplete) || map.Has(kCookieAck)) {
      return L4Verdict::kInvalid;
    }
    if (!SctpNew(ct, l4, len, vtag)) return L4Verdict::kInvalid;
  }

  const int dir = ctx.dir == Dir::kOriginal ? 0 : 1;
  if (!PacketVtagOk(map, vtag, ct.sctp(), dir)) return L4Verdict::kInvalid;

  ChunkWalk w{ct, ct.sctp(), map, l4, len, vtag, dir, 1 - dir};
  bool invalid = false;
  ForEachChunk(l4, len, [&](uint32_t off, uint8_t type, uint8_t flags, uint16_t) {
    invalid = !ProcessChunk(w, off, type, flags);
    return !invalid;
  });
  if (invalid) return L4Verdict::kInvalid;

  // A packet marked `ignore` is accepted without refreshing the timeout.
  if (!w.ignore) ctx.Refresh(StateTimeout(*ctx.cfg, w.new_state));
  return L4Verdict::kAccept;
}

uint32_t SctpTimeout(const Config& cfg, uint8_t state) { return StateTimeout(cfg, state); }

}  // namespace ctrack
