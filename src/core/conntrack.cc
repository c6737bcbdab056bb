// The per-packet algorithm: link layer -> IP input checks -> defragmentation -> nf_conntrack_in
// -> the IP stack's forwarding checks -> confirmation, plus early drop and the garbage collector.
//
// Mirrors nf_conntrack_in(), resolve_normal_ct(), __nf_conntrack_alloc(), early_drop(),
// __nf_conntrack_confirm() and gc_worker(), net/netfilter/nf_conntrack_core.c (v6.18).
#include <ctrack/conntrack.h>
#include <ctrack/decode.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/policy.h"
#include "core/table.h"
#include "parse/decode_impl.h"
#include "parse/defrag.h"
#include "parse/ip_input.h"
#include "parse/l3.h"
#include "proto/icmp.h"
#include "proto/l4proto.h"

namespace ctrack {
namespace {

// GC pacing, from gc_worker(): a run stops after reaping more than 256 nodes (64000 / HZ at
// HZ=250) and resumes one jiffy later (at once when the cycle has lasted 60 s); a full cycle is
// followed by a pause of the running average of remaining lifetimes, clamped to [1 s, 60 s],
// less the cycle's duration (at least one jiffy of it). The average is kept as the kernel keeps
// it, in whole jiffies with truncating division, so that it moves (and sticks) as the kernel's
// does once the sample count is large.
constexpr uint32_t kGcMaxEvicts = 256;
constexpr Timestamp kJiffy = kNsPerSec / 250;
constexpr int64_t kHz = 250;
constexpr int64_t kGcMinIntervalJ = 1 * kHz;    // GC_SCAN_INTERVAL_MIN
constexpr int64_t kGcMaxIntervalJ = 60 * kHz;   // GC_SCAN_INTERVAL_MAX
constexpr int64_t kGcSampleClampJ = 300 * kHz;  // GC_SCAN_INTERVAL_CLAMP
constexpr Timestamp kGcMaxInterval = kGcMaxIntervalJ * kJiffy;
// The average starts each cycle at 60 s with the weight of 100 samples (GC_SCAN_INTERVAL_INIT,
// GC_SCAN_INITIAL_COUNT).
constexpr int64_t kGcStartAvgJ = kGcMaxIntervalJ;
constexpr int64_t kGcStartSamples = 100;
// When virtual time jumps far ahead (idle gaps in a capture), GC runs older than this before the
// packet are folded into one scan instead of being replayed one by one.
constexpr Timestamp kGcCatchUp = 2 * kGcMaxInterval;
// ProcessBatch prefetches the header of the frame this many ahead of the one it decodes.
constexpr size_t kFrameAhead = 4;
// ProcessBatch prefetches a frame's lines past its first once the frame is decoded (up to
// this many lines in all): verifying its checksum, in the group's tracking pass, reads every
// byte, and the decode read only the headers.
constexpr size_t kFrameLines = 24;
// Reaped entries are deleted in groups of about this many (Table::DeleteMany).
constexpr size_t kGcDeleteGroup = 16;

L4Verdict HandlePacket(Conn& ct, const ParsedPacket& pkt, TrackCtx& ctx) {
  switch (ct.orig.protonum) {
    case kProtoTcp:
      return TcpPacket(ct, pkt, ctx);
    case kProtoUdp:
      return UdpPacket(ct, pkt, ctx);
    case kProtoUdplite:
      return UdpLitePacket(ct, pkt, ctx);
    case kProtoIcmp:
      return IcmpPacket(ct, pkt, ctx);
    case kProtoIcmpv6:
      return Icmpv6Packet(ct, pkt, ctx);
    case kProtoGre:
      return GrePacket(ct, pkt, ctx);
    case kProtoSctp:
      return SctpPacket(ct, pkt, ctx);
    default:
      return GenericPacket(ct, pkt, ctx);
  }
}

// Whether a packet conntrack has classified reaches the last POSTROUTING hook on the oracle's
// host. `pkt` is the parsed datagram, or null when it could not be parsed (the oracle's rewrite
// then applies). The IP stack's verdict there does not depend on conntrack's: an invalid,
// untracked or related packet is forwarded or dropped in the same way.
inline bool ReachesConfirm(const uint8_t* data, uint32_t len, bool from_defrag,
                           const ParsedPacket* pkt) {
  const bool v4 = (data[0] >> 4) == 4;
  // Most packets, decided here without the calls below: an IPv4 header without options is never
  // stopped in ip_forward() (Ipv4Forwards), and a packet the oracle rewrites never has its own
  // addresses judged.
  if (pkt != nullptr && v4 && (data[0] & 0x0f) <= 5 &&
      OracleRewriteApplies(pkt->protonum, pkt->l4_len())) {
    return true;
  }
  if (pkt != nullptr) {
    const bool rewritten = v4 ? OracleRewriteApplies(pkt->protonum, pkt->l4_len())
                              : OracleRewriteAppliesIpv6(pkt->l3, pkt->len);
    if (!rewritten && !(v4 ? Ipv4OwnHeaderForwards(data) : Ipv6OwnHeaderForwards(data))) {
      return false;
    }
  }
  return v4 ? Ipv4Forwards(data, len) : Ipv6Forwards(len, from_defrag);
}

// Whether the defragmenter may act on a datagram that passed the receive checks. An IPv4
// datagram without MF or offset, and an IPv6 one without extension headers, pass it unchanged
// (ip_defrag() is not called; nf_ct_frag6_gather() finds no fragment header); every other IPv6
// datagram goes through its own walk to the fragment header (find_prev_fhdr()).
// A fragment (or the datagram its last fragment completed) that conntrack dropped (table
// full): seen from the hooks, as kernel-ct sees them, a fragment went into defragmentation and
// nothing came out, the same as a fragment still queued. The drop counter has moved all the same.
void LooksHeld(PacketResult* r) {
  r->verdict = Verdict::kNone;
  r->notes = static_cast<uint8_t>((r->notes & ~kNoteReassembled) | kNoteFragHeld);
}

bool MayBeFragment(const FrameFacts& f) {
  if (f.fragment || !f.parsed) return true;
  return f.ip_version == 6 && f.pkt.l4_off != 40;
}

uint8_t LinkNotes(const FrameFacts& f) {
  return static_cast<uint8_t>((f.vlan ? kNoteVlan : 0) | (f.truncated ? kNoteTruncated : 0));
}

}  // namespace

struct Conntrack::Impl {
  explicit Impl(const Config& c) : cfg(c), table(c), defrag(c), policy(MakeOverloadPolicy(c)) {
    if (cfg.nf_conntrack_acct) acct_on = true;
    table.set_delete_observer(policy.get());
    SetRefreshFloors();
  }

