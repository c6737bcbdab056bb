// The connection table: nf_conntrack's hash of tuples, entries and the count/max rule.
//
// Memory layout:
//
//   struct Table {
//     NodeRef heads[nf_conntrack_buckets];  // first node of each chain, kNil when empty
//     Slot*   chunks[];                     // 64-byte slots (core/conn.h), kChunk (32768 =
//                                           // 2 MiB) per chunk, added on demand as transparent
//                                           // huge pages; the first chunk of a small table
//                                           // holds only what max can use (AddChunk)
//     NodeRef links[slots], rlinks[slots];  // node after (idx, dir): LinkOf(); links[idx] also
//                                           // chains the free lists; rlinks only from the
//                                           // first single-slot entry on
//     uint32_t free_one, free_pair;         // free single slots; free even-aligned pairs
//     TagIndex index;                       // only when indexed(): every linked node again, in
//                                           // 64-byte groups of 12 tags + 12 NodeRefs
//                                           // (core/tag_index.h), sized for max
//     uint64_t summary[nf_conntrack_buckets]; // from the first table-full on: per bucket, a
//                                           // lower bound on its entries' expiry and an
//                                           // "unassured" bit, for early drop ("Bucket
//                                           // summaries" below)
//   };
//   NodeRef = entry_index << 6 | pair << 5 | tag << 1 | dir  // tag: 4 hash bits the bucket
//                                                           // does not use; kNil (all ones)
//                                                           // ends a chain
//
// Every confirmed entry sits in the table twice, like the kernel's two hlist nodes: the
// original-direction node in the bucket of its original tuple, the reply node in the bucket of its
// reply tuple. Chains are singly linked through LinkOf(node); new nodes go to the head. The
// reply tuple is not stored: it is derived from the original when a reply node is compared,
// which keeps a UDP, ICMP or GRE entry at one 64-byte line and a TCP or SCTP one at two. The
// exception are imported NAT entries (their reply is not the inverse of the original): their
// reply tuple lives in a side store (extra_, by entry index, with the mark), flagged by
// kConnHasExtra in the entry's line, and Reply() / the reply-node comparison read it from there.
//
// Entry index = slot index. A TCP or SCTP entry (ConnHasExt) holds an even slot and the next; a
// free pair stays a pair and a free single slot a single, so the protocol class of the slot
// an index names never changes once handed out, and a walk in slot order steps over the second
// slot of a pair by the protocol of the first (NextEntry). Every even slot below the high water
// is an entry's first slot; an odd one is a pair's second iff the slot before is a pair's.
//
// Two ways to look up. The chains are always kept, in the kernel's order, for everything that walks
// buckets (early drop, the GC, the overload policies, listings). Lookups walk them too, unless
// the configuration lets them grow long (kIndexOn below): then lookups read the tag index, one
// line for any chain length, and Link()/Delete() keep both. Which one serves the lookups never
// changes a verdict: a lookup reaps only its own expired match (FindInChain in table.cc), so
// the count, and with it every table-full decision, is the same either way. The batch pipeline
// walks either structure ahead of the lookups (Probe), and a lookup takes the probe's answer
// when the links and unlinks counted since cannot have changed it (FindProbed).
//
// Bucket choice: a keyed 64-bit hash of the 40-byte tuple (zone included), scaled to the bucket
// count with a multiply-shift (no modulo, any bucket count); its high 32 bits pick the bucket, its
// low 32 the index group and tag. Keys come from Config::hash_seed, so an attacker who does not
// know the seed cannot aim tuples at one chain.
//
// Invariants:
//  - count() counts every allocated entry: confirmed ones (in both chains) and the one
//    unconfirmed entry a packet may hold while its tracker runs. It never exceeds max + 1, and
//    exceeds max only between the caller's IncCount() and its early drop (or DecCount() when
//    nothing could be dropped), as in __nf_conntrack_alloc(); AllocEntry() follows.
//  - An entry is in the chains iff it is confirmed, and then also in the index if there is one.
//    A free entry has status 0.
//  - Expired entries stay linked (and counted) until something reaps them: a lookup of their own
//    tuple, early drop, the GC or a listing.
#ifndef CTRACK_CORE_TABLE_H_
#define CTRACK_CORE_TABLE_H_

