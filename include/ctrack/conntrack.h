// The connection tracker: nf_conntrack's table and per-packet algorithm in user space.
//
// Usage (examples/embed/main.cc is the whole program, built against the installed library):
//   ctrack::Config cfg;                       // kernel defaults
//   ctrack::Conntrack ct(cfg);
//   ctrack::PacketResult r = ct.ProcessFrame(ctrack::kLinkEthernet, frame, caplen, wirelen, now);
//   if (r.verdict == ctrack::Verdict::kInvalid) { ... }
//
// The engine is single-writer: one thread calls Process*/Expire at a time. Time is virtual: each
// call carries the packet's timestamp and the same input always gives the same output.
#ifndef CTRACK_CONNTRACK_H_
#define CTRACK_CONNTRACK_H_

#include <ctrack/config.h>
#include <ctrack/decode.h>
#include <ctrack/entry.h>
#include <ctrack/packet.h>
#include <ctrack/stats.h>
#include <ctrack/tuple.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace ctrack {

// The packet's classification right after the conntrack hook, in the oracle's words.
enum class Verdict : uint8_t {
  kNone,     // nothing left the hooks: not IP, rejected by IP input, fragment held (also the
             // last fragment of a datagram that conntrack then dropped; stats().drop moves)
  kDrop,     // dropped by defragmentation or by conntrack (table full)
  kInvalid,  // no entry attached
  kNew,
  kEstablished,
  kRelated,
  kUntracked,
};
const char* VerdictName(Verdict v);

inline constexpr uint32_t kNoConn = 0xffffffffu;

// Notes on how the verdict came about (bit set).
enum ResultNote : uint8_t {
  kNoteReassembled = 1u << 0,  // the verdict is for a datagram completed by this fragment
  kNoteFragHeld = 1u << 1,     // fragment queued by defragmentation
  kNoteVlan = 1u << 2,         // 802.1Q/802.1ad tags were stripped
  kNoteTruncated = 1u << 3,    // capture record shorter than the frame on the wire
  kNoteDestroyed = 1u << 4,    // an entry was deleted while this packet was processed
};

// Why an entry was deleted while a packet was processed (the oracle's destroy reasons).
enum class DestroyReason : uint8_t { kNone, kReplaced, kOther, kEarlyDrop, kExpired };
const char* DestroyReasonName(DestroyReason r);

struct PacketResult {
  Verdict verdict = Verdict::kNone;
  Dir dir = Dir::kOriginal;  // meaningful for new / established / related
  uint8_t notes = 0;         // ResultNote bits
  DestroyReason destroyed_reason = DestroyReason::kNone;
  uint32_t conn = kNoConn;       // handle of the attached entry; valid until the next call
  uint32_t entry = kNoConn;      // creation number of the attached entry; kept when this packet
                                 // deleted it (a TCP RST before any reply)
  uint32_t destroyed = kNoConn;  // creation number of an entry this packet deleted (the first)
  // The packet reached the last POSTROUTING hook, where conntrack confirms (the oracle's `fwd`
  // column): false when it was never classified, was dropped by defragmentation or conntrack,
  // or was dropped by the IP stack after PREROUTING (bad IPv4 options, a strict source route, an
  // IPv6 datagram larger than the egress MTU). A `new` packet that is not forwarded leaves no
  // entry: the entry it created is freed unconfirmed (its creation number is used up).
  bool forwarded = false;
};

// A captured frame handed in a batch.
struct Frame {
  const uint8_t* data;
  uint32_t caplen;
  uint32_t wirelen;
  Timestamp ts;
};

// A frame already decoded by DecodeFrame(), with its time: what a dispatcher that decoded the
// frame to choose its shard hands on, so that the shard does not decode it again. The bytes the
// facts point into must stay valid until the batch has been processed.
struct DecodedFrame {
  FrameFacts facts;
  Timestamp ts = 0;
};

class CountPool;  // <ctrack/sharded.h>

class Conntrack {
 public:
  // `cfg` must be valid (Config::Validate() returns an empty string).
  explicit Conntrack(const Config& cfg);
  ~Conntrack();
  Conntrack(const Conntrack&) = delete;
  Conntrack& operator=(const Conntrack&) = delete;

  const Config& config() const;