  // The shortest timeout each protocol's tracker can set under cfg (every ctx.Refresh() of
  // src/proto/ takes one of these settings; TCP's SYN_SENT2 has its fixed 120 s), by protocol
  // number, in ns: the "floor" of the table's bucket summaries. A refresh below it would be a
  // tracker bug, and ApplyAccepted() still tells the table (Table::ExpiryLowered).
  void SetRefreshFloors();
  Timestamp refresh_floor[256];
  // Bucket summaries (Table, "Bucket summaries"): the bound an entry gives its buckets now. A
  // packet may come up to kSummarySlack before the latest one seen (captures from several queues
  // are out of order by that much) without a reset, so a bound counts from now - kSummarySlack.
  static constexpr Timestamp kSummarySlack = kNsPerSec;
  Timestamp SummaryBound(const Conn& ct, Timestamp now) const {
    return std::min(ct.expires, now - kSummarySlack + refresh_floor[ct.orig.protonum]);
  }
  // Before every refresh and every scan while the table keeps summaries. Invariant: since the
  // last reset, no packet came more than kSummarySlack before the latest one (summary_clock), so
  // a bound computed at any of them is below what any later refresh sets. A packet further back
  // sets every bucket back to unknown and starts over from its own time.
  void SummaryClock(Timestamp now) {
    if (!table.summarised()) return;
    if (now < summary_clock - kSummarySlack) {
      table.ResetSummaries();
      summary_clock = now;
    } else if (now > summary_clock) {
      summary_clock = now;
    }
  }
  // The entry's expiry may have gone below the bound its buckets hold for it.
  void CheckSummaryBound(uint32_t idx, const Conn& ct, Timestamp now) {
    if (table.summarised() && ct.confirmed() &&
        ct.expires < now + refresh_floor[ct.orig.protonum]) {
      table.ExpiryLowered(idx);
    }
  }
  Timestamp summary_clock = std::numeric_limits<Timestamp>::min();

  Config cfg;
  Table table;
  Defrag defrag;
  std::unique_ptr<OverloadPolicy> policy;  // null: the kernel's behaviour
  Stats stats;
  EngineCounters ctr;
  uint32_t next_id = 0;
  bool acct_on = false;
  std::vector<ConnCounters> acct;  // indexed by entry; sized on demand when acct_on
  std::vector<uint8_t> has_acct;   // entry was created with accounting

  // GC state (gc_worker).
  bool gc_started = false;
  Timestamp gc_next_run = 0;
  uint32_t gc_next_bucket = 0;
  Timestamp gc_cycle_start = 0;
  int64_t gc_avg_j = kGcStartAvgJ;  // jiffies
  int64_t gc_samples = kGcStartSamples;
  bool gc_early_drop_wanted = false;
  // Reused by early drop and the GC so that a flood allocates nothing per packet.
  std::vector<uint32_t> scratch_a, scratch_b;

  // The prologue of every entry point, for every frame (IP or not): count it, then let the GC
  // catch up with the packet's clock (the kernel's gc_worker() runs on its own timer; here virtual
  // time advances only with packets).
  void Begin(Timestamp now) {
    ++ctr.packets;
    GcCatchUp(now);
  }
  // From the IP receive checks on, for a frame that carries IP.
  PacketResult ProcessL3(const FrameFacts& f, Timestamp now, uint16_t zone, uint8_t notes);
  // nf_conntrack_in() for one whole datagram (`data`, `len`); `pkt` is its parse, or null when
  // it could not be parsed.
  PacketResult ConntrackIn(const uint8_t* data, uint32_t len, const ParsedPacket* pkt,
                           Timestamp now, uint16_t zone, uint8_t notes);
  // resolve_normal_ct() and the tracker, for a packet whose tuple (hashed to `hash`) is known;
  // `fwd`: the IP stack lets the packet reach the confirm (a new entry is inserted only then);
  // `notes`: the result's notes so far. The result is built in place at `r`, where the caller
  // keeps it: a result returned by value had its byte fields stored one by one and was then
  // copied out with wide loads, which cannot take their data from those stores and stalled.
  // `probe`: the batch pipeline's probe for this tuple, or null (Table::FindProbed).
  void Resolve(const ParsedPacket& pkt, const Tuple& tuple, uint64_t hash, Timestamp now,
               uint8_t notes, bool fwd, PacketResult* r, const Table::Probe* probe = nullptr);
  // Resolve's steps, split as resolve_normal_ct() / nf_conntrack_in() / nf_conntrack_confirm()
  // split them. AllocateNew: a fresh unconfirmed entry for `tuple`, making room by early drop
  // (false: the packet is refused and `r` says why). Refuse: the tracker said invalid or drop.
  // ApplyAccepted: the tracker accepted the packet (timeout, counters, SEEN_REPLY). Confirm: a
  // killed entry goes, a fresh one is inserted if the packet reaches the confirm, and a zero
  // timeout reaps it at once.
  bool AllocateNew(const Tuple& tuple, Timestamp now, PacketResult* r, uint32_t* idx);
  void Refuse(uint32_t idx, bool fresh, bool drop, const TrackCtx& ctx, PacketResult* r);
  [[gnu::always_inline]] void ApplyAccepted(uint32_t idx, const TrackCtx& ctx, uint32_t len,
                                            PacketResult* r);
  [[gnu::always_inline]] void Confirm(uint32_t idx, uint64_t hash, bool fresh, const TrackCtx& ctx,
                                      uint32_t len, PacketResult* r);
  // The count goes up for a new entry; over max, early drop (or the policy) must make room.
  // False: no room, the count is back where it was.
  bool MakeRoom(const Tuple& t, Timestamp now, PacketResult* r);
  // Zeroed counters for a new entry when accounting is on (else null, and none are kept).
  ConnCounters* StartAccounting(uint32_t idx);
  void StartGc(Timestamp now);
  // Batch stage 1: the frame's decode (unless the caller decoded it) and, for packets that take
  // the common path (IPv4 not fragmented, IPv6 without extension headers; not an ICMP error
  // candidate), the work up to the lookup. Reads the frame only.
  struct Prepared {
    const FrameFacts* f;  // `own`, or the caller's decode
    FrameFacts own;
    Tuple tuple;
    uint64_t hash;
    bool fwd;
    bool fast;
  };
  [[gnu::always_inline]] inline void Prepare(uint32_t linktype, const Frame& f, uint16_t zone,
                                             Prepared* p) const;
  void PrefetchNew(const Prepared& p) const {
    Tuple reply;
    if (InvertTuple(p.tuple, &reply)) table.PrefetchNew(p.hash, table.Hash(reply));
  }
  [[gnu::always_inline]] inline void PrepareDecoded(uint16_t zone, Prepared* p) const;
  // Process() for one frame: every entry point's way in once the frame is decoded.
  PacketResult ProcessFacts(const FrameFacts& f, Timestamp now, uint16_t zone) {
    Begin(now);
    if (f.ip_version == 0) {
      ++ctr.not_ip;
      PacketResult r;
      r.notes = LinkNotes(f);
      return r;
    }
    return ProcessL3(f, now, zone, LinkNotes(f));
  }
  // The batch pipeline (see Conntrack::ProcessBatch) over `count` packets; prepare(i, p) fills
  // stage 1 for packet i and ts(i) gives its time.
  template <typename PrepareFn, typename TimeFn>
  void RunBatch(size_t count, const PrepareFn& prepare, const TimeFn& ts,
                std::span<PacketResult> out, uint16_t zone);
  // early_drop(): scans kEvictionRange buckets from `start`.
  bool EarlyDrop(uint32_t start, Timestamp now, PacketResult* r);
  // The entries of bucket b that have expired into `expired`, and, if `victims` is not null,
  // the live ones early drop may evict into it; each entry once (both its nodes may be in b).
  void ClassifyBucket(uint32_t b, Timestamp now, std::vector<uint32_t>* expired,
                      std::vector<uint32_t>* victims);
  // Deletes the expired entries of bucket b, noted in r as reaped by this packet; returns how
  // many.
  uint64_t ReapExpiredInBucket(uint32_t b, Timestamp now, PacketResult* r);
  // True when bucket b holds no expired entry and, with `victims_too`, none early drop may evict:
  // what a bucket that Table::BucketFresh() (BucketQuiet()) passes over must satisfy (checked in
  // debug builds).
  bool BucketHoldsNothingToTake(uint32_t b, Timestamp now, bool victims_too) const;
  bool PolicyEvict(Timestamp now, PacketResult* r) {
    uint32_t victim = policy->PickVictim(table, now);
    if (victim == OverloadPolicy::kNoVictim) return false;
    DeleteFor(victim, DestroyReason::kEarlyDrop, r);
    ++stats.early_drop;
    return true;
  }
  void GcRun(Timestamp at);
  // Adds the ctrack_filler_entries samples to the running average of a new GC cycle.
  void FoldFillerSamples();
  void GcCatchUp(Timestamp now);
  void NoteExpired(uint64_t reaped, uint32_t first_id, PacketResult* r) {
    if (reaped == 0) return;
    ctr.expired += reaped;
    r->notes |= kNoteDestroyed;
    if (r->destroyed == kNoConn) {
      r->destroyed = first_id;
      r->destroyed_reason = DestroyReason::kExpired;
    }
  }
  // Deletes an entry on behalf of the packet being processed and notes it in the result.
  void DeleteFor(uint32_t idx, DestroyReason why, PacketResult* r) {
    if (r->destroyed == kNoConn) {
      r->destroyed = table.at(idx).id;
      r->destroyed_reason = why;
    }
    r->notes |= kNoteDestroyed;
    table.Delete(idx);
  }
  void Account(uint32_t idx, Dir dir, uint32_t len) {
    if (idx >= has_acct.size() || !has_acct[idx]) return;
    ConnCounters& c = acct[idx];
    c.packets[static_cast<int>(dir)] += 1;
    c.bytes[static_cast<int>(dir)] += len;
  }
  void FillInfo(uint32_t idx, Timestamp now, ConnInfo* out) const;
};

Conntrack::Conntrack(const Config& cfg) : impl_(std::make_unique<Impl>(cfg)) {}
Conntrack::~Conntrack() = default;

const Config& Conntrack::config() const { return impl_->cfg; }
uint32_t Conntrack::count() const { return impl_->table.local_count(); }
void Conntrack::ShareCountForShards(CountPool* pool) { impl_->table.ShareCount(pool); }
const Stats& Conntrack::stats() const { return impl_->stats; }
const EngineCounters& Conntrack::counters() const { return impl_->ctr; }
void Conntrack::SetConstantHashForTest(bool on) { impl_->table.SetConstantHashForTest(on); }
size_t Conntrack::memory_bytes() const {
  return impl_->table.memory_bytes() + impl_->acct.capacity() * sizeof(ConnCounters) +
         impl_->has_acct.capacity();
}

PacketResult Conntrack::ProcessFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen,
                                     uint32_t wirelen, Timestamp now, uint16_t zone) {
  return Process(DecodeFrame(linktype, data, caplen, wirelen), now, zone);
}