#include <ctrack/config.h>
#include <ctrack/packet.h>
#include <ctrack/sharded.h>
#include <ctrack/tuple.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/conn.h"
#include "core/dcheck.h"
#include "core/prefetch.h"
#include "core/tag_index.h"

namespace ctrack {

// NodeRef = entry_index << 6 | pair << 5 | tag << 1 | dir. The tag is 4 bits of the node's tuple
// hash that the bucket index does not use, so a chain walk passes over 15 of 16 foreign nodes
// without touching their entries (the links live in their own dense arrays); `pair` says where
// the node's link is (Table::LinkOf).
using NodeRef = uint32_t;
inline constexpr NodeRef kNil = 0xffffffffu;
inline constexpr uint32_t kTagMask = 15;
// Set in both nodes of a TCP or SCTP entry (two slots, ConnHasExt): where the reply node's link
// lives (Table::LinkOf) is known from the node alone.
inline constexpr NodeRef kNodePair = 1u << 5;
inline constexpr NodeRef MakeNode(uint32_t idx, Dir d, uint32_t tag, bool pair) {
  return idx << 6 | (pair ? kNodePair : 0) | (tag & kTagMask) << 1 | static_cast<uint32_t>(d);
}
inline constexpr uint32_t NodeIndex(NodeRef n) { return n >> 6; }
inline constexpr uint32_t NodeTag(NodeRef n) { return (n >> 1) & kTagMask; }
inline constexpr Dir NodeDir(NodeRef n) { return static_cast<Dir>(n & 1); }
// Early drop scans this many buckets from the new tuple's bucket (NF_CT_EVICTION_RANGE,
// net/netfilter/nf_conntrack_core.c); the overload policies' fallback scans as many.
inline constexpr uint32_t kEvictionRange = 8;
// A table whose chains can grow long serves its lookups from the tag index (core/tag_index.h):
// one with nf_conntrack_max at least kIndexOn / 2 times nf_conntrack_buckets (at least kIndexOn
// nodes a bucket when full), or with no max. The kernel's default (max = buckets, two nodes a
// bucket when full) stays on its chains: a walk with the chain tags reads the head and about one
// link there, and the index would add its own work to every insert and delete. From four nodes a
// bucket on (the "max = 8 x buckets" rule of thumb gives sixteen; a flood fills whatever there
// is), each further node ahead of a lookup's own is another dependent miss, and one index line
// is cheaper. The choice is made once, from the configuration, so that no packet ever waits for
// the index to be built; with a max the index is sized for it and never grows. The setting
// ctrack_lookup_index overrides the choice.
inline constexpr uint32_t kIndexOn = 4;
// Entry (slot) indices fit in 26 bits; the all-ones index is kNil's.
inline constexpr uint32_t kMaxEntries = (1u << 26) - 1;

// Told about every deletion of a confirmed entry, before its nodes are unlinked (the overload
// policies keep their indexes this way). The table knows nothing else of who listens.
class DeleteObserver {
 public:
  virtual void OnDelete(uint32_t idx, const Conn& ct) = 0;

 protected:
  ~DeleteObserver() = default;
};

// Storage for the bucket heads and the chain links. Every lookup reads a head and often a link
// at random; an array of 2 MiB or more is therefore aligned to 2 MiB and offered to transparent
// huge pages (as the entry chunks are), so that those reads do not each miss the TLB as well.
void* AllocTableArray(size_t bytes);
void FreeTableArray(void* p);
template <typename T>
struct TableArrayAllocator {
  using value_type = T;
  TableArrayAllocator() = default;
  template <typename U>
  TableArrayAllocator(const TableArrayAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(AllocTableArray(n * sizeof(T))); }
  void deallocate(T* p, size_t) { FreeTableArray(p); }
  bool operator==(const TableArrayAllocator&) const { return true; }
};

class Table {
 public:
  explicit Table(const Config& cfg);

