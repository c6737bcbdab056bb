// The TCP tracker: header sanity checks, the state machine and window tracking.
//
// Mirrors nf_conntrack_tcp_packet(), tcp_error(), tcp_new(), tcp_in_window(),
// tcp_options(), tcp_sack(), nf_tcp_handle_invalid() and tcp_conntracks[][][]
// of net/netfilter/nf_conntrack_proto_tcp.c (v6.18). Each rule below names the
// kernel function (and, inside nf_conntrack_tcp_packet(), the case of its
// switch on the new state) that it mirrors.
//
// Everything this file reads from the packet lies inside the TCP header, whose
// full length (doff * 4) is checked against the segment length before any other
// field is used.

#include <ctrack/config.h>
#include <ctrack/packet.h>
#include <ctrack/tuple.h>

#include <array>
#include <cstdint>
#include <optional>

#include "core/conn.h"
#include "parse/bytes.h"
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

// Packet class, numbered as the kernel's TCP_*_SET indices (stored in
// last_index).
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

// kTransitions[dir][index][old_state] -> new state Mirrors
// tcp_conntracks[][][].
// clang-format off
constexpr uint8_t kTransitions[2][kIndexMax][kNumStates] = {
  {
    // ORIGINAL direction (sent by the initiator).
    //        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
    /*syn*/ { sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2 },
    // sNO -> sSS: a new connection. sSS -> sSS: SYN retransmission. sSR..sLA -> sIG: our view may
    // be stale; let the SYN through and learn from the answer (the IGNORE case). sTW/sCL -> sSS: re-open
    // (the SYN_SENT case). sS2 -> sS2: SYN retransmitted during a simultaneous open.
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
    // An RST never starts an entry; otherwise it closes (subject to the CLOSE case's checks).
    /*none*/ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
    // No SYN/FIN/RST/ACK: never valid.
  },
  {
    // REPLY direction (sent by the responder).
    //        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
    /*syn*/ { sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2 },
    // sSS -> sS2: simultaneous open. sTW -> sSS: the old responder re-opens with roles swapped
    // (the SYN_SENT case). Elsewhere the responder has no business sending a bare SYN.
    /*synack*/ { sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR },
    // sSS -> sSR: the normal answer. sS2 -> sSR: simultaneous open. From sSR on: a
    // retransmitted or re-syncing SYN/ACK, ignored (or used by the IGNORE case's re-sync rule).
    /*fin*/ { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
    // As in the original direction.
    /*ack*/ { sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG },
    // sSS/sS2 -> sIG: half-open, maybe an RFC 5961 challenge ACK to our SYN. sSR stays sSR:
    // the responder's ACK does not complete the handshake (except simultaneous open: the SYN_RECV case).
    /*rst*/ { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
    // As in the original direction.
    /*none*/ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
  },
};
// clang-format on

// Valid flag bytes after dropping PSH, ECE and CWR (tcp_error()). Mirrors
// tcp_valid_flags[].
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

// Serial-number comparisons (RFC 1982 style, as the kernel's before()/after()).
inline bool Before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool After(uint32_t a, uint32_t b) { return Before(b, a); }

// The fields of one validated TCP header. `opts`/`opts_len` cover the options
// area, which lies inside the segment (checked by ParseHeader).
struct Segment {
  uint32_t seq;
  uint32_t ack_seq;
  uint32_t end;  // seq + payload + SYN + FIN (segment_seq_plus_len)
  uint16_t win;  // raw, unscaled
  uint8_t flags;
  uint8_t index;
  const uint8_t *opts;
  uint32_t opts_len;

  bool syn() const { return flags & kThSyn; }
  bool ack() const { return flags & kThAck; }
  bool rst() const { return flags & kThRst; }
};

// Mirrors get_conntrack_index().
constexpr uint8_t ClassOf(uint8_t flags) {
  if (flags & kThRst) return kRstSet;
  if (flags & kThSyn) return (flags & kThAck) ? kSynAckSet : kSynSet;
  if (flags & kThFin) return kFinSet;
  if (flags & kThAck) return kAckSet;
  return kNoneSet;
}

// ValidFlags() and ClassOf() of every flag byte, computed at compile time: one load per segment
// instead of two chains of tests. Bit 7 is set for a valid byte; the low bits hold the index.
constexpr uint8_t kFlagValid = 0x80;
constexpr auto kFlagInfo = [] {
  std::array<uint8_t, 256> t{};
  for (unsigned f = 0; f < 256; ++f) {
    const auto b = static_cast<uint8_t>(f);
    t[f] = static_cast<uint8_t>((ValidFlags(b) ? kFlagValid : 0) | ClassOf(b));
  }
  return t;
}();
static_assert(kNoneSet < kFlagValid, "the index fits beside the valid bit");

// Mirrors tcp_options(): window scale and SACK-permitted into `state`.
void ParseOptions(const Segment &seg, TcpDirState *state) {
  if (seg.opts_len == 0) return;  // no options: keep what this direction had
  state->td_scale = 0;
  state->flags &= kTcpBeLiberal;
  const uint8_t *p = seg.opts;
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

// Mirrors tcp_sack(), called first by tcp_in_window(): raises *sack to the
// highest right edge of the first well-formed SACK option.
void ScanSack(const Segment &seg, uint32_t *sack) {
  if (seg.opts_len == 0) return;
  const uint8_t *p = seg.opts;
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

// Mirrors tcp_can_early_drop(): the closing states.
bool InClosingState(uint8_t state) { return TcpClosing(static_cast<TcpState>(state)); }

// Mirrors nf_conntrack_tcp_established().
bool EstablishedAndAssured(const Conn &ct) { return ct.state == sES && ct.assured(); }

// Mirrors tcp_new(). False: the packet cannot start an entry (INVALID).
bool InitNew(Conn &ct, const Segment &seg, const Config &cfg) {
  uint8_t new_state = kTransitions[0][seg.index][sNO];
  if (new_state >= sIV) return false;
  TcpData &tcp = ct.tcp();
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
    // The options of the handshake are lost: assume SACK and do not enforce
    // windows.
    tcp.seen[0].flags = tcp.seen[1].flags = kTcpSackPerm | kTcpBeLiberal;
  }
  ct.state = sNO;
  tcp.last_index = kNoneSet;
  return true;
}

// First sight of a direction's SYN (or a re-initialising one): mirrors
// tcp_init_sender().
void InitSender(TcpDirState &sender, TcpDirState &receiver, const Segment &seg, Dir dir) {
  sender.td_end = sender.td_maxend = seg.end;
  sender.td_maxwin = seg.win == 0 ? 1 : seg.win;
  ParseOptions(seg, &sender);
  // RFC 7323: scaling is on only when both sides offered it; decided on the
  // responder's SYN.
  if (dir == Dir::kReply &&
      !((sender.flags & kTcpWindowScale) && (receiver.flags & kTcpWindowScale))) {
    sender.td_scale = 0;
    receiver.td_scale = 0;
  }
}

enum class WindowResult : uint8_t { kAccept, kIgnore, kInvalid };

// The sequence values tcp_in_window() works on, adjusted for the packet's kind.
struct WindowView {
  uint32_t seq, ack, sack, win, end;
};

// tcp_in_window(), first part: a direction seen for the first time (or a SYN
// retransmitted with a higher sequence number in SYN_SENT/SYN_RECV) initialises
// its sender. True: the packet is accepted without the window checks (the reply
// SYN of a simultaneous open).
bool InitWindow(Conn &ct, const Segment &seg, Dir dir, WindowView &v) {
  TcpData &tcp = ct.tcp();
  const int d = static_cast<int>(dir);
  TcpDirState &sender = tcp.seen[d];
  TcpDirState &receiver = tcp.seen[!d];
  if (sender.td_maxwin == 0) {
    // First packet seen from this side.
    if (seg.syn()) {
      InitSender(sender, receiver, seg, dir);
      return !seg.ack();
    }
    // Mid-stream: the history is lost, use what this packet says.
    sender.td_end = v.end;
    uint32_t swin = v.win << sender.td_scale;
    sender.td_maxwin = swin == 0 ? 1 : swin;
    sender.td_maxend = v.end + sender.td_maxwin;
    if (receiver.td_maxwin == 0) {
      // Nothing seen the other way either: make III and IV pass until it is.
      receiver.td_end = receiver.td_maxend = v.sack;
    } else if (v.sack == receiver.td_end + 1) {
      // An answer to a keep-alive probe (which sits one below the peer's
      // td_end).
      receiver.td_end++;
    }
  } else if (seg.syn() && After(v.end, sender.td_end) && (ct.state == sSS || ct.state == sSR)) {
    // A SYN (or SYN/ACK) retransmitted with a higher sequence number
    // re-initialises the sender.
    InitSender(sender, receiver, seg, dir);
    return dir == Dir::kReply && !seg.ack();
  }
  return false;
}

// tcp_in_window(), the four bounds I-IV, with nf_tcp_log_invalid()'s liberal
// override (a liberal connection passes whatever the bounds say, but moves
// nothing). nullopt: inside all four, the window is to be updated.
std::optional<WindowResult> CheckWindow(TcpDirState &sender, const TcpDirState &receiver,
                                        const WindowView &v, bool liberal) {
  const uint32_t max_ack_win =
      sender.td_maxwin > kMaxAckWinConst ? sender.td_maxwin : kMaxAckWinConst;
  // I: seq <= sender.td_maxend.
  if (!Before(v.seq, sender.td_maxend + 1)) {
    uint32_t overshot = v.end - sender.td_maxend + 1;
    bool ack_ok = After(v.sack, receiver.td_end - max_ack_win - 1);
    bool in_recv_win =
        receiver.td_maxwin != 0 && After(v.end, sender.td_end - receiver.td_maxwin - 1);
    if (in_recv_win && ack_ok && overshot <= receiver.td_maxwin &&
        Before(v.sack, receiver.td_end + 1)) {
      // A sender overshooting the window a little: remember the data so that
      // its ack does not later fail II, but do not let this packet move
      // anything else.
      sender.td_end = v.end;
      sender.flags |= kTcpDataUnacknowledged;
      return liberal ? WindowResult::kAccept : WindowResult::kIgnore;
    }
    return liberal ? WindowResult::kAccept : WindowResult::kInvalid;
  }
  // II: sack <= receiver.td_end (no ack of unseen data).
  if (!Before(v.sack, receiver.td_end + 1)) {
    return liberal ? WindowResult::kAccept : WindowResult::kInvalid;
  }
  // III: end >= sender.td_end - receiver.td_maxwin (not entirely old data).
  if (receiver.td_maxwin != 0 && !After(v.end, sender.td_end - receiver.td_maxwin - 1)) {
    return liberal ? WindowResult::kAccept : WindowResult::kIgnore;
  }
  // IV: sack >= receiver.td_end - MAXACKWINDOW (not an overly delayed ack).
  if (!After(v.sack, receiver.td_end - max_ack_win - 1)) {
    return liberal ? WindowResult::kAccept : WindowResult::kIgnore;
  }
  return std::nullopt;
}

// tcp_in_window(), last part: an in-window packet moves both directions' edges
// and feeds the retransmission counter that nf_conntrack_tcp_packet() clamps
// the timeout with.
void UpdateWindow(TcpData &tcp, const Segment &seg, int d, const WindowView &v) {
  TcpDirState &sender = tcp.seen[d];
  TcpDirState &receiver = tcp.seen[!d];
  uint32_t win = v.win;
  if (!seg.syn()) win <<= sender.td_scale;
  uint32_t swin = win + (v.sack - v.ack);
  if (sender.td_maxwin < swin) sender.td_maxwin = swin;
  if (After(v.end, sender.td_end)) {
    sender.td_end = v.end;
    sender.flags |= kTcpDataUnacknowledged;
  }
  if (seg.ack()) {
    if (!(sender.flags & kTcpMaxackSet)) {
      sender.td_maxack = v.ack;
      sender.flags |= kTcpMaxackSet;
    } else if (After(v.ack, sender.td_maxack)) {
      sender.td_maxack = v.ack;
    }
  }
  if (receiver.td_maxwin != 0 && After(v.end, sender.td_maxend)) {
    receiver.td_maxwin += v.end - sender.td_maxend;
  }
  if (After(v.sack + win, receiver.td_maxend - 1)) {
    receiver.td_maxend = v.sack + win;
    if (win == 0) receiver.td_maxend++;
  }
  if (v.ack == receiver.td_end) receiver.flags &= static_cast<uint8_t>(~kTcpDataUnacknowledged);

  // Retransmission counting, pure ACKs and data only.
  if (seg.index == kAckSet) {
    if (tcp.last_dir == d && tcp.last_seq == v.seq && tcp.last_ack == v.ack &&
        tcp.last_end == v.end && tcp.last_win == seg.win) {
      tcp.retrans++;
    } else {
      tcp.last_dir = static_cast<uint8_t>(d);
      tcp.last_seq = v.seq;
      tcp.last_ack = v.ack;
      tcp.last_end = v.end;
      tcp.last_win = seg.win;
      tcp.retrans = 0;
    }
  }
}

// Mirrors tcp_in_window(), including nf_tcp_log_invalid()'s liberal override.
WindowResult InWindow(Conn &ct, const Segment &seg, Dir dir, const Config &cfg) {
  TcpData &tcp = ct.tcp();
  const int d = static_cast<int>(dir);
  TcpDirState &sender = tcp.seen[d];
  TcpDirState &receiver = tcp.seen[!d];

  WindowView v{seg.seq, seg.ack_seq, seg.ack_seq, seg.win, seg.end};
  if (receiver.flags & kTcpSackPerm) ScanSack(seg, &v.sack);
  if (InitWindow(ct, seg, dir, v)) return WindowResult::kAccept;

  if (!seg.ack()) {
    // No ACK: pretend it acked everything seen.
    v.ack = v.sack = receiver.td_end;
  } else if (seg.rst() && v.ack == 0) {
    // RST+ACK with a zero ack field from broken stacks.
    v.ack = v.sack = receiver.td_end;
  }
  if (seg.rst() && v.seq == 0 && ct.state == sSS) {
    // RST answering a SYN.
    v.seq = v.end = sender.td_end;
  }

  const bool liberal = cfg.nf_conntrack_tcp_be_liberal || (sender.flags & kTcpBeLiberal);
  if (std::optional<WindowResult> out = CheckWindow(sender, receiver, v, liberal)) return *out;
  UpdateWindow(tcp, seg, d, v);
  return WindowResult::kAccept;
}

// Mirrors nf_tcp_handle_invalid(): two out-of-window FIN/RSTs from opposite
// directions on an assured entry shorten its life to the UNACK timeout.
void HandleInvalid(Conn &ct, const Segment &seg, Dir dir, TrackCtx &ctx) {
  if (!ct.assured() || (ct.status & kFixedTimeout)) return;
  if (seg.index != kRstSet && seg.index != kFinSet) return;
  TcpData &tcp = ct.tcp();
  const uint8_t d = static_cast<uint8_t>(dir);
  if (tcp.last_dir != d && (tcp.last_index == kFinSet || tcp.last_index == kRstSet)) {
    Timestamp remaining = ct.expires - ctx.now;
    if (remaining < 0) remaining = 0;
    if (remaining < 120 * kNsPerSec) return;
    Timestamp unack =
        static_cast<Timestamp>(ctx.cfg->nf_conntrack_tcp_timeout_unacknowledged) * kNsPerSec;
    if (remaining > unack) {
      // Reported to the engine, and written here as well: the packet is
      // INVALID, and an assured entry is confirmed, so `expires` is the
      // absolute expiry.
      ctx.set_expiry = true;
      ctx.expiry_ns = ctx.now + unack;
      ct.expires = ctx.expiry_ns;
    }
  } else {
    tcp.last_index = seg.index;
    tcp.last_dir = d;
  }
}

// Mirrors tcp_error(): the header fits the segment, the checksum (when checked)
// and the flag combination are valid. Fills `seg` from the validated header.
// False: INVALID.
bool ReadSegment(const ParsedPacket &pkt, const Config &cfg, Segment *seg) {
  const uint32_t l4_len = pkt.l4_len();
  if (l4_len < kTcpHeaderLen) return false;
  const uint8_t *th = pkt.l4();
  const uint32_t doff_bytes = static_cast<uint32_t>(th[12] >> 4) * 4;
  if (doff_bytes < kTcpHeaderLen || l4_len < doff_bytes) return false;
  if (cfg.nf_conntrack_checksum && !VerifyL4Checksum(pkt, kProtoTcp, l4_len)) return false;
  seg->flags = th[13];
  const uint8_t info = kFlagInfo[seg->flags];
  if (!(info & kFlagValid)) return false;
  seg->seq = Load32(th + 4);
  seg->ack_seq = Load32(th + 8);
  seg->win = Load16(th + 14);
  seg->end = seg->seq + (l4_len - doff_bytes) + ((seg->flags & kThSyn) ? 1 : 0) +
             ((seg->flags & kThFin) ? 1 : 0);
  seg->index = static_cast<uint8_t>(info & ~kFlagValid);
  seg->opts = th + kTcpHeaderLen;
  seg->opts_len = doff_bytes - kTcpHeaderLen;
  return true;
}

// The transition a packet makes, as nf_conntrack_tcp_packet()'s switch on the
// new state may rewrite it.
struct Transition {
  uint8_t old_state;
  uint8_t new_state;
  bool skip_window = false;  // exempt from tcp_in_window()
};

// nf_conntrack_tcp_packet(), the IGNORE case (and SYN_SENT falling into it): a
// SYN/ACK answering the SYN let through earlier means both ends are in sync and
// we are not, so the handshake is rebuilt from the annotated SYN (true).
// Otherwise the packet is annotated, so that a later answer (SYN/ACK, RST) can
// be recognised, and let through unchanged (false).
bool Resync(TcpData &tcp, const Segment &seg, Dir dir, Transition *t) {
  const int d = static_cast<int>(dir);
  if (seg.index == kSynAckSet && tcp.last_index == kSynSet && tcp.last_dir != d &&
      seg.ack_seq == tcp.last_end) {
    t->old_state = sSS;
    t->new_state = sSR;
    TcpDirState &syn_sender = tcp.seen[tcp.last_dir];
    syn_sender.td_end = syn_sender.td_maxend = tcp.last_end;
    syn_sender.td_maxwin = tcp.last_win == 0 ? 1 : tcp.last_win;
    syn_sender.td_scale = tcp.last_wscale;
    tcp.last_flags &= static_cast<uint8_t>(~kTcpExpChallengeAck);
    syn_sender.flags = tcp.last_flags;
    TcpDirState &me = tcp.seen[d];
    uint8_t liberal = me.flags & kTcpBeLiberal;
    me = TcpDirState{};
    me.flags = liberal;
    return true;
  }
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
    if (t->old_state == sLA) tcp.last_flags |= kTcpExpChallengeAck;
  }
  // A reply ACK in SYN_SENT may be a challenge ACK; its ack helps validate our
  // RST.
  if (t->old_state == sSS && seg.index == kAckSet && dir == Dir::kReply) {
    tcp.last_ack = seg.ack_seq;
  }
  return false;
}

// nf_conntrack_tcp_packet(), the CLOSE case for an RST. False: INVALID (below
// what the peer already acked). May exempt the RST from the window check or
// keep the old state.
bool CheckRst(const Conn &ct, const Segment &seg, Dir dir, const Config &cfg, Transition *t) {
  const TcpData &tcp = ct.tcp();
  const int d = static_cast<int>(dir);
  // In a closing state the tuple may already be reused by a new connection, so
  // the sequence data is stale: accept the RST as it is.
  if (InClosingState(t->old_state)) {
    t->skip_window = true;
    return true;
  }
  // td_maxack is unreliable right after a SYN we let through.
  if ((tcp.seen[!d].flags & kTcpMaxackSet) && tcp.last_index != kSynSet) {
    const uint32_t seq = seg.seq;
    const uint32_t peer_maxack = tcp.seen[!d].td_maxack;
    // seq 0 before establishment: most likely the answer to a SYN let through
    // earlier.
    if (seq == 0 && !EstablishedAndAssured(ct)) return true;
    if (Before(seq, peer_maxack) && !cfg.nf_conntrack_tcp_ignore_invalid_rst) return false;
    if (!EstablishedAndAssured(ct) || seq == peer_maxack) return true;
    // An RST right behind this side's own data ("RST train").
    if (tcp.last_index == kAckSet && tcp.last_dir == d && seq == tcp.last_end) return true;
    // Not exact: keep the state so that a challenge ACK can still get through.
    t->new_state = t->old_state;
  }
  // An RST answering a SYN or ACK that was ignored / let through earlier. A SYN is answered
  // only from the other side: without that check (kernel commit bed6e04be8e6, in 6.18), a SYN
  // followed by the same side's RST with a stale ack would close any entry.
  if (((ct.seen_reply() && tcp.last_index == kSynSet && tcp.last_dir != d) ||
       (!ct.assured() && tcp.last_index == kAckSet)) &&
      seg.ack_seq == tcp.last_end) {
    t->skip_window = true;
    return true;
  }
  // An RST answering the challenge ACK the responder sent to our SYN.
  if (tcp.last_index == kAckSet && tcp.last_dir == static_cast<uint8_t>(Dir::kReply) &&
      t->old_state == sSS && seg.seq == tcp.last_ack) {
    t->skip_window = true;
  }
  return true;
}

// nf_conntrack_tcp_packet(), the switch on the new state before
// tcp_in_window(). Returns the verdict when the packet is decided here, nullopt
// when it goes on to the window check.
std::optional<L4Verdict> SwitchOnNewState(Conn &ct, const Segment &seg, Dir dir, const Config &cfg,
                                          Transition *t) {
  TcpData &tcp = ct.tcp();
  const int d = static_cast<int>(dir);
  switch (t->new_state) {
    case sSS:
      if (t->old_state < sTW) return std::nullopt;
      // SYN on TIME_WAIT/CLOSE. A closed (FIN seen) or self-reset connection is
      // replaced by a fresh entry; anything else is treated as a possibly stale
      // SYN.
      if (((tcp.seen[d].flags | tcp.seen[!d].flags) & kTcpCloseInit) ||
          (tcp.last_dir == d && tcp.last_index == kRstSet)) {
        return L4Verdict::kRepeat;
      }
      [[fallthrough]];
    case sIG:
      if (Resync(tcp, seg, dir, t)) return std::nullopt;
      return L4Verdict::kAccept;  // ignored: no state change, no refresh
    case sIV:
      return L4Verdict::kInvalid;
    case sTW:
      // An RFC 5961 challenge ACK answering a SYN ignored in LAST_ACK is not the
      // last ACK.
      if (t->old_state == sLA && seg.index == kAckSet && tcp.last_dir != d &&
          tcp.last_index == kSynSet && (tcp.last_flags & kTcpExpChallengeAck)) {
        tcp.last_flags &= static_cast<uint8_t>(~kTcpExpChallengeAck);
        return L4Verdict::kAccept;
      }
      return std::nullopt;
    case sS2:
      // The table alone cannot follow a simultaneous open.
      tcp.last_flags |= kTcpSimultaneousOpen;
      return std::nullopt;
    case sSR:
      // The final ACK of a simultaneous open comes from the responder.
      if (dir == Dir::kReply && seg.index == kAckSet && (tcp.last_flags & kTcpSimultaneousOpen)) {
        t->new_state = sES;
      }
      return std::nullopt;
    case sCL:
      if (seg.index == kRstSet && !CheckRst(ct, seg, dir, cfg, t)) return L4Verdict::kInvalid;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// The timeout nf_conntrack_tcp_packet() picks after an accepted packet: the new
// state's, clamped by the retransmission, RST, unacknowledged-data and
// zero-window rules.
uint32_t PickTimeout(const TcpData &tcp, const Segment &seg, uint8_t new_state, const Config &cfg) {
  const uint32_t t_new = TcpTimeout(cfg, new_state);
  const uint32_t t_retrans = TcpTimeout(cfg, static_cast<uint8_t>(TcpState::kRetrans));
  const uint32_t t_unack = TcpTimeout(cfg, static_cast<uint8_t>(TcpState::kUnack));
  if (tcp.retrans >= cfg.nf_conntrack_tcp_max_retrans && t_new > t_retrans) return t_retrans;
  if (seg.index == kRstSet) return TcpTimeout(cfg, sCL);
  if (((tcp.seen[0].flags | tcp.seen[1].flags) & kTcpDataUnacknowledged) && t_new > t_unack) {
    return t_unack;
  }
  if (tcp.last_win == 0 && t_new > t_retrans) return t_retrans;
  return t_new;
}

}  // namespace

// Mirrors tcp_timeouts[] as the per-netns sysctls set it, including the RETRANS
// and UNACK clamp slots that nf_conntrack_tcp_packet() applies.
uint32_t TcpTimeout(const Config &cfg, uint8_t state) {
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

L4Verdict TcpPacket(Conn &ct, const ParsedPacket &pkt, TrackCtx &ctx) {
  const Config &cfg = *ctx.cfg;
  Segment seg;
  if (!ReadSegment(pkt, cfg, &seg)) return L4Verdict::kInvalid;
  if (!ct.confirmed() && !InitNew(ct, seg, cfg)) return L4Verdict::kInvalid;

  TcpData &tcp = ct.tcp();
  const Dir dir = ctx.dir;
  const int d = static_cast<int>(dir);
  Transition t;
  t.old_state = ct.state < kNumStates ? ct.state : sNO;
  t.new_state = kTransitions[d][seg.index][t.old_state];
  if (std::optional<L4Verdict> v = SwitchOnNewState(ct, seg, dir, cfg, &t)) return *v;

  if (!t.skip_window) {
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

  // Commit: the packet is in window (or exempt from the check).
  tcp.last_index = seg.index;
  tcp.last_dir = static_cast<uint8_t>(d);
  ct.state = t.new_state;
  if (t.old_state != t.new_state && t.new_state == sFW) tcp.seen[d].flags |= kTcpCloseInit;
  uint32_t timeout = PickTimeout(tcp, seg, t.new_state, cfg);

  if (!ct.seen_reply()) {
    if (seg.rst()) {
      // The only answer is an RST: not a connection worth keeping.
      ctx.kill = true;
      return L4Verdict::kAccept;
    }
    // A SYN retransmission must not extend the SYN_SENT timer (port reuse could
    // keep the entry alive forever).
    if (seg.index == kSynSet && t.old_state == sSS) return L4Verdict::kAccept;
    // Picked up mid-stream and unanswered: no long ESTABLISHED timeout.
    const uint32_t t_unack = TcpTimeout(cfg, static_cast<uint8_t>(TcpState::kUnack));
    if (t.new_state == sES && timeout > t_unack) timeout = t_unack;
  } else if (!ct.assured() && (t.old_state == sSR || t.old_state == sES) && t.new_state == sES) {
    ct.status |= kAssured;
  }
  ctx.Refresh(timeout);
  return L4Verdict::kAccept;
}

}  // namespace ctrack