PacketResult Conntrack::ProcessIp(const uint8_t* data, uint32_t len, Timestamp now, uint16_t zone) {
  return Process(DecodeIp(data, len), now, zone);
}

PacketResult Conntrack::Process(const FrameFacts& f, Timestamp now, uint16_t zone) {
  return impl_->ProcessFacts(f, now, zone);
}

void Conntrack::Impl::Prepare(uint32_t linktype, const Frame& fr, uint16_t zone,
                              Prepared* p) const {
  DecodeFrameInline(linktype, fr.data, fr.caplen, fr.wirelen, &p->own);
  p->f = &p->own;
  PrepareDecoded(zone, p);
}

void Conntrack::Impl::PrepareDecoded(uint16_t zone, Prepared* p) const {
  p->fast = false;
  const FrameFacts& f = *p->f;
  // Fragments go through the defragmenter and ICMP through the error handler: slow path.
  if (!f.ip_ok || MayBeFragment(f) || IcmpFamily(f.pkt)) return;
  p->fwd = ReachesConfirm(f.l3, f.ip_len, false, &f.pkt);
  if (!GetTuple(f.pkt, zone, &p->tuple)) return;
  p->hash = table.Hash(p->tuple);
  p->fast = true;
}

void Conntrack::ProcessBatch(uint32_t linktype, std::span<const Frame> frames,
                             std::span<PacketResult> out, uint16_t zone) {
  Impl& m = *impl_;
  m.RunBatch(
      frames.size(),
      [&](size_t i, Impl::Prepared* p) {
        // Frames a few ahead: their headers are usually cold (a capture in memory, or a ring
        // the NIC wrote), and the decode of each starts with a load from them.
        if (i + kFrameAhead < frames.size()) PrefetchLine(frames[i + kFrameAhead].data);
        if (i + 2 * kFrameAhead < frames.size()) PrefetchLine(&frames[i + 2 * kFrameAhead]);
        m.Prepare(linktype, frames[i], zone, p);
        PrefetchRestOf(frames[i].data, frames[i].caplen, kFrameLines);
      },
      [&](size_t i) { return frames[i].ts; }, out, zone);
}

void Conntrack::ProcessBatch(std::span<const DecodedFrame> frames, std::span<PacketResult> out,
                             uint16_t zone) {
  Impl& m = *impl_;
  m.RunBatch(
      frames.size(),
      [&](size_t i, Impl::Prepared* p) {
        // As above: the decode was done elsewhere, often on another core, and the bytes it points
        // at are as cold as the decode.
        if (i + kFrameAhead < frames.size()) PrefetchLine(frames[i + kFrameAhead].facts.l3);
        if (i + 2 * kFrameAhead < frames.size()) PrefetchLine(&frames[i + 2 * kFrameAhead]);
        p->f = &frames[i].facts;
        m.PrepareDecoded(zone, p);
      },
      [&](size_t i) { return frames[i].ts; }, out, zone);
}