  uint32_t buckets() const { return nbuckets_; }
  // The count that the GC's early-drop threshold and the overload policies read: this table's,
  // or, for a shard, the entries reserved by all shards less this shard's unused reservations
  // (exact for one shard; otherwise above the sum by the others' unused reservations only).
  uint32_t count() const {
    return pool_ ? pool_->reserved() - (quota_ - local_count()) : local_count();
  }
  // This table's entries. Written by the owner only; relaxed atomic so that
  // ShardedConntrack::count() may read it from another thread.
  uint32_t local_count() const { return count_.load(std::memory_order_relaxed); }
  // Shards of one logical table reserve entries from one pool, so max stays global
  // (ShardedConntrack).
  // Called before the first entry. A shard's chains fill to its part of max, and its index (if
  // any) grows, since the pool lets one shard take more than its part.
  void ShareCount(CountPool* pool) {
    pool_ = pool;
    ChooseLookup(pool->max() / pool->shards(), /*grows=*/true);
  }
  // The max rule after IncCount(), as __nf_conntrack_alloc() applies it: true when the count
  // passed nf_conntrack_max (0: no limit). A shard compares its count with its reservations and
  // takes a new grant from the pool before it says so.
  bool OverMax() {
    uint32_t c = local_count();
    if (pool_ == nullptr) return max_ != 0 && c > max_;
    while (c > quota_) {
      uint32_t g = pool_->Reserve();
      if (g == 0) return true;
      quota_ += g;
    }
    return false;
  }
  // nf_conntrack_max, at most kMaxEntries - 1 (also for 0, "no limit"); a TCP or SCTP entry
  // takes two of the kMaxEntries slot indices (AllocEntry).
  uint32_t max() const { return max_; }

  // The reply tuple of entry `idx`: the stored one for imported NAT entries, else InvertTuple
  // of its original (which succeeded at creation).
  Tuple Reply(uint32_t idx) const;
  // Gives entry `idx` (allocated, not yet linked) a reply tuple that is not the inverse of its
  // original. Must precede Link(); it goes when the entry is freed.
  void SetStoredReply(uint32_t idx, const Tuple& reply);
  // Entries holding a stored reply tuple.
  uint32_t stored_replies() const { return stored_replies_; }
  // The entry's mark (ctmark; 0 unless an import gave one).
  uint32_t Mark(uint32_t idx) const;
  void SetMark(uint32_t idx, uint32_t mark);

  uint64_t Hash(const Tuple& t) const;
  uint32_t BucketOf(uint64_t h) const { return static_cast<uint32_t>((h >> 32) * nbuckets_ >> 32); }
  static uint32_t TagOf(uint64_t h) { return static_cast<uint32_t>(h) & kTagMask; }
  uint32_t Bucket(const Tuple& t) const { return BucketOf(Hash(t)); }

  Conn& at(uint32_t idx) { return chunks_[idx / kChunk].get()[idx % kChunk].conn; }
  const Conn& at(uint32_t idx) const { return chunks_[idx / kChunk].get()[idx % kChunk].conn; }
  // Slot indices below this have been handed out at least once. Walk them with NextEntry.
  uint32_t high_water() const { return high_water_; }
  // The index after entry `idx` (allocated or free) in slot order.
  uint32_t NextEntry(uint32_t idx) const {
    return idx + (ConnHasExt(at(idx).orig.protonum) ? 2 : 1);
  }
  // True when `idx` names an entry's first slot (allocated or free), not a pair's second.
  bool IsEntry(uint32_t idx) const {
    return idx < high_water_ && ((idx & 1) == 0 || !ConnHasExt(at(idx - 1).orig.protonum));
  }
  // True when lookups use the tag index rather than the chains (kIndexOn).
  bool indexed() const { return indexed_; }

