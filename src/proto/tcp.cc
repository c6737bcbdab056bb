// The TCP tracker: header sanity checks, the state machine and window tracking.
//
// Mirrors nf_conntrack_tcp_packet(), tcp_error(), tcp_new(), tcp_in_window(), tcp_options(),
// tcp_sack(), nf_tcp_handle_invalid() and tcp_conntracks[][][] of
// net/netfilter/nf_conntrack_proto_tcp.c (v6.18). The behaviour is specified in
// linux-conntrack-semantics.md §4; section numbers below refer to it.
//
// Everything this file reads from the packet lies inside the TCP header, whose full length
// (doff * 4) is checked against the segment length before any other field is used.

#include <ctrack/config.h>
#include <ctrack/packet.h>
#include <ctrack/tuple.h>

#include <cstdint>

#include "core/conn.h"
#include "parse/checksum.h"
#include "proto/l4proto.h"

namespace ctrack {
namespace {

// Header flag bits (the 14th byte of the TCP header).
constexpr uint8_t kThFin = 0x01;
constexpr uint8_t kThSyn = 0x02;
constexpr uint8_t kThRst = 0x04;
constexpr uint8_t kThPsh = 0x08;
constexpr uint8_t kThAck = 0x10;
constexpr uint8_t kThUrg = 0x20;
constexpr uint8_t kThEce = 0x40;
constexpr uint8_t kThCwr = 0x80;

constexpr uint32_t kTcpHeaderLen = 20;
constexpr uint8_t kTcpMaxWscale = 14;
// Lower bound of the ack window (MAXACKWINDOW): max(sender's td_maxwin, this).
constexpr uint32_t kMaxAckWinConst = 66000;

// Packet class, numbered as the kernel's TCP_*_SET indices (stored in last_index).
enum Index : uint8_t {
  kSynSet = 0,
  kSynAckSet = 1,
  kFinSet = 2,
  kAckSet = 3,
  kRstSet = 4,
  kNoneSet = 5,
  kIndexMax = 6,
};

constexpr uint8_t sNO = static_cast<uint8_t>(TcpState::kNone);
constexpr uint8_t sSS = static_cast<uint8_t>(TcpState::kSynSent);
constexpr uint8_t sSR = static_cast<uint8_t>(TcpState::kSynRecv);
constexpr uint8_t sES = static_cast<uint8_t>(TcpState::kEstablished);
constexpr uint8_t sFW = static_cast<uint8_t>(TcpState::kFinWait);
constexpr uint8_t sCW = static_cast<uint8_t>(TcpState::kCloseWait);
constexpr uint8_t sLA = static_cast<uint8_t>(TcpState::kLastAck);
constexpr uint8_t sTW = static_cast<uint8_t>(TcpState::kTimeWait);
constexpr uint8_t sCL = static_cast<uint8_t>(TcpState::kClose);
constexpr uint8_t sS2 = static_cast<uint8_t>(TcpState::kSynSent2);
constexpr uint8_t sIV = static_cast<uint8_t>(TcpState::kMax);
constexpr uint8_t sIG = static_cast<uint8_t>(TcpState::kIgnore);
constexpr int kNumStates = 10;  // sNO .. sS2

// kTransitions[dir][index][old_state] -> new state (§4.5). Mirrors tcp_conntracks[][][].
// clang-format off
constexpr uint8_t kTransitions[2][kIndexMax][kNumStates] = {
  {
    // ORIGINAL direction (sent by the initiator).
    //        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
    /*syn*/ { sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2 },
    // sNO -> sSS: a new connection. sSS -> sSS: SYN retransmission. sSR..sLA -> sIG: our view may
    // be stale; let the SYN through and learn from the answer (§4.6 b). sTW/sCL -> sSS: re-open
    // (§4.6 a). sS2 -> sS2: SYN retransmitted during a simultaneous open.
    /*synack*/ { sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR },
    // Only a simultaneous open makes the initiator send a SYN/ACK: sSR stays (retransmission),
    // sS2 -> sSR. Everywhere else it is invalid; as a first packet it never starts an entry.
    /*fin*/ { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
    // sNO/sSS/sS2: no FIN before the handshake finished. sSR/sES -> sFW: first FIN.
    // sFW/sCW -> sLA: FINs both ways. sLA stays; sTW/sCL stay (retransmissions).
    /*ack*/ { sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV },
    // sNO -> sES: mid-stream pick-up (loose). sSS/sS2: the initiator cannot ACK before any
    // SYN/ACK. sSR -> sES: handshake done. sFW -> sCW: the FIN was acked. sLA -> sTW: last ACK.
    /*rst*/ { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
    // An RST never starts an entry; otherwise it closes (subject to the §4.6 g checks).
    /*none*/ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
    // No SYN/FIN/RST/ACK: never valid.
  },
  {
    // REPLY direction (sent by the responder).
    //        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
    /*syn*/ { sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2 },
    // sSS -> sS2: simultaneous open. sTW -> sSS: the old responder re-opens with roles swapped
    // (§4.6 a). Elsewhere the responder has no business sending a bare SYN.
    /*synack*/ { sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR },
    // sSS -> sSR: the normal answer. sS2 -> sSR: simultaneous open. From sSR on: a
    // retransmitted or re-syncing SYN/ACK, ignored (or used by the §4.6 b re-sync rule).
    /*fin*/ { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
    // As in the original direction.
    /*ack*/ { sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG },
    // sSS/sS2 -> sIG: half-open, maybe an RFC 5961 challenge ACK to our SYN. sSR stays sSR:
    // the responder's ACK does not complete the handshake (except simultaneous open, §4.6 f).
    /*rst*/ { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
    // As in the original direction.
    /*none*/ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
  },
};
// clang-format on

// Valid flag bytes after dropping PSH, ECE and CWR (§4.2 step 3). Mirrors tcp_valid_flags[].
constexpr bool ValidFlags(uint8_t flags) {
  switch (flags & static_cast<uint8_t>(~(kThPsh | kThEce | kThCwr))) {
    case kThSyn:
    case kThSyn | kThUrg:
    case kThSyn | kThAck:
    case kThRst:
    case kThRst | kThAck:
    case kThFin | kThAck:
    case kThFin | kThAck | kThUrg:
    case kThAck:
    case kThAck | kThUrg:
      return true;
    default:
      return false;
  }
}

inline uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Serial-number comparisons (RFC 1982 style, as the kernel's before()/after()).
inline bool Before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool After(uint32_t a, uint32_t b) { return Before(b, a); }

// The fields of one validated TCP header. `opts`/`opts_len` cover the options area, which lies
// inside the segment (checked by ParseHeader).
struct Segment {
  uint32_t seq;
  uint32_t ack_seq;
  uint32_t end;  // seq + payload + SYN + FIN (segment_seq_plus_len)
  uint16_t win;  // raw, unscaled
  uint8_t flags;
  uint8_t index;
  const uint8_t* opts;
  uint32_t opts_len;

  bool syn() const { return flags & kThSyn; }
  bool ack() const { return flags & kThAck; }
  bool rst() const { return flags & kThRst; }
};

// Mirrors get_conntrack_index() (§4.3).
uint8_t ClassOf(uint8_t flags) {
  if (flags & kThRst) return kRstSet;
  if (flags & kThSyn) return (flags & kThAck) ? kSynAckSet : kSynSet;
  if (flags & kThFin) return kFinSet;
  if (flags & kThAck) return kAckSet;
  return kNoneSet;
}

// Mirrors tcp_options() (§4.8): window scale and SACK-permitted into `state`.
void ParseOptions(const Segment& seg, TcpDirState* state) {
  if (seg.opts_len == 0) return;  // no options: keep what this direction had
  state->td_scale = 0;
  state->flags &= kTcpBeLiberal;
  const uint8_t* p = seg.opts;
  int32_t length = static_cast<int32_t>(seg.opts_len);
  while (length > 0) {
    uint8_t kind = *p++;
    if (kind == 0) return;  // EOL
    if (kind == 1) {        // NOP
      length--;
      continue;
    }
    if (length < 2) return;
    int32_t size = *p++;
    if (size < 2 || size > length) return;  // silly or partial option
    if (kind == 4 && size == 2) {
      state->flags |= kTcpSackPerm;
    } else if (kind == 3 && size == 3) {
      state->td_scale = *p > kTcpMaxWscale ? kTcpMaxWscale : *p;
      state->flags |= kTcpWindowScale;
    }
    p += size - 2;
    length -= size;
  }
}

// Mirrors tcp_sack() (§4.7 step 0): raises *sack to the highest right edge of the first
// well-formed SACK option.
void ScanSack(const Segment& seg, uint32_t* sack) {
  if (seg.opts_len == 0) return;
  const uint8_t* p = seg.opts;
  int32_t length = static_cast<int32_t>(seg.opts_len);
  // Fast path: nothing but NOP, NOP, Timestamp.
  if (length == 12 && p[0] == 1 && p[1] == 1 && p[2] == 8 && p[3] == 10) return;
  while (length > 0) {
    uint8_t kind = *p++;
    if (kind == 0) return;
    if (kind == 1) {
      length--;
      continue;
    }
    if (length < 2) return;
    int32_t size = *p++;
    if (size < 2 || size > length) return;
    if (kind == 5 && size >= 10 && (size - 2) % 8 == 0) {
      for (int32_t i = 0; i < size - 2; i += 8) {
        uint32_t right = Load32(p + i + 4);
        if (After(right, *sack)) *sack = right;
      }
      return;
    }
    p += size - 2;
    length -= size;
  }
}

// Timeout (seconds) per state, including the RETRANS and UNACK clamp slots (§4.11).
// Mirrors tcp_timeouts[] as set by the per-netns sysctls.
uint32_t TimeoutOf(const Config& cfg, uint8_t state) {
  switch (static_cast<TcpState>(state)) {
    case TcpState::kSynSent:
      return cfg.nf_conntrack_tcp_timeout_syn_sent;
    case TcpState::kSynRecv:
      return cfg.nf_conntrack_tcp_timeout_syn_recv;
    case TcpState::kEstablished:
      return cfg.nf_conntrack_tcp_timeout_established;
    case TcpState::kFinWait:
      return cfg.nf_conntrack_tcp_timeout_fin_wait;
    case TcpState::kCloseWait:
      return cfg.nf_conntrack_tcp_timeout_close_wait;
    case TcpState::kLastAck:
      return cfg.nf_conntrack_tcp_timeout_last_ack;
    case TcpState::kTimeWait:
      return cfg.nf_conntrack_tcp_timeout_time_wait;
    case TcpState::kClose:
      return cfg.nf_conntrack_tcp_timeout_close;
    case TcpState::kSynSent2:
      // No sysctl in the kernel: the tcp_timeouts[] default (2 minutes) stays.
      return 120;
    case TcpState::kRetrans:
      return cfg.nf_conntrack_tcp_timeout_max_retrans;
    case TcpState::kUnack:
      return cfg.nf_conntrack_tcp_timeout_unacknowledged;
    default:
      return 0;  // NONE (never committed), LISTEN/MAX/IGNORE
  }
}

// Mirrors tcp_can_early_drop(): the closing states.
bool InClosingState(uint8_t state) { return TcpClosing(static_cast<TcpState>(state)); }

// Mirrors nf_conntrack_tcp_established().
bool EstablishedAndAssured(const Conn& ct) { return ct.state == sES && ct.assured(); }

// Mirrors tcp_new() (§4.4). False: the packet cannot start an entry (INVALID).
bool InitNew(Conn& ct, const Segment& seg, const Config& cfg) {
  uint8_t new_state = kTransitions[0][seg.index][sNO];
  if (new_state >= sIV) return false;
  TcpData& tcp = ct.l4.tcp;
  if (new_state == sSS) {
    tcp = TcpData{};
    tcp.seen[0].td_end = seg.end;
    tcp.seen[0].td_maxwin = seg.win == 0 ? 1 : seg.win;
    tcp.seen[0].td_maxend = seg.end;
    ParseOptions(seg, &tcp.seen[0]);
  } else {
    if (cfg.nf_conntrack_tcp_loose == 0) return false;  // no mid-stream pick-up
    tcp = TcpData{};
    tcp.seen[0].td_end = seg.end;
    tcp.seen[0].td_maxwin = seg.win == 0 ? 1 : seg.win;
    tcp.seen[0].td_maxend = seg.end + tcp.seen[0].td_maxwin;
    // The options of the handshake are lost: assume SACK and do not enforce windows.
    tcp.seen[0].flags = tcp.seen[1].flags = kTcpSackPerm | kTcpBeLiberal;
  }
  ct.state = sNO;
  tcp.last_index = kNoneSet;
  return true;
}

// First sight of a direction's SYN (or a re-initialising one): mirrors tcp_init_sender().
void InitSender(TcpDirState& sender, TcpDirState& receiver, const Segment& seg, Dir dir) {
  sender.td_end = sender.td_maxend = seg.end;
  sender.td_maxwin = seg.win == 0 ? 1 : seg.win;
  ParseOptions(seg, &sender);
  // RFC 7323: scaling is on only when both sides offered it; decided on the responder's SYN.
  if (dir == Dir::kReply &&
      !((sender.flags & kTcpWindowScale) && (receiver.flags & kTcpWindowScale))) {
    sender.td_scale = 0;
    receiver.td_scale = 0;
  }
}

enum class WindowResult : uint8_t { kAccept, kIgnore, kInvalid };

// Mirrors tcp_in_window() (§4.7), including nf_tcp_log_invalid()'s liberal override.
WindowResult InWindow(Conn& ct, const Segment& seg, Dir dir, const Config& cfg) {
  TcpData& tcp = ct.l4.tcp;
  const int d = static_cast<int>(dir);
  TcpDirState& sender = tcp.seen[d];
  TcpDirState& receiver = tcp.seen[!d];

  uint32_t seq = seg.seq;
  uint32_t ack = seg.ack_seq;
  uint32_t sack = ack;
  uint32_t win = seg.win;
  uint32_t end = seg.end;

  if (receiver.flags & kTcpSackPerm) ScanSack(seg, &sack);

  if (sender.td_maxwin == 0) {
    // First packet seen from this side.
    if (seg.syn()) {
      InitSender(sender, receiver, seg, dir);
      if (!seg.ack()) return WindowResult::kAccept;  // reply SYN of a simultaneous open
    } else {
      // Mid-stream: the history is lost, use what this packet says.
      sender.td_end = end;
      uint32_t swin = win << sender.td_scale;
      sender.td_maxwin = swin == 0 ? 1 : swin;
      sender.td_maxend = end + sender.td_maxwin;
      if (receiver.td_maxwin == 0) {
        // Nothing seen the other way either: make III and IV pass until it is.
        receiver.td_end = receiver.td_maxend = sack;
      } else if (sack == receiver.td_end + 1) {
        // An answer to a keep-alive probe (which sits one below the peer's td_end).
        receiver.td_end++;
      }
    }
  } else if (seg.syn() && After(end, sender.td_end) && (ct.state == sSS || ct.state == sSR)) {
    // A SYN (or SYN/ACK) retransmitted with a higher sequence number re-initialises the sender.
    InitSender(sender, receiver, seg, dir);
    if (dir == Dir::kReply && !seg.ack()) return WindowResult::kAccept;
  }

  if (!seg.ack()) {
    // No ACK: pretend it acked everything seen.
    ack = sack = receiver.td_end;
  } else if (seg.rst() && ack == 0) {
    // RST+ACK with a zero ack field from broken stacks.
    ack = sack = receiver.td_end;
  }

  if (seg.rst() && seq == 0 && ct.state == sSS) {
    // RST answering a SYN.
    seq = end = sender.td_end;
  }

  const bool liberal = cfg.nf_conntrack_tcp_be_liberal || (sender.flags & kTcpBeLiberal);
  const uint32_t max_ack_win =
      sender.td_maxwin > kMaxAckWinConst ? sender.td_maxwin : kMaxAckWinConst;

  // I: seq <= sender.td_maxend.
  if (!Before(seq, sender.td_maxend + 1)) {
    uint32_t overshot = end - sender.td_maxend + 1;
    bool ack_ok = After(sack, receiver.td_end - max_ack_win - 1);
    bool in_recv_win =
        receiver.td_maxwin != 0 && After(end, sender.td_end - receiver.td_maxwin - 1);
    if (in_recv_win && ack_ok && overshot <= receiver.td_maxwin &&
        Before(sack, receiver.td_end + 1)) {
      // A sender overshooting the window a little: remember the data so that its ack does not
      // later fail II, but do not let this packet move anything else.
      sender.td_end = end;
      sender.flags |= kTcpDataUnacknowledged;
      return liberal ? WindowResult::kAccept : WindowResult::kIgnore;
    }
    return liberal ? WindowResult::kAccept : WindowResult::kInvalid;
  }
  // II: sack <= receiver.td_end (no ack of unseen data).
  if (!Before(sack, receiver.td_end + 1)) {
    return liberal ? WindowResult::kAccept : WindowResult::kInvalid;
  }
  // III: end >= sender.td_end - receiver.td_maxwin (not entirely old data).
  if (receiver.td_maxwin != 0 && !After(end, sender.td_end - receiver.td_maxwin - 1)) {
    return liberal ? WindowResult::kAccept : WindowResult::kIgnore;
  }
  // IV: sack >= receiver.td_end - MAXACKWINDOW (not an overly delayed ack).
  if (!After(sack, receiver.td_end - max_ack_win - 1)) {
    return liberal ? WindowResult::kAccept : WindowResult::kIgnore;
  }

  // In window: update both sides.
  if (!seg.syn()) win <<= sender.td_scale;
  uint32_t swin = win + (sack - ack);
  if (sender.td_maxwin < swin) sender.td_maxwin = swin;
  if (After(end, sender.td_end)) {
    sender.td_end = end;
    sender.flags |= kTcpDataUnacknowledged;
  }
  if (seg.ack()) {
    if (!(sender.flags & kTcpMaxackSet)) {
      sender.td_maxack = ack;
      sender.flags |= kTcpMaxackSet;
    } else if (After(ack, sender.td_maxack)) {
      sender.td_maxack = ack;
    }
  }
  if (receiver.td_maxwin != 0 && After(end, sender.td_maxend)) {
    receiver.td_maxwin += end - sender.td_maxend;
  }
  if (After(sack + win, receiver.td_maxend - 1)) {
    receiver.td_maxend = sack + win;
    if (win == 0) receiver.td_maxend++;
  }
  if (ack == receiver.td_end) receiver.flags &= static_cast<uint8_t>(~kTcpDataUnacknowledged);

  // Retransmission counting, pure ACKs and data only.
  if (seg.index == kAckSet) {
    if (tcp.last_dir == d && tcp.last_seq == seq && tcp.last_ack == ack && tcp.last_end == end &&
        tcp.last_win == seg.win) {
      tcp.retrans++;
    } else {
      tcp.last_dir = static_cast<uint8_t>(d);
      tcp.last_seq = seq;
      tcp.last_ack = ack;
      tcp.last_end = end;
      tcp.last_win = seg.win;
      tcp.retrans = 0;
    }
  }
  return WindowResult::kAccept;
}

// Mirrors nf_tcp_handle_invalid() (§4.10): two out-of-window FIN/RSTs from opposite directions
// on an assured entry shorten its life to the UNACK timeout.
void HandleInvalid(Conn& ct, const Segment& seg, Dir dir, TrackCtx& ctx) {
  if (!ct.assured() || (ct.status & kFixedTimeout)) return;
  if (seg.index != kRstSet && seg.index != kFinSet) return;
  TcpData& tcp = ct.l4.tcp;
  const uint8_t d = static_cast<uint8_t>(dir);
  if (tcp.last_dir != d && (tcp.last_index == kFinSet || tcp.last_index == kRstSet)) {
    Timestamp remaining = ct.expires - ctx.now;
    if (remaining < 0) remaining = 0;
    if (remaining < 120 * kNsPerSec) return;
    Timestamp unack =
        static_cast<Timestamp>(ctx.cfg->nf_conntrack_tcp_timeout_unacknowledged) * kNsPerSec;
    if (remaining > unack) {
      // Reported to the engine, and written here as well: the packet is INVALID, and an assured
      // entry is confirmed, so `expires` is the absolute expiry.
      ctx.set_expiry = true;
      ctx.expiry_ns = ctx.now + unack;
      ct.expires = ctx.expiry_ns;
    }
  } else {
    tcp.last_index = seg.index;
    tcp.last_dir = d;
  }
}

}  // namespace

L4Verdict TcpPacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx) {
  const Config& cfg = *ctx.cfg;

  // §4.2 pre-checks (tcp_error()).
  const uint32_t l4_len = pkt.l4_len();
  if (l4_len < kTcpHeaderLen) return L4Verdict::kInvalid;
  const uint8_t* th = pkt.l4();
  const uint32_t doff_bytes = static_cast<uint32_t>(th[12] >> 4) * 4;
  if (doff_bytes < kTcpHeaderLen || l4_len < doff_bytes) return L4Verdict::kInvalid;
  if (cfg.nf_conntrack_checksum && !VerifyL4Checksum(pkt, kProtoTcp, l4_len)) {
    return L4Verdict::kInvalid;
  }
  Segment seg;
  seg.flags = th[13];
  if (!ValidFlags(seg.flags)) return L4Verdict::kInvalid;
  seg.seq = Load32(th + 4);
  seg.ack_seq = Load32(th + 8);
  seg.win = Load16(th + 14);
  seg.end = seg.seq + (l4_len - doff_bytes) + ((seg.flags & kThSyn) ? 1 : 0) +
            ((seg.flags & kThFin) ? 1 : 0);
  seg.index = ClassOf(seg.flags);
  seg.opts = th + kTcpHeaderLen;
  seg.opts_len = doff_bytes - kTcpHeaderLen;

  if (!ct.confirmed() && !InitNew(ct, seg, cfg)) return L4Verdict::kInvalid;

  TcpData& tcp = ct.l4.tcp;
  const Dir dir = ctx.dir;
  const int d = static_cast<int>(dir);
  uint8_t old_state = ct.state < kNumStates ? ct.state : sNO;
  uint8_t new_state = kTransitions[d][seg.index][old_state];
  bool skip_window = false;

  switch (new_state) {
    case sSS:
      if (old_state < sTW) break;
      // §4.6 a: SYN on TIME_WAIT/CLOSE. A closed (FIN seen) or self-reset connection is
      // replaced by a fresh entry; anything else is treated as a possibly stale SYN.
      if (((tcp.seen[d].flags | tcp.seen[!d].flags) & kTcpCloseInit) ||
          (tcp.last_dir == d && tcp.last_index == kRstSet)) {
        return L4Verdict::kRepeat;
      }
      [[fallthrough]];
    case sIG:
      // §4.6 b. A SYN/ACK answering the SYN we let through earlier means both ends are in sync
      // and we are not: rebuild the handshake from the annotated SYN.
      if (seg.index == kSynAckSet && tcp.last_index == kSynSet && tcp.last_dir != d &&
          seg.ack_seq == tcp.last_end) {
        old_state = sSS;
        new_state = sSR;
        TcpDirState& syn_sender = tcp.seen[tcp.last_dir];
        syn_sender.td_end = syn_sender.td_maxend = tcp.last_end;
        syn_sender.td_maxwin = tcp.last_win == 0 ? 1 : tcp.last_win;
        syn_sender.td_scale = tcp.last_wscale;
        tcp.last_flags &= static_cast<uint8_t>(~kTcpExpChallengeAck);
        syn_sender.flags = tcp.last_flags;
        TcpDirState& me = tcp.seen[d];
        uint8_t liberal = me.flags & kTcpBeLiberal;
        me = TcpDirState{};
        me.flags = liberal;
        break;
      }
      // Annotate, so that a later answer (SYN/ACK, RST) can be recognised, and let it pass.
      tcp.last_index = seg.index;
      tcp.last_dir = static_cast<uint8_t>(d);
      tcp.last_seq = seg.seq;
      tcp.last_end = seg.end;
      tcp.last_win = seg.win;
      if (seg.index == kSynSet && dir == Dir::kOriginal) {
        TcpDirState opts{};
        tcp.last_flags = 0;
        tcp.last_wscale = 0;
        ParseOptions(seg, &opts);
        if (opts.flags & kTcpWindowScale) {
          tcp.last_flags |= kTcpWindowScale;
          tcp.last_wscale = opts.td_scale;
        }
        if (opts.flags & kTcpSackPerm) tcp.last_flags |= kTcpSackPerm;
        // In LAST_ACK the peer will likely answer with an RFC 5961 challenge ACK.
        if (old_state == sLA) tcp.last_flags |= kTcpExpChallengeAck;
      }
      // A reply ACK in SYN_SENT may be a challenge ACK; its ack helps validate our RST.
      if (old_state == sSS && seg.index == kAckSet && dir == Dir::kReply) {
        tcp.last_ack = seg.ack_seq;
      }
      return L4Verdict::kAccept;  // ignored: no state change, no refresh
    case sIV:
      return L4Verdict::kInvalid;
    case sTW:
      // §4.6 d: an RFC 5961 challenge ACK answering a SYN ignored in LAST_ACK is not the last
      // ACK.
      if (old_state == sLA && seg.index == kAckSet && tcp.last_dir != d &&
          tcp.last_index == kSynSet && (tcp.last_flags & kTcpExpChallengeAck)) {
        tcp.last_flags &= static_cast<uint8_t>(~kTcpExpChallengeAck);
        return L4Verdict::kAccept;
      }
      break;
    case sS2:
      // §4.6 e: the table alone cannot follow a simultaneous open.
      tcp.last_flags |= kTcpSimultaneousOpen;
      break;
    case sSR:
      // §4.6 f: the final ACK of a simultaneous open comes from the responder.
      if (dir == Dir::kReply && seg.index == kAckSet && (tcp.last_flags & kTcpSimultaneousOpen)) {
        new_state = sES;
      }
      break;
    case sCL: {
      if (seg.index != kRstSet) break;
      // §4.6 g. In a closing state the tuple may already be reused by a new connection, so the
      // sequence data is stale: accept the RST as it is.
      if (InClosingState(old_state)) {
        skip_window = true;
        break;
      }
      // td_maxack is unreliable right after a SYN we let through.
      if ((tcp.seen[!d].flags & kTcpMaxackSet) && tcp.last_index != kSynSet) {
        const uint32_t seq = seg.seq;
        const uint32_t peer_maxack = tcp.seen[!d].td_maxack;
        // seq 0 before establishment: most likely the answer to a SYN let through earlier.
        if (seq == 0 && !EstablishedAndAssured(ct)) break;
        if (Before(seq, peer_maxack) && !cfg.nf_conntrack_tcp_ignore_invalid_rst) {
          return L4Verdict::kInvalid;  // below what the peer already acked
        }
        if (!EstablishedAndAssured(ct) || seq == peer_maxack) break;
        // An RST right behind this side's own data ("RST train").
        if (tcp.last_index == kAckSet && tcp.last_dir == d && seq == tcp.last_end) break;
        // Not exact: keep the state so that a challenge ACK can still get through.
        new_state = old_state;
      }
      // An RST answering a SYN or ACK that was ignored / let through earlier.
      if (((ct.seen_reply() && tcp.last_index == kSynSet) ||
           (!ct.assured() && tcp.last_index == kAckSet)) &&
          seg.ack_seq == tcp.last_end) {
        skip_window = true;
        break;
      }
      // An RST answering the challenge ACK the responder sent to our SYN.
      if (tcp.last_index == kAckSet && tcp.last_dir == static_cast<uint8_t>(Dir::kReply) &&
          old_state == sSS && seg.seq == tcp.last_ack) {
        skip_window = true;
        break;
      }
      break;
    }
    default:
      break;
  }

  if (!skip_window) {
    switch (InWindow(ct, seg, dir, cfg)) {
      case WindowResult::kIgnore:
        return L4Verdict::kAccept;
      case WindowResult::kInvalid:
        HandleInvalid(ct, seg, dir, ctx);
        return L4Verdict::kInvalid;
      case WindowResult::kAccept:
        break;
    }
  }

  // §4.9 commit: the packet is in window (or exempt from the check).
  tcp.last_index = seg.index;
  tcp.last_dir = static_cast<uint8_t>(d);
  ct.state = new_state;
  if (old_state != new_state && new_state == sFW) tcp.seen[d].flags |= kTcpCloseInit;

  const uint32_t t_new = TimeoutOf(cfg, new_state);
  const uint32_t t_retrans = TimeoutOf(cfg, static_cast<uint8_t>(TcpState::kRetrans));
  const uint32_t t_unack = TimeoutOf(cfg, static_cast<uint8_t>(TcpState::kUnack));
  uint32_t timeout;
  if (tcp.retrans >= cfg.nf_conntrack_tcp_max_retrans && t_new > t_retrans) {
    timeout = t_retrans;
  } else if (seg.index == kRstSet) {
    timeout = TimeoutOf(cfg, sCL);
  } else if (((tcp.seen[0].flags | tcp.seen[1].flags) & kTcpDataUnacknowledged) &&
             t_new > t_unack) {
    timeout = t_unack;
  } else if (tcp.last_win == 0 && t_new > t_retrans) {
    timeout = t_retrans;
  } else {
    timeout = t_new;
  }

  if (!ct.seen_reply()) {
    if (seg.rst()) {
      // The only answer is an RST: not a connection worth keeping.
      ctx.kill = true;
      return L4Verdict::kAccept;
    }
    // A SYN retransmission must not extend the SYN_SENT timer (port reuse could keep the
    // entry alive forever).
    if (seg.index == kSynSet && old_state == sSS) return L4Verdict::kAccept;
    // Picked up mid-stream and unanswered: no long ESTABLISHED timeout.
    if (new_state == sES && timeout > t_unack) timeout = t_unack;
  } else if (!ct.assured() && (old_state == sSR || old_state == sES) && new_state == sES) {
    ct.status |= kAssured;
  }
  ctx.Refresh(timeout);
  return L4Verdict::kAccept;
}

}  // namespace ctrack