template <typename PrepareFn, typename TimeFn>
void Conntrack::Impl::RunBatch(size_t count, const PrepareFn& prepare, const TimeFn& ts,
                               std::span<PacketResult> out, uint16_t zone) {
  // Passes over a group so that memory latency overlaps: decode and hash every packet and
  // prefetch the line its lookup starts at (chain head or index group, Table::PrefetchProbe);
  // read those and prefetch the entry whose tag matches, or the next link; follow the links or
  // groups to the entry, one step a pass (and, for a likely new connection, prefetch what
  // confirmation will read and write: Table::PrefetchNew); then track in order. The earlier
  // passes only read; all state changes happen in the last, in packet order, so the results are
  // exactly those of calling Process() on each frame. A group is a whole default batch of 32
  // (groups of 16 cost 2-5 % more per packet in lookup1m, w1 and new in alternating runs).
  constexpr size_t kGroup = 32;
  constexpr int kProbeSteps = 7;
  Prepared prep[kGroup];
  Table::Probe probe[kGroup];
  for (size_t base = 0; base < count; base += kGroup) {
    size_t n = std::min(kGroup, count - base);
    for (size_t i = 0; i < n; ++i) {
      prepare(base + i, &prep[i]);
      if (prep[i].fast) table.PrefetchProbe(prep[i].hash);
    }
    for (size_t i = 0; i < n; ++i) {
      if (prep[i].fast) {
        table.ProbeHead(prep[i].hash, ConnHasExt(prep[i].tuple.protonum), &probe[i]);
      }
    }
    // Chains walked one node a pass, every unfinished probe's next miss in flight at once. The
    // passes stop when no probe goes on, or after kProbeSteps; a probe still unfinished then is
    // left to the lookup (chains that long are rare where the chains serve the lookups).
    bool more = true;
    for (int step = 0; step < kProbeSteps && more; ++step) {
      more = false;
      for (size_t i = 0; i < n; ++i) {
        if (prep[i].fast && probe[i].more) {
          table.ProbeNext(prep[i].hash, &probe[i]);
          more |= probe[i].more;
        }
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (prep[i].fast && probe[i].absent) PrefetchNew(prep[i]);
    }
    for (size_t i = 0; i < n; ++i) {
      const Timestamp t = ts(base + i);
      const FrameFacts& f = *prep[i].f;
      if (!prep[i].fast) {
        out[base + i] = ProcessFacts(f, t, zone);
        continue;
      }
      Begin(t);
      defrag.Tick(t);  // what defrag.Process() does first on the slow path
      Resolve(f.pkt, prep[i].tuple, prep[i].hash, t, LinkNotes(f), prep[i].fwd, &out[base + i],
              &probe[i]);
    }
  }
}

PacketResult Conntrack::Impl::ProcessL3(const FrameFacts& f, Timestamp now, uint16_t zone,
                                        uint8_t notes) {
  PacketResult r;
  r.notes = notes;
  if (!f.ip_ok) {
    ++ctr.ip_dropped;
    return r;
  }
  const ParsedPacket* pkt = f.parsed ? &f.pkt : nullptr;
  if (!MayBeFragment(f)) {
    defrag.Tick(now);  // the queue timers run for every datagram
    return ConntrackIn(f.l3, f.ip_len, pkt, now, zone, notes);
  }
  switch (defrag.Process(f.l3, f.ip_len, zone, now, f.l3_caplen)) {
    case DefragStatus::kNotFragment:
      return ConntrackIn(f.l3, f.ip_len, pkt, now, zone, notes);
    case DefragStatus::kHeld:
      ++ctr.frag_held;
      r.notes |= kNoteFragHeld;
      return r;
    case DefragStatus::kDropped:
      ++ctr.frag_dropped;
      r.notes |= kNoteFragHeld;
      return r;
    case DefragStatus::kCutFragmentHeader:
      ++ctr.frag_dropped;
      r.verdict = Verdict::kDrop;
      r.forwarded = false;
      return r;
    case DefragStatus::kPassedFragment: {
      PacketResult done = ConntrackIn(f.l3, f.ip_len, pkt, now, zone, notes);
      if (done.verdict == Verdict::kDrop) LooksHeld(&done);
      return done;
    }
    case DefragStatus::kComplete: {
      ++ctr.frag_reassembled;
      // A new datagram (the first fragment's header, rewritten): parsed anew.
      ParsedPacket whole;
      const bool parsed = ParseL3(defrag.datagram(), defrag.datagram_len(), &whole) == L3Parse::kOk;
      PacketResult done =
          ConntrackIn(defrag.datagram(), defrag.datagram_len(), parsed ? &whole : nullptr, now,
                      zone, notes | kNoteReassembled);
      if (done.verdict == Verdict::kDrop) LooksHeld(&done);
      return done;
    }
  }
  return r;
}

PacketResult Conntrack::Impl::ConntrackIn(const uint8_t* data, uint32_t len,
                                          const ParsedPacket* parsed, Timestamp now, uint16_t zone,
                                          uint8_t notes) {
  PacketResult r;
  r.notes = notes;
  const bool fwd = ReachesConfirm(data, len, (notes & kNoteReassembled) != 0, parsed);
  r.forwarded = fwd;
  if (parsed == nullptr) {
    ++stats.invalid;
    r.verdict = Verdict::kInvalid;
    return r;
  }
  const ParsedPacket& pkt = *parsed;

  if (IcmpFamily(pkt)) {
    IcmpErrorResult er =
        pkt.l3num == kAfInet ? IcmpError(pkt, zone, cfg) : Icmpv6Error(pkt, zone, cfg);
    switch (er.action) {
      case IcmpErrorAction::kNotError:
        break;
      case IcmpErrorAction::kError:
        ++stats.error;
        r.verdict = Verdict::kInvalid;
        return r;
      case IcmpErrorAction::kUntracked:
        r.verdict = Verdict::kUntracked;
        return r;
      case IcmpErrorAction::kLookup: {
        uint64_t reaped = 0;
        uint32_t first = kNoConn;
        NodeRef n = table.Find(er.lookup, now, &reaped, &first);
        NoteExpired(reaped, first, &r);
        // The outer destination must be the destination of the tuple that matched, which is the
        // looked-up tuple itself.
        const uint8_t* outer_dst = pkt.l3num == kAfInet ? pkt.l3 + 16 : pkt.l3 + 24;
        size_t alen = pkt.l3num == kAfInet ? 4 : 16;
        if (n == kNil || std::memcmp(outer_dst, er.lookup.dst, alen) != 0) {
          ++stats.error;
          r.verdict = Verdict::kInvalid;
          return r;
        }
        r.verdict = Verdict::kRelated;
        r.dir = NodeDir(n);
        r.conn = NodeIndex(n);
        r.entry = table.at(r.conn).id;
        return r;
      }
    }
  }

  Tuple tuple;
  if (!GetTuple(pkt, zone, &tuple)) {
    ++stats.invalid;
    r.verdict = Verdict::kInvalid;
    return r;
  }
  Resolve(pkt, tuple, table.Hash(tuple), now, notes, fwd, &r);
  return r;
}

void Conntrack::Impl::Resolve(const ParsedPacket& pkt, const Tuple& tuple, uint64_t hash,
                              Timestamp now, uint8_t notes, bool fwd, PacketResult* r,
                              const Table::Probe* probe) {
  *r = PacketResult{};
  r->notes = notes;
  r->forwarded = fwd;
  SummaryClock(now);
  for (int attempt = 0; attempt < 2; ++attempt) {
    uint64_t reaped = 0;
    uint32_t first = kNoConn;
    // A second attempt follows a deletion, so the probe would be stale anyway.
    NodeRef n = probe != nullptr && attempt == 0
                    ? table.FindProbed(hash, tuple, *probe, now, &reaped, &first)
                    : table.FindHashed(hash, tuple, now, &reaped, &first);
    NoteExpired(reaped, first, r);
    uint32_t idx;
    Dir dir;
    CtInfo info;
    const bool fresh = n == kNil;
    if (fresh) {
      if (!AllocateNew(tuple, now, r, &idx)) return;
      dir = Dir::kOriginal;
      info = CtInfo::kNew;
    } else {
      idx = NodeIndex(n);
      dir = NodeDir(n);
      info = dir == Dir::kReply
                 ? CtInfo::kEstablishedReply
                 : (table.at(idx).seen_reply() ? CtInfo::kEstablished : CtInfo::kNew);
    }

    Conn& ct = table.at(idx);
    TrackCtx ctx;
    ctx.cfg = &cfg;
    ctx.now = now;
    ctx.dir = dir;
    ctx.ctinfo = info;
    const L4Verdict v = HandlePacket(ct, pkt, ctx);
    if (v == L4Verdict::kRepeat) {
      // TCP re-open: the old entry goes and the packet is classified again on a fresh one.
      DeleteFor(idx, DestroyReason::kReplaced, r);
      ++ctr.deleted_other;
      continue;
    }
    if (v == L4Verdict::kInvalid || v == L4Verdict::kDrop) {
      Refuse(idx, fresh, v == L4Verdict::kDrop, ctx, r);
      return;
    }
    ApplyAccepted(idx, ctx, pkt.len, r);
    Confirm(idx, hash, fresh, ctx, pkt.len, r);
    return;
  }
  // A second re-open in one packet cannot happen: the fresh entry is new.
  ++stats.invalid;
  r->verdict = Verdict::kInvalid;
}

bool Conntrack::Impl::AllocateNew(const Tuple& tuple, Timestamp now, PacketResult* r,
                                  uint32_t* idx_out) {
  Tuple reply;
  if (!InvertTuple(tuple, &reply)) {
    ++stats.invalid;
    r->verdict = Verdict::kInvalid;
    return false;
  }
  if (policy && !policy->Admit(tuple)) {
    ++stats.drop;
    r->verdict = Verdict::kDrop;
    r->forwarded = false;
    return false;
  }
  if (!MakeRoom(tuple, now, r)) {
    ++stats.drop;
    gc_early_drop_wanted = true;
    r->verdict = Verdict::kDrop;
    r->forwarded = false;
    return false;
  }
  const uint32_t idx = table.AllocEntry(tuple.protonum);
  Conn& ct = table.at(idx);
  ct.orig = tuple;
  ct.expires = now;
  StartAccounting(idx);
  *idx_out = idx;
  return true;
}

void Conntrack::Impl::SetRefreshFloors() {
  auto ns = [](uint32_t s) { return static_cast<Timestamp>(s) * kNsPerSec; };
  const Config& c = cfg;
  const Timestamp generic = ns(c.nf_conntrack_generic_timeout);
  for (Timestamp& f : refresh_floor) f = generic;
  refresh_floor[kProtoTcp] = ns(
      std::min({c.nf_conntrack_tcp_timeout_syn_sent, c.nf_conntrack_tcp_timeout_syn_recv,
                c.nf_conntrack_tcp_timeout_established, c.nf_conntrack_tcp_timeout_fin_wait,
                c.nf_conntrack_tcp_timeout_close_wait, c.nf_conntrack_tcp_timeout_last_ack,
                c.nf_conntrack_tcp_timeout_time_wait, c.nf_conntrack_tcp_timeout_close,
                c.nf_conntrack_tcp_timeout_max_retrans, c.nf_conntrack_tcp_timeout_unacknowledged,
                TcpTimeout(c, static_cast<uint8_t>(TcpState::kSynSent2))}));
  refresh_floor[kProtoUdp] = refresh_floor[kProtoUdplite] =
      ns(std::min(c.nf_conntrack_udp_timeout, c.nf_conntrack_udp_timeout_stream));
  refresh_floor[kProtoIcmp] = ns(c.nf_conntrack_icmp_timeout);
  refresh_floor[kProtoIcmpv6] = ns(c.nf_conntrack_icmpv6_timeout);
  refresh_floor[kProtoGre] =
      ns(std::min(c.nf_conntrack_gre_timeout, c.nf_conntrack_gre_timeout_stream));
  refresh_floor[kProtoSctp] = ns(std::min(
      {c.nf_conntrack_sctp_timeout_closed, c.nf_conntrack_sctp_timeout_cookie_wait,
       c.nf_conntrack_sctp_timeout_cookie_echoed, c.nf_conntrack_sctp_timeout_established,
       c.nf_conntrack_sctp_timeout_shutdown_sent, c.nf_conntrack_sctp_timeout_shutdown_recd,
       c.nf_conntrack_sctp_timeout_shutdown_ack_sent, c.nf_conntrack_sctp_timeout_heartbeat_sent}));
}

bool Conntrack::Impl::MakeRoom(const Tuple& t, Timestamp now, PacketResult* r) {
  // __nf_conntrack_alloc(): the count goes up first; over max, early drop must make room.
  table.IncCount();
  if (!table.OverMax()) return true;
  // From the first time the table is full on, early drop keeps bucket summaries (Table's
  // "Bucket summaries"): before, nothing reads them and nothing need pay for them. Not with an
  // overload policy, whose scaled timeouts have no floor.
  if (!policy && !table.summarised()) {
    table.StartSummaries();
    summary_clock = now;
  }
  SummaryClock(now);
  // Before that, the kernel's lookup of this tuple, which found nothing, walked its whole chain
  // and reaped every expired entry in it (____nf_conntrack_find()). ctrack's lookup reaps only
  // its own match (Table::FindInChain), so the entries the kernel's walk would have taken go here,
  // where the count they free decides.
  const uint32_t bucket = table.Bucket(t);
  if (ReapExpiredInBucket(bucket, now, r) != 0 && !table.OverMax()) return true;
  const bool room =
      policy && policy->ReplacesEarlyDrop() ? PolicyEvict(now, r) : EarlyDrop(bucket, now, r);
  if (!room) table.DecCount();
  return room;
}

ConnCounters* Conntrack::Impl::StartAccounting(uint32_t idx) {
  if (!acct_on) {
    if (idx < has_acct.size()) has_acct[idx] = 0;
    return nullptr;
  }
  if (idx >= has_acct.size()) {
    has_acct.resize(idx + 1024, 0);
    acct.resize(idx + 1024);
  }
  has_acct[idx] = 1;
  acct[idx] = ConnCounters{};
  return &acct[idx];
}

void Conntrack::Impl::StartGc(Timestamp now) {
  // gc_worker() is first scheduled when the first entry is confirmed.
  if (gc_started) return;
  gc_started = true;
  gc_next_run = now + kNsPerSec;
  gc_cycle_start = gc_next_run;
}

void Conntrack::Impl::Refuse(uint32_t idx, bool fresh, bool drop, const TrackCtx& ctx,
                             PacketResult* r) {
  // An invalid packet may still shorten the timeout (TCP out-of-window FIN/RST rule).
  if (ctx.set_expiry && !fresh) {
    table.at(idx).expires = ctx.expiry_ns;
    CheckSummaryBound(idx, table.at(idx), ctx.now);
  }
  if (fresh) table.Delete(idx);  // unconfirmed: just freed
  ++stats.invalid;
  if (drop) {
    ++stats.drop;
    r->verdict = Verdict::kDrop;
    r->forwarded = false;
  } else {
    r->verdict = Verdict::kInvalid;
  }
}

inline void Conntrack::Impl::ApplyAccepted(uint32_t idx, const TrackCtx& ctx, uint32_t len,
                                           PacketResult* r) {
  Conn& ct = table.at(idx);
  if (ctx.refresh) {
    Timestamp t = ctx.timeout_ns;
    if (policy) t = policy->ScaleTimeout(t, table.count(), table.max());
    if (!(ct.status & kFixedTimeout)) ct.expires = ctx.now + t;
    Account(idx, ctx.dir, len);
  }
  if (ctx.set_expiry) ct.expires = ctx.expiry_ns;
  CheckSummaryBound(idx, ct, ctx.now);
  if (ctx.ctinfo == CtInfo::kEstablishedReply) ct.status |= kSeenReply;
  r->dir = ctx.dir;
  r->verdict = ctx.ctinfo == CtInfo::kNew ? Verdict::kNew : Verdict::kEstablished;
}

inline void Conntrack::Impl::Confirm(uint32_t idx, uint64_t hash, bool fresh, const TrackCtx& ctx,
                                     uint32_t len, PacketResult* r) {
  Conn& ct = table.at(idx);
  if (ctx.kill) {
    // Deleted before it could be seen again (the kernel counts the packet, then kills the
    // entry). The oracle finds no entry left and numbers the packet as a new one.
    if (!ctx.refresh) Account(idx, ctx.dir, len);
    DeleteFor(idx, DestroyReason::kOther, r);
    ++ctr.deleted_other;
    r->entry = next_id++;
    r->conn = kNoConn;
    return;
  }
  if (fresh && !r->forwarded) {
    // Dropped by the IP stack after PREROUTING: nf_conntrack_confirm() never runs and the
    // unconfirmed entry is freed with the packet. Nothing was inserted, so no counter moves;
    // the oracle still numbers the conntrack the kernel allocated. (An existing entry keeps
    // what the tracker did to it: the kernel changes it in place at PREROUTING.)
    table.Delete(idx);
    ++ctr.not_confirmed;
    // A TCP re-open deleted the old entry for this tuple; with no new entry inserted, the
    // oracle sees that deletion as a plain destroy, not a replacement.
    if (r->destroyed_reason == DestroyReason::kReplaced) {
      r->destroyed_reason = DestroyReason::kOther;
    }
    r->entry = next_id++;
    r->conn = kNoConn;
    return;
  }
  if (fresh) {
    // __nf_conntrack_confirm() (the packet is accepted by the ruleset in this model).
    ct.status |= kConfirmed;
    ct.id = next_id++;
    table.Link(idx, hash, SummaryBound(ct, ctx.now));
    if (policy) policy->OnConfirm(idx, ct);
    ++ctr.created;
    StartGc(ctx.now);
  }
  r->conn = idx;
  r->entry = ct.id;
  if (Table::Expired(ct, ctx.now)) {
    // A timeout of 0: the entry expired with this packet. The first reader reaps it
    // (kernel-ct's GET right after the packet: nf_conntrack_find_get() -> nf_ct_gc_expired()),
    // so it is gone before the next packet: the verdict and entry number stand, nothing is left
    // to read, count or list.
    table.Delete(idx);
    ++ctr.expired;
    r->conn = kNoConn;
  }
}

void Conntrack::Impl::ClassifyBucket(uint32_t b, Timestamp now, std::vector<uint32_t>* expired,
                                     std::vector<uint32_t>* victims) {
  expired->clear();
  if (victims != nullptr) victims->clear();
  // The entries that stay (every caller deletes what lands in the two lists) make the bucket's
  // summary exact again.
  Timestamp lb = std::numeric_limits<Timestamp>::max();
  bool unassured = false;
  table.ForEachNode(b, [&](NodeRef n) {
    const uint32_t idx = NodeIndex(n);
    const Conn& ct = table.at(idx);
    std::vector<uint32_t>* into = nullptr;
    if (Table::Expired(ct, now)) {
      into = expired;
    } else if (victims != nullptr &&
               CanEarlyDrop(ct.orig.protonum, ct.status, ct.state, /*in_gc=*/false)) {
      into = victims;
    } else {
      lb = std::min(lb, SummaryBound(ct, now));
      unassured |= !ct.assured();
    }
    if (into != nullptr && std::find(into->begin(), into->end(), idx) == into->end()) {
      into->push_back(idx);
    }
  });
  table.SetSummary(b, lb, unassured);
}

bool Conntrack::Impl::BucketHoldsNothingToTake(uint32_t b, Timestamp now, bool victims_too) const {
  bool nothing = true;
  table.ForEachNode(b, [&](NodeRef n) {
    const Conn& ct = table.at(NodeIndex(n));
    if (Table::Expired(ct, now) ||
        (victims_too && CanEarlyDrop(ct.orig.protonum, ct.status, ct.state, /*in_gc=*/false))) {
      nothing = false;
    }
  });
  return nothing;
}

uint64_t Conntrack::Impl::ReapExpiredInBucket(uint32_t b, Timestamp now, PacketResult* r) {
  // Only expired entries matter here: the bound alone decides.
  if (table.BucketFresh(b, now)) {
    CTRACK_DCHECK(BucketHoldsNothingToTake(b, now, /*victims_too=*/false));
    ++ctr.early_drop_buckets_skipped;
    return 0;
  }
  std::vector<uint32_t>& expired = scratch_b;
  ClassifyBucket(b, now, &expired, nullptr);
  uint32_t first = kNoConn;
  for (uint32_t idx : expired) {
    if (first == kNoConn) first = table.at(idx).id;
    table.Delete(idx);
  }
  NoteExpired(expired.size(), first, r);
  return expired.size();
}

bool Conntrack::Impl::EarlyDrop(uint32_t start, Timestamp now, PacketResult* r) {
  uint32_t nb = table.buckets();
  std::vector<uint32_t>& victims = scratch_a;
  std::vector<uint32_t>& expired = scratch_b;
  // The range's summaries (one or two lines) first: a table full of ASSURED entries needs no
  // more.
  table.PrefetchSummary(start);
  table.PrefetchSummary(static_cast<uint32_t>((uint64_t{start} + kEvictionRange - 1) % nb));
  for (uint32_t i = 0; i < kEvictionRange; ++i) {
    uint32_t b = static_cast<uint32_t>((static_cast<uint64_t>(start) + i) % nb);
    if (table.BucketQuiet(b, now)) {
      CTRACK_DCHECK(BucketHoldsNothingToTake(b, now, /*victims_too=*/true));
      ++ctr.early_drop_buckets_skipped;
      if (i + 1 >= nb) break;
      continue;
    }
    ClassifyBucket(b, now, &expired, &victims);
    for (uint32_t idx : expired) {
      table.Delete(idx);
      ++ctr.expired;
    }
    if (!victims.empty()) {
      for (uint32_t idx : victims) DeleteFor(idx, DestroyReason::kEarlyDrop, r);
      stats.early_drop += victims.size();
      return true;
    }
    if (i + 1 >= nb) break;
  }
  return false;
}

void Conntrack::Impl::GcCatchUp(Timestamp now) {
  if (!gc_started) return;
  if (now - gc_next_run > kGcCatchUp) {
    // Idle gap: fold the runs that would have happened long ago into one full scan.
    gc_next_run = now - kGcCatchUp;
    gc_next_bucket = 0;
  }
  int guard = 0;
  while (gc_next_run <= now && guard++ < 100000) GcRun(gc_next_run);
}

void Conntrack::Impl::FoldFillerSamples() {
  // Filler entries live far beyond the 300 s clamp, so each adds a sample at the clamp. Folded in
  // at the cycle's start rather than in bucket order: with fillers in the majority the average
  // settles at the clamp either way, and the pause at its 60 s bound. Once a step truncates to
  // zero the average no longer moves (as in the kernel), so the rest only add to the count.
  for (uint64_t left = cfg.ctrack_filler_entries; left > 0; --left) {
    const int64_t step = (kGcSampleClampJ - gc_avg_j) / (gc_samples + 1);
    if (step == 0) {
      gc_samples += static_cast<int64_t>(left);
      return;
    }
    gc_avg_j += step;
    ++gc_samples;
  }
}

void Conntrack::Impl::GcRun(Timestamp at) {
  uint32_t nb = table.buckets();
  if (gc_next_bucket == 0) {
    gc_avg_j = kGcStartAvgJ;
    gc_samples = kGcStartSamples;
    gc_cycle_start = at;
    FoldFillerSamples();
  }
  // gc_worker() evicts only with a non-zero nf_conntrack_max / 100 * 95, so never below a max of
  // 100, and compares it with the whole namespace's count, filler entries included.
  const uint64_t fillers = cfg.ctrack_filler_entries;
  const uint64_t max95 =
      cfg.nf_conntrack_max == 0 ? 0 : (cfg.nf_conntrack_max + fillers) / 100 * 95;
  const bool early_drop_mode =
      gc_early_drop_wanted && max95 != 0 && table.count() + fillers >= max95;
  // Entries reaped are deleted in groups at bucket boundaries (DeleteMany fetches their
  // chains together); until then `doomed` holds them, so a later node of one is passed over as
  // if it were unlinked already, and `evicted + doomed.size()` is what the kernel has reaped.
  uint32_t evicted = 0;
  std::vector<uint32_t>& doomed = scratch_a;
  doomed.clear();
  auto flush = [&] {
    for (uint32_t idx : doomed) {
      if (Table::Expired(table.at(idx), at)) {
        ++ctr.expired;
      } else {
        ++ctr.gc_early_drop;
      }
    }
    evicted += static_cast<uint32_t>(doomed.size());
    table.DeleteMany(doomed);
    doomed.clear();
  };
  for (uint32_t b = gc_next_bucket; b < nb; ++b) {
    // Each node costs a miss on its entry and one on its link: they are fetched a block of
    // buckets at a time (Table::PrefetchChains), one block ahead of the walk.
    constexpr uint32_t kBlock = Table::kPrefetchBlock;
    if (b == gc_next_bucket) {
      const uint32_t end = std::min(nb, (b / kBlock + 1) * kBlock);
      table.PrefetchChains(b, end);
      if (end < nb) table.PrefetchChains(end, std::min(nb, end + kBlock));
    } else if (b % kBlock == 0 && b + kBlock < nb) {
      table.PrefetchChains(b + kBlock, std::min(nb, b + 2 * kBlock));
    }
    if (doomed.size() >= kGcDeleteGroup) flush();
    bool stop = false;
    table.ForEachNode(b, [&](NodeRef n) {
      uint32_t idx = NodeIndex(n);
      if (stop) return;
      // The entry's other node: reaped already (the kernel has unlinked it by now).
      if (std::find(doomed.begin(), doomed.end(), idx) != doomed.end()) return;
      // As gc_worker(): before each node, a run that reaped more than the limit stops here and
      // resumes at this bucket.
      if (evicted + doomed.size() > kGcMaxEvicts) {
        stop = true;
        return;
      }
      const Conn& ct = table.at(idx);
      if (Table::Expired(ct, at)) {
        doomed.push_back(idx);
        return;
      }
      const int64_t left_j =
          std::clamp<int64_t>((ct.expires - at) / kJiffy, kGcMinIntervalJ, kGcSampleClampJ);
      gc_avg_j += (left_j - gc_avg_j) / ++gc_samples;
      if (early_drop_mode && CanEarlyDrop(ct.orig.protonum, ct.status, ct.state, /*in_gc=*/true)) {
        doomed.push_back(idx);
      }
    });
    if (stop) {
      flush();
      // The flag survives a run that re-queues itself at once (a zero delay).
      gc_next_bucket = b;
      if (at - gc_cycle_start < kGcMaxInterval) {
        gc_next_run = at + kJiffy;
        gc_early_drop_wanted = false;
      } else {
        gc_next_run = at;
      }
      return;
    }
  }
  flush();
  gc_next_bucket = 0;
  const int64_t pause_j = std::clamp(gc_avg_j, kGcMinIntervalJ, kGcMaxIntervalJ);
  const int64_t spent_j = std::max<int64_t>((at - gc_cycle_start) / kJiffy, 1);
  gc_next_run = at + (pause_j > spent_j ? pause_j - spent_j : 1) * kJiffy;
  gc_early_drop_wanted = false;
}

namespace {

// Zeroes the bytes a tuple of this family and protocol does not use, so that an imported tuple
// compares and hashes like one the engine built from a packet.
void NormalizeTuple(Tuple* t) {
  if (t->l3num == kAfInet) {
    std::memset(t->src + 4, 0, sizeof(t->src) - 4);
    std::memset(t->dst + 4, 0, sizeof(t->dst) - 4);
  }
  const uint8_t p = t->protonum;
  if (!ProtoInfo(p).has_ports && p != kProtoIcmp && p != kProtoIcmpv6 && p != kProtoGre) {
    t->src_id = t->dst_id = 0;
  }
}

}  // namespace

namespace {

// What a dump carries of the tracker's own state (ctnetlink's nlattr_to_*() parsers).
void ImportL4State(const ConnInfo& ci, const Config& cfg, Conn* ct) {
  switch (ci.orig.protonum) {
    case kProtoTcp: {
      // nlattr_to_tcp(): flags as given; the scale only when both sides announced one.
      TcpData& tcp = ct->tcp();
      bool scale = (ci.tcp_flags[0] & kTcpWindowScale) && (ci.tcp_flags[1] & kTcpWindowScale);
      for (int d = 0; d < 2; ++d) {
        tcp.seen[d].flags = ci.tcp_flags[d];
        tcp.seen[d].td_scale = scale ? std::min<uint8_t>(ci.tcp_wscale[d], 14) : 0;
      }
      break;
    }
    case kProtoUdp:
    case kProtoUdplite:
      // Confirmed without passing udp_packet()'s unconfirmed branch: stream_ts stays 0, which
      // the kernel's clock is always after.
      ct->l4.udp.set_stream(std::numeric_limits<Timestamp>::min());
      break;
    case kProtoGre:
      ct->l4.gre.timeout_s = ci.gre_timeout_s ? ci.gre_timeout_s : cfg.nf_conntrack_gre_timeout;
      ct->l4.gre.stream_timeout_s =
          ci.gre_stream_timeout_s ? ci.gre_stream_timeout_s : cfg.nf_conntrack_gre_timeout_stream;
      break;
    default:
      break;
  }
}

}  // namespace

Conntrack::ImportResult Conntrack::Import(const ConnInfo& ci, Timestamp now, Timestamp extra_ns) {
  Impl& m = *impl_;
  m.GcCatchUp(now);
  Tuple orig = ci.orig;
  Tuple reply = ci.reply;
  reply.zone = orig.zone;
  if ((orig.l3num != kAfInet && orig.l3num != kAfInet6) || reply.l3num != orig.l3num ||
      reply.protonum != orig.protonum) {
    return ImportResult::kInvalid;
  }
  NormalizeTuple(&orig);
  NormalizeTuple(&reply);
  Tuple inverse;
  if (!InvertTuple(orig, &inverse)) return ImportResult::kInvalid;
  if (orig.protonum == kProtoTcp && ci.state >= static_cast<uint8_t>(TcpState::kMax)) {
    return ImportResult::kInvalid;
  }
  if (orig.protonum == kProtoSctp && ci.state >= static_cast<uint8_t>(SctpState::kMax)) {
    return ImportResult::kInvalid;
  }

  // A tuple already present in either direction is a clash (__nf_conntrack_hash_check_insert).
  uint64_t reaped = 0;
  uint32_t first = kNoConn;
  const uint64_t ho = m.table.Hash(orig);
  bool clash = m.table.FindHashed(ho, orig, now, &reaped, &first) != kNil ||
               m.table.Find(reply, now, &reaped, &first) != kNil;
  m.ctr.expired += reaped;
  if (clash) return ImportResult::kExists;

  PacketResult r;
  if (!m.MakeRoom(orig, now, &r)) return ImportResult::kTableFull;
  uint32_t idx = m.table.AllocEntry(orig.protonum);
  Conn& ct = m.table.at(idx);
  ct.orig = orig;
  if (reply != inverse) m.table.SetStoredReply(idx, reply);
  ct.status = static_cast<uint16_t>((ci.status & ~(kDying | kTemplate)) | kConfirmed);
  ct.state = (orig.protonum == kProtoTcp || orig.protonum == kProtoSctp) ? ci.state : 0;
  m.table.SetMark(idx, ci.mark);
  ct.expires =
      now + std::max<int64_t>(ci.timeout_s, 0) * kNsPerSec + std::max<Timestamp>(extra_ns, 0);
  ImportL4State(ci, m.cfg, &ct);
  if (ConnCounters* c = m.StartAccounting(idx); c != nullptr && ci.has_acct) {
    for (int d = 0; d < 2; ++d) {
      c->packets[d] = ci.packets[d];
      c->bytes[d] = ci.bytes[d];
    }
  }
  ct.id = m.next_id++;
  m.table.Link(idx, ho, m.SummaryBound(ct, now));
  if (m.policy) m.policy->OnConfirm(idx, ct);
  m.StartGc(now);
  return ImportResult::kOk;
}

void Conntrack::AdvanceTo(Timestamp now) { impl_->GcCatchUp(now); }

void Conntrack::ExpireAll(Timestamp now) {
  Impl& m = *impl_;
  m.GcCatchUp(now);
  for (uint32_t idx = 0; idx < m.table.high_water(); idx = m.table.NextEntry(idx)) {
    const Conn& ct = m.table.at(idx);
    if ((ct.status & kConfirmed) && Table::Expired(ct, now)) {
      m.table.Delete(idx);
      ++m.ctr.expired;
    }
  }
}

void Conntrack::Impl::FillInfo(uint32_t idx, Timestamp now, ConnInfo* out) const {
  const Conn& ct = table.at(idx);
  *out = ConnInfo{};  // not memset: ConnInfo holds strings and non-zero defaults
  out->orig = ct.orig;
  out->reply = table.Reply(idx);
  out->id = ct.id;
  out->status = ct.status;
  out->state = ct.state;
  out->mark = table.Mark(idx);
  out->expires = ct.expires;
  Timestamp left = ct.expires - now;
  out->timeout_s = left > 0 ? left / kNsPerSec : 0;
  if (idx < has_acct.size() && has_acct[idx]) {
    out->has_acct = true;
    for (int d = 0; d < 2; ++d) {
      out->packets[d] = acct[idx].packets[d];
      out->bytes[d] = acct[idx].bytes[d];
    }
  }
  if (ct.orig.protonum == kProtoGre) {
    out->gre_timeout_s = ct.l4.gre.timeout_s;
    out->gre_stream_timeout_s = ct.l4.gre.stream_timeout_s;
  }
  if (ct.orig.protonum == kProtoTcp) {
    for (int d = 0; d < 2; ++d) {
      out->tcp_wscale[d] = ct.tcp().seen[d].td_scale;
      out->tcp_flags[d] = ct.tcp().seen[d].flags;
    }
  }
}

void Conntrack::ForEach(Timestamp now, const std::function<void(const ConnInfo&)>& fn) const {
  const Impl& m = *impl_;
  ConnInfo info;
  for (uint32_t idx = 0; idx < m.table.high_water(); idx = m.table.NextEntry(idx)) {
    const Conn& ct = m.table.at(idx);
    if (!(ct.status & kConfirmed) || Table::Expired(ct, now)) continue;
    m.FillInfo(idx, now, &info);
    fn(info);
  }
}

bool Conntrack::Get(uint32_t conn, Timestamp now, ConnInfo* out) const {
  const Impl& m = *impl_;
  if (!m.table.IsEntry(conn) || !(m.table.at(conn).status & kConfirmed)) return false;
  // A ctnetlink GET finds no expired entry (nf_conntrack_find_get() skips and reaps it): with a
  // timeout sysctl at 0 the entry a packet just refreshed is already gone when it is read.
  if (Table::Expired(m.table.at(conn), now)) return false;
  m.FillInfo(conn, now, out);
  return true;
}

Conntrack::ChainStats Conntrack::chain_stats() const {
  const Table& t = impl_->table;
  ChainStats s{t.buckets(), 0, 0, 0};
  for (uint32_t b = 0; b < t.buckets(); ++b) {
    uint32_t len = t.ChainLength(b);
    s.nodes += len;
    s.max_chain = std::max(s.max_chain, len);
    if (len) ++s.used_buckets;
  }
  return s;
}

const char* DestroyReasonName(DestroyReason r) {
  switch (r) {
    case DestroyReason::kNone:
      return "none";
    case DestroyReason::kReplaced:
      return "replaced";
    case DestroyReason::kOther:
      return "other";
    case DestroyReason::kEarlyDrop:
      return "early_drop";
    case DestroyReason::kExpired:
      return "expired";
  }
  return "?";
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kNone:
      return "none";
    case Verdict::kDrop:
      return "drop";
    case Verdict::kInvalid:
      return "invalid";
    case Verdict::kNew:
      return "new";
    case Verdict::kEstablished:
      return "established";
    case Verdict::kRelated:
      return "related";
    case Verdict::kUntracked:
      return "untracked";
  }
  return "?";
}

}  // namespace ctrack