  // Finds the live (unexpired, confirmed) node whose tuple equals `t`. An expired match is reaped
  // (`reaped` is incremented; `first_reaped` gets its creation number if it is still kNil) and
  // kNil returned, as for no match. Other expired entries are left to the GC and early drop (see
  // FindInChain in table.cc for how this differs from the kernel).
  NodeRef Find(const Tuple& t, Timestamp now, uint64_t* reaped, uint32_t* first_reaped) {
    return FindHashed(Hash(t), t, now, reaped, first_reaped);
  }
  // The same with the hash of `t` already computed (the batch pipeline hashes ahead).
  NodeRef FindHashed(uint64_t h, const Tuple& t, Timestamp now, uint64_t* reaped,
                     uint32_t* first_reaped);
  // Batch pipeline, one step per pass over the batch so that the misses of a step overlap
  // across packets: PrefetchProbe; ProbeHead reads the chain head (or the index group) and
  // prefetches the entry of the first node whose tag matches, else the head node's link;
  // each ProbeNext takes one step further along the chain (or to the next index group), reading
  // the line the step before prefetched and prefetching the next, so that a pass of ProbeNext
  // over the batch keeps one miss of every unfinished probe in flight. No step changes the
  // table, and the lookup proper (FindProbed) runs after them.
  struct Probe {
    NodeRef next;      // chains: node whose link ProbeNext follows
    NodeRef hit;       // found: the first node of the tag (in chain or index order)
    NodeRef head;      // chains: the bucket's head when the probe read it
    uint32_t group;    // index: the group ProbeNext goes on from
    uint32_t tag;      // chains: the node tag sought
    uint64_t added;    // links_added_ when the probe began
    uint64_t removed;  // links_removed_ when the probe began
    bool ext;          // the entry sought takes two slots (ConnHasExt): prefetch both
    bool found;        // a node of the tag was met and its entry prefetched
    bool absent;       // no node of the tag: the tuple is not in the table
    bool more;         // neither yet: ProbeNext goes on
  };
  // FindHashed(h, t, ...) for the tuple probe `p` was made for, using what the probe learned
  // where the table's changes since cannot have made it wrong. A tuple is in the table at most
  // once (confirmation checks both directions), so a node of the tag that holds the tuple is
  // still the answer after entries were linked, as long as none was unlinked (its slot could
  // have been reused); and no node of the tag still means no entry after entries were unlinked,
  // as long as none was linked, or, on the chains, after entries were linked elsewhere: with
  // nothing unlinked, a link into this bucket would have put a new node (a slot not in use
  // before) at its head. Otherwise (or on a node of the tag that holds another tuple) the full
  // lookup runs. Same result, reaping included.
  NodeRef FindProbed(uint64_t h, const Tuple& t, const Probe& p, Timestamp now, uint64_t* reaped,
                     uint32_t* first_reaped);
  void PrefetchProbe(uint64_t h) const {
    if (indexed_) {
      index_.Prefetch(h);
    } else {
      PrefetchLine(&heads_[BucketOf(h)]);
    }
  }
  // `ext`: ConnHasExt of the protocol sought.
  void ProbeHead(uint64_t h, bool ext, Probe* p) const {
    p->ext = ext;
    p->added = links_added_;
    p->removed = links_removed_;
    if (indexed_) {
      p->group = index_.HomeOf(h);
      ProbeGroup(h, p);
      return;
    }
    p->tag = TagOf(h);
    p->found = p->absent = p->more = false;
    const NodeRef n = heads_[BucketOf(h)];
    p->head = n;
    if (n == kNil) {
      p->absent = true;
    } else if (NodeTag(n) == p->tag) {
      PrefetchEntry(NodeIndex(n), p->ext);
      p->hit = n;
      p->found = true;
    } else {
      PrefetchLine(&LinkOf(n));
      p->next = n;
      p->more = true;
    }
  }
  // One step, for a probe with `more` set: the next node's link (prefetched by the step before),
  // or the next index group (prefetched by ProbeGroup).
  void ProbeNext(uint64_t h, Probe* p) const {
    if (indexed_) {
      p->group = index_.Next(p->group);
      ProbeGroup(h, p);
      return;
    }
    const NodeRef n = LinkOf(p->next);
    if (n == kNil) {
      p->more = false;
      p->absent = true;
    } else if (NodeTag(n) == p->tag) {
      PrefetchEntry(NodeIndex(n), p->ext);
      p->hit = n;
      p->more = false;
      p->found = true;
    } else {
      PrefetchLine(&LinkOf(n));
      p->next = n;
    }
  }
  // For a packet that will likely create an entry of hashes `ho` (original) and `hr` (reply):
  // what confirmation reads and writes beyond the probe's own lines. With chains serving the
  // lookups, ProbeHead has read the original's head already.
  void PrefetchNew(uint64_t ho, uint64_t hr) const {
    PrefetchLine(&heads_[BucketOf(hr)]);
    if (indexed_) {
      PrefetchLine(&heads_[BucketOf(ho)]);
      PrefetchLine(&index_.group(index_.HomeOf(hr)));
    }
  }
  // The entry AllocEntry() will hand out next for a protocol of class `ext` (ConnHasExt) and
  // its links, which the new connection writes.
  void PrefetchAlloc(bool ext) const {
    const uint32_t f = ext ? free_pair_ : free_one_;
    if (f != kNil) {
      PrefetchLineForWrite(&links_[f]);
      PrefetchLineForWrite(&at(f));
      if (ext) PrefetchLineForWrite(&at(f + 1));  // AllocEntry zeroes both slots of a pair
    }
  }