  // One captured frame of the given link type. `wirelen` is the original length (to tell a
  // truncated capture); pass caplen when unknown.
  PacketResult ProcessFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen,
                            uint32_t wirelen, Timestamp now, uint16_t zone = 0);

  // One IP datagram without link layer (IPv4 or IPv6, told by the version nibble).
  PacketResult ProcessIp(const uint8_t* data, uint32_t len, Timestamp now, uint16_t zone = 0);

  // A frame already decoded by DecodeFrame() / DecodeIp() (include/ctrack/decode.h), for callers
  // that read the facts themselves too (sharding, verdict descriptions): the frame's bytes must
  // still be valid. ProcessFrame(...) is Process(DecodeFrame(...)).
  PacketResult Process(const FrameFacts& f, Timestamp now, uint16_t zone = 0);

  // A batch of frames of one link type; results are written to out[i] (out.size() >= frames).
  // Lookups are prefetched across the batch.
  void ProcessBatch(uint32_t linktype, std::span<const Frame> frames, std::span<PacketResult> out,
                    uint16_t zone = 0);
  // The same for frames already decoded; the results are those of Process() on each in turn.
  void ProcessBatch(std::span<const DecodedFrame> frames, std::span<PacketResult> out,
                    uint16_t zone = 0);

  // Inserts a confirmed entry taken from another table (a snapshot, a pasted `conntrack -L`),
  // as ctnetlink's create does (ctnetlink_create_conntrack(), net/netfilter/
  // nf_conntrack_netlink.c): both tuples, status (plus CONFIRMED), TCP/SCTP state, mark, zone,
  // counters (when nf_conntrack_acct is on here) and a remaining timeout of ci.timeout_s
  // seconds from `now`. ci.reply is kept as given: when it is not the inverse of ci.orig (NAT),
  // it is stored beside the entry and matched by reply-direction lookups.
  //
  // What a dump does not carry starts as for an entry the kernel did not see begin: TCP window
  // data is uninitialised (td_maxwin 0 in both directions, so tcp_in_window() takes the next
  // packet of each direction as its starting point), with the window scale and flags from
  // ci.tcp_wscale / ci.tcp_flags (the scale only when both directions have WINDOW_SCALE, as
  // nlattr_to_tcp() does); a replied UDP entry is past its two-second stream delay; GRE takes
  // ci.gre_*_timeout_s (the settings' when 0); SCTP verification tags are unknown (0).
  // The count rule applies: over nf_conntrack_max, early drop must make room first.
  enum class ImportResult : uint8_t {
    kOk,
    kInvalid,    // malformed: address family, protocol mismatch, ICMP type without reply, state
    kExists,     // one of the tuples is already in the table (ctnetlink: EEXIST)
    kTableFull,  // over nf_conntrack_max and early drop found nothing to evict
  };
  // `extra_ns` is added to the remaining timeout (listings floor the seconds left; a caller
  // may add back the expected fraction).
  ImportResult Import(const ConnInfo& ci, Timestamp now, Timestamp extra_ns = 0);

  // Advances the clock to `now` without a packet: the garbage collector runs as it would have
  // meanwhile (gc_worker's pacing), so count() falls as the kernel's nf_conntrack_count would.
  void AdvanceTo(Timestamp now);

  // Advances the clock to `now` and reaps every expired entry, as a listing does.
  void ExpireAll(Timestamp now);

  // nf_conntrack_count: allocated entries, including expired ones not reaped yet.
  uint32_t count() const;
  const Stats& stats() const;
  const EngineCounters& counters() const;

  // Visits every confirmed, unexpired entry at time `now` (without reaping).
  void ForEach(Timestamp now, const std::function<void(const ConnInfo&)>& fn) const;
  // Snapshot of the entry behind a handle returned by the last Process* call.
  bool Get(uint32_t conn, Timestamp now, ConnInfo* out) const;

  // Table statistics for diagnostics: chain lengths in nodes (each entry has two nodes).
  struct ChainStats {
    uint32_t buckets;
    uint64_t nodes;
    uint32_t max_chain;
    uint64_t used_buckets;
  };
  ChainStats chain_stats() const;
  // Bytes of memory the table holds (entries, buckets, side arrays).
  size_t memory_bytes() const;

  // Makes this table one shard of a larger one: the max rule applies to the entries reserved in
  // `pool`, shared by all shards (see ShardedConntrack). Call before the first packet.
  void ShareCountForShards(CountPool* pool);

  // Test hook: forces every tuple to one bucket (hash constant) to exercise chain handling.
  void SetConstantHashForTest(bool on);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ctrack

#endif  // CTRACK_CONNTRACK_H_