  // Takes an entry for a new connection of protocol `protonum` (one slot, or two for
  // ConnHasExt), zeroed but for orig.protonum. The caller has already decided the count rule.
  // Throws std::length_error when entry indices run out (kMaxEntries slots; only a table with no
  // max gets there).
  uint32_t AllocEntry(uint8_t protonum);
  // Returns an unconfirmed (or already unlinked) entry to the free list.
  void FreeEntry(uint32_t idx);
  // Links both nodes of `idx` at the heads of their buckets; `orig_hash` is Hash(orig), which
  // the caller already computed for the lookup. `bound`: what the buckets' summaries (if any)
  // take for this entry (see "Bucket summaries").
  void Link(uint32_t idx, uint64_t orig_hash, Timestamp bound);
  // Unlinks both nodes and frees the entry.
  void Delete(uint32_t idx);
  // Delete() of each, in order (the observer hears them in that order). For up to 32 entries at
  // a time, the bucket heads, the index groups and the first chain links before each node are
  // fetched before the first of them is unlinked. For entries found by a walk (the GC), whose
  // chains are otherwise each a cold miss.
  void DeleteMany(std::span<const uint32_t> idx);

  void IncCount() {
    count_.store(local_count() + 1, std::memory_order_relaxed);
    // count <= max + 1 (see the invariants above); a shard of a pooled count is bounded by its
    // quota instead.
    CTRACK_DCHECK(pool_ != nullptr || max_ == 0 || local_count() <= max_ + 1);
  }
  void DecCount() {
    CTRACK_DCHECK(local_count() > 0);
    uint32_t c = local_count() - 1;
    count_.store(c, std::memory_order_relaxed);
    // Hysteresis: a grant goes back only once two are unused, so that a shard hovering around
    // its quota does not write the pool on every entry.
    if (pool_ != nullptr && quota_ - c >= 2 * CountPool::kGrant) {
      pool_->Release(CountPool::kGrant);
      quota_ -= CountPool::kGrant;
    }
  }

  static bool Expired(const Conn& ct, Timestamp now) { return ct.expires - now <= 0; }

  // Calls fn(node) for each node in bucket b; fn may not modify the chain.
  template <typename Fn>
  void ForEachNode(uint32_t b, Fn&& fn) const {
    for (NodeRef n = heads_[b]; n != kNil;) {
      NodeRef next = LinkOf(n);
      fn(n);
      n = next;
    }
  }

  // For walks in bucket order (the GC): prefetches the entry (its first line) and the link of
  // every node of buckets [b0, b1), at most kPrefetchBlock of them, one chain level at a time:
  // a level's links were prefetched by the level before, so the block's chains cost about one
  // round of overlapped misses per level instead of two dependent misses per node. Reads only.
  static constexpr uint32_t kPrefetchBlock = 64;
  void PrefetchChains(uint32_t b0, uint32_t b1) const {
    CTRACK_DCHECK(b1 - b0 <= kPrefetchBlock);
    NodeRef cur[kPrefetchBlock];
    uint32_t n = 0;
    for (uint32_t b = b0; b < b1; ++b) {
      const NodeRef x = heads_[b];
      if (x == kNil) continue;
      PrefetchLine(&at(NodeIndex(x)));
      PrefetchLine(&LinkOf(x));
      cur[n++] = x;
    }
    while (n > 0) {
      uint32_t m = 0;
      for (uint32_t i = 0; i < n; ++i) {
        const NodeRef x = LinkOf(cur[i]);
        if (x == kNil) continue;
        PrefetchLine(&at(NodeIndex(x)));
        PrefetchLine(&LinkOf(x));
        cur[m++] = x;
      }
      n = m;
    }
  }

  // Bucket summaries: what lets early drop pass over a bucket without reading its entries. Once
  // started (StartSummaries, at the first table-full), every bucket has a bound and a bit. The
  // bound is at most the expiry of each entry in the bucket, and stays so whatever the entry's
  // packets do later: the engine computes it as min(expiry, t - slack + floor), where t is the
  // time of the walk or link that set it, floor the shortest timeout the entry's tracker can give
  // (Conntrack's refresh floors) and slack how far before the latest packet seen a later one may
  // be stamped, so a refresh at t' >= t - slack, which sets t' + timeout, never goes below it. The
  // bit is set whenever the bucket may hold an entry without ASSURED. Links lower the bound and set
  // the bit, deletions change nothing, and only a walk that read every entry of the bucket makes
  // both exact again (SetSummary). The engine resets every summary when a packet comes further back
  // than the slack (the bound would no longer be behind its refresh) and tells ExpiryLowered about
  // an expiry set below the floor (which its trackers never do). So a bucket that BucketQuiet()
  // calls quiet holds no expired entry and none that early_drop() could evict (ASSURED is never
  // cleared): scanning it would find nothing, and skipping it changes no verdict and no counter. A
  // table full of ASSURED entries thus refuses a new connection after reading a line or two of
  // summaries instead of every entry of eight buckets.
  bool summarised() const { return summary_ != nullptr; }
  // No-op when Config::ctrack_bucket_summaries is 0.
  void StartSummaries();
  // Every bucket back to "unknown" (to be read before it is passed over).
  void ResetSummaries();
  bool BucketQuiet(uint32_t b, Timestamp now) const {
    return BucketFresh(b, now) && !WordUnassured(Summary(b));
  }
  // The bound alone: no entry of bucket b has expired (whatever the unassured bit says).
  bool BucketFresh(uint32_t b, Timestamp now) const {
    return summary_ != nullptr && WordBound(Summary(b)) > now;
  }
  // After a walk that read every entry left in bucket b: `lb` the bound of all of them
  // (INT64_MAX for none), `unassured` when one of them lacks ASSURED.
  void SetSummary(uint32_t b, Timestamp lb, bool unassured) {
    if (summary_ != nullptr) summary_[b] = EncodeSummary(lb, unassured);
  }
  // Entry `idx`, linked, may now expire before the bound its buckets hold for it.
  void ExpiryLowered(uint32_t idx);
  // Bucket b (a prefetch for early drop's scan of the summaries of kEvictionRange buckets).
  void PrefetchSummary(uint32_t b) const {
    if (summary_ != nullptr) PrefetchLine(&summary_[b]);
  }

  // Chain statistics in nodes.
  uint32_t ChainLength(uint32_t b) const;
  size_t memory_bytes() const;

  void SetConstantHashForTest(bool on) { constant_hash_ = on; }
  // `o` (may be null) is told about every deletion of a confirmed entry; it outlives the table.
  void set_delete_observer(DeleteObserver* o) { observer_ = o; }

 private:
  // Node `d` of entry `idx` (`ct`) whose tuple in that direction hashes to `h`.
  static NodeRef NodeFor(uint32_t idx, const Conn& ct, Dir d, uint64_t h) {
    return MakeNode(idx, d, TagOf(h), ConnHasExt(ct.orig.protonum));
  }
  // The link that follows node n in its chain (see links_).
  NodeRef& LinkOf(NodeRef n) {
    const uint32_t idx = NodeIndex(n);
    if ((n & 1) == 0) return links_[idx];
    return (n & kNodePair) ? links_[idx + 1] : rlinks_[idx];
  }
  const NodeRef& LinkOf(NodeRef n) const { return const_cast<Table*>(this)->LinkOf(n); }
  // What an entry with kConnHasExtra has beside the table.
  struct Extra {
    Tuple reply;
    bool has_reply = false;
    uint32_t mark = 0;
  };
  // Slots per chunk: 2 MiB, one transparent huge page, so a growing table takes one page fault
  // per 32768 slots and lookups one TLB entry per chunk. Even, so that no pair straddles two.
  static constexpr uint32_t kChunk = 32768;
  struct ChunkFree {
    void operator()(Slot* p) const { std::free(p); }
  };

  // The lines of an entry a probe found: the lookup compares the first, and a TCP or SCTP
  // tracker that runs next reads its state in the second (Conn::ext).
  void PrefetchEntry(uint32_t idx, bool ext) const {
    const Conn* c = &at(idx);
    PrefetchLine(c);
    if (ext) PrefetchLine(&c->ext());
  }
  // The index's part of ProbeHead/ProbeNext: group p->group.
  void ProbeGroup(uint64_t h, Probe* p) const {
    const TagIndex::Group& g = index_.group(p->group);
    const uint32_t m = TagIndex::Match(g, TagIndex::TagOf(h));
    p->found = m != 0;
    if (p->found) {
      p->hit = g.ref[__builtin_ctz(m)];
      PrefetchEntry(NodeIndex(p->hit), p->ext);
    }
    p->more = !p->found && g.overflow != 0;
    p->absent = !p->found && !p->more;
    if (p->more) PrefetchLine(&index_.group(index_.Next(p->group)));
  }
  // A summary word is (lower bound rounded down to even) | (unassured bit), stored XORed with
  // kSummaryUnknown so that the zero pages StartSummaries() takes read as "unknown": bound
  // INT64_MIN with the bit set, a bucket to scan.
  static constexpr uint64_t kSummaryUnknown = 0x8000000000000001ull;
  static uint64_t EncodeSummary(Timestamp lb, bool unassured) {
    return ((static_cast<uint64_t>(lb) & ~uint64_t{1}) | (unassured ? 1 : 0)) ^ kSummaryUnknown;
  }
  // Bucket b's word decoded (summary_ must be set), and its two parts.
  uint64_t Summary(uint32_t b) const { return summary_[b] ^ kSummaryUnknown; }
  static Timestamp WordBound(uint64_t s) { return static_cast<Timestamp>(s & ~uint64_t{1}); }
  static bool WordUnassured(uint64_t s) { return (s & 1) != 0; }
  // Lowers bucket b's bound to `t` and, if `unassured`, sets its bit.
  void LowerSummary(uint32_t b, Timestamp t, bool unassured) {
    const uint64_t s = Summary(b);
    summary_[b] = EncodeSummary(std::min(WordBound(s), t), WordUnassured(s) || unassured);
  }
  // Delete() of a confirmed entry whose tuples hash to `ho` (original) and `hr` (reply).
  void DeleteHashed(uint32_t idx, uint64_t ho, uint64_t hr);
  // False when `node` is not in bucket b's chain.
  bool Unlink(uint32_t b, NodeRef node);
  // Sets indexed_ for a table that may hold `entries` (0: no limit), and sizes the index: for
  // `entries` when it does not grow, else for a start.
  void ChooseLookup(uint32_t entries, bool grows);
  // Adds both nodes of every linked entry but `skip` to a fresh index of `groups` groups (a
  // table without a max, when its index is 3/4 full).
  void RebuildIndex(uint32_t groups, uint32_t skip);
  NodeRef FindInChain(uint64_t h, const Tuple& t, Timestamp now, uint64_t* reaped,
                      uint32_t* first_reaped);
  NodeRef FindInIndex(uint64_t h, const Tuple& t, Timestamp now, uint64_t* reaped,
                      uint32_t* first_reaped);
  NodeRef ReapIfExpired(NodeRef n, Timestamp now, uint64_t* reaped, uint32_t* first_reaped);
  void AddChunk();
  // Entry memory: the chunks, but of a small table's first chunk (sized for the worst mix of
  // singles and pairs, AddChunk) only the slots handed out, the rest never being touched.
  size_t ChunkBytesUsed() const {
    return first_chunk_slots_ < kChunk ? static_cast<size_t>(high_water_) * sizeof(Slot)
                                       : chunk_bytes_;
  }
  // True when `t` equals the reply tuple of entry `idx` (`ct`), without building it in the
  // common case.
  bool ReplyMatches(uint32_t idx, const Conn& ct, const Tuple& t) const;
  // The entry's side record, made on first use.
  Extra& ExtraOf(uint32_t idx);

  uint32_t nbuckets_;
  uint32_t max_;
  std::atomic<uint32_t> count_{0};
  CountPool* pool_ = nullptr;  // shards only
  uint32_t quota_ = 0;         // entries reserved from pool_ (count_ <= quota_ outside Allocate)
  uint32_t high_water_ = 0;    // slot indices below this have been handed out at least once
  uint32_t free_one_ = kNil;   // free single slots, chained through links_[idx]
  uint32_t free_pair_ = kNil;  // free pairs (their first slot), chained the same way
  // Link() and DeleteHashed() calls so far, for FindProbed. (ChooseLookup, which resets the
  // index, runs before the first entry, when no probe can be outstanding.)
  uint64_t links_added_ = 0;
  uint64_t links_removed_ = 0;
  uint64_t key_[6];
  bool constant_hash_ = false;
  DeleteObserver* observer_ = nullptr;
  std::vector<NodeRef, TableArrayAllocator<NodeRef>> heads_;
  // Chain links, one per slot, kept apart from the entries so that walks read 4 bytes per foreign
  // node: links_[idx] follows the original node of entry idx (and chains the free lists); the
  // reply node's link is links_[idx + 1] for a pair (its second slot's place) and rlinks_[idx]
  // for a single. So a table of pairs reads one dense array, and no link place goes unused
  // there: rlinks_ stays empty until a single is handed out (AllocEntry), then covers every
  // slot up to links_.size() (a single may sit at any slot).
  std::vector<NodeRef, TableArrayAllocator<NodeRef>> links_;
  std::vector<NodeRef, TableArrayAllocator<NodeRef>> rlinks_;
  // Every linked node by its tuple hash (core/tag_index.h), kept when indexed_: what lookups
  // read in a table whose chains can grow long (kIndexOn).
  TagIndex index_;
  bool indexed_ = false;
  bool index_grows_ = false;  // no max, or a shard: the index doubles when 3/4 full
  uint32_t lookup_mode_;      // Config::ctrack_lookup_index
  std::vector<std::unique_ptr<Slot, ChunkFree>> chunks_;
  size_t chunk_bytes_ = 0;  // bytes held by chunks_
  // Marks and stored reply tuples of imported entries, by entry index; an entry is here iff
  // its l4flags has kConnHasExtra.
  std::unordered_map<uint32_t, Extra> extra_;
  uint32_t stored_replies_ = 0;
  // Slots of a table whose first chunk is smaller than kChunk (a small max); kChunk otherwise.
  uint32_t first_chunk_slots_ = kChunk;
  // One word a bucket once StartSummaries() ran (zero pages from calloc, so a large table pays
  // for the lines early drop touches, not for all of them at once); null before.
  struct SummaryFree {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint64_t[], SummaryFree> summary_;
  bool summaries_allowed_;  // Config::ctrack_bucket_summaries
};

}  // namespace ctrack

#endif  // CTRACK_CORE_TABLE_H_
