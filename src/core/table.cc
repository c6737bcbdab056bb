#include "core/table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include "core/dcheck.h"

namespace ctrack {
namespace {

constexpr size_t kHugePage = 2u << 20;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// 64x64 -> 128 multiply folded to 64 bits: the mixing step of the keyed hash. A full-width
// multiply spreads every input bit over the result, and xoring key words in first means collisions
// depend on the secret key.
inline uint64_t Mum(uint64_t a, uint64_t b) {
  __extension__ using U128 = unsigned __int128;
  U128 r = static_cast<U128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

}  // namespace

// Only ICMP maps ids differently from a plain swap; stored (NAT) replies compare whole.
inline bool Table::ReplyMatches(uint32_t idx, const Conn& ct, const Tuple& t) const {
  if (__builtin_expect(ct.l4flags & kConnHasExtra, 0)) return Reply(idx) == t;
  const Tuple& o = ct.orig;
  if (t.protonum != o.protonum || t.l3num != o.l3num || t.zone != o.zone) return false;
  if (o.protonum == kProtoIcmp || o.protonum == kProtoIcmpv6) return Reply(idx) == t;
  return t.src_id == o.dst_id && t.dst_id == o.src_id &&
         std::memcmp(t.src, o.dst, sizeof(t.src)) == 0 &&
         std::memcmp(t.dst, o.src, sizeof(t.dst)) == 0;
}

Tuple Table::Reply(uint32_t idx) const {
  const Conn& ct = at(idx);
  if (ct.l4flags & kConnHasExtra) {
    const Extra& x = extra_.find(idx)->second;
    if (x.has_reply) return x.reply;
  }
  Tuple r;
  InvertTuple(ct.orig, &r);
  return r;
}

Table::Extra& Table::ExtraOf(uint32_t idx) {
  at(idx).l4flags |= kConnHasExtra;
  return extra_[idx];
}

void Table::SetStoredReply(uint32_t idx, const Tuple& reply) {
  Extra& x = ExtraOf(idx);
  stored_replies_ += !x.has_reply;
  x.has_reply = true;
  x.reply = reply;
}

uint32_t Table::Mark(uint32_t idx) const {
  if (!(at(idx).l4flags & kConnHasExtra)) return 0;
  return extra_.find(idx)->second.mark;
}

void Table::SetMark(uint32_t idx, uint32_t mark) {
  if (mark == 0 && !(at(idx).l4flags & kConnHasExtra)) return;
  ExtraOf(idx).mark = mark;
}

Table::Table(const Config& cfg)
    : nbuckets_(cfg.nf_conntrack_buckets),
      max_(cfg.nf_conntrack_max),
      lookup_mode_(cfg.ctrack_lookup_index),
      summaries_allowed_(cfg.ctrack_bucket_summaries != 0) {
  // Seed 0 selects a fixed key so that runs are reproducible by default.
  uint64_t state = cfg.hash_seed != 0 ? cfg.hash_seed : 0x63747261636b3031ull;  // "ctrack01"
  for (uint64_t& k : key_) k = SplitMix64(&state);
  heads_.assign(nbuckets_, kNil);
  ChooseLookup(max_, /*grows=*/max_ == 0);
}

void Table::ChooseLookup(uint32_t entries, bool grows) {
  CTRACK_DCHECK(high_water_ == 0);
  const uint64_t full_nodes = 2 * static_cast<uint64_t>(entries);
  indexed_ = lookup_mode_ == 1 ||
             (lookup_mode_ == 0 &&
              (entries == 0 || full_nodes >= static_cast<uint64_t>(kIndexOn) * nbuckets_));
  // Past 4 Mi entries (an index of 57 MiB) the index grows with the table rather than take its
  // whole size up front.
  constexpr uint32_t kMaxPresized = 1u << 22;
  grows = grows || entries > kMaxPresized;
  index_grows_ = grows;
  if (!indexed_) {
    index_ = TagIndex();
    return;
  }
  // Two nodes an entry, at a load of 3/4 at most; the one entry a packet may hold unconfirmed
  // is not linked.
  const uint64_t nodes = grows ? std::min<uint64_t>(full_nodes, 4096) + 2048 : full_nodes + 2;
  index_.Reset(static_cast<uint32_t>((nodes * 4 / 3 + TagIndex::kSlots) / TagIndex::kSlots));
}

void Table::RebuildIndex(uint32_t groups, uint32_t skip) {
  index_.Reset(groups);
  // Entry order, not chain order: the entries stream through the caches once.
  for (uint32_t idx = 0; idx < high_water_; idx = NextEntry(idx)) {
    const Conn& ct = at(idx);
    if (idx == skip || !(ct.status & kConfirmed)) continue;
    const uint64_t ho = Hash(ct.orig), hr = Hash(Reply(idx));
    index_.Insert(ho, NodeFor(idx, ct, Dir::kOriginal, ho));
    index_.Insert(hr, NodeFor(idx, ct, Dir::kReply, hr));
  }
}

uint64_t Table::Hash(const Tuple& t) const {
  if (constant_hash_) return 0;
  static_assert(sizeof(Tuple) == 5 * sizeof(uint64_t));
  // Five separate 8-byte loads: copied into an array at once, the tuple went through the stack
  // as two 16-byte halves and was read back in 8-byte pieces.
  const auto word = [&t](int i) {
    uint64_t v;
    std::memcpy(&v, reinterpret_cast<const uint8_t*>(&t) + 8 * i, sizeof(v));
    return v;
  };
  uint64_t h =
      Mum(word(0) ^ key_[0], word(1) ^ key_[1]) ^ Mum(word(2) ^ key_[2], word(3) ^ key_[3]);
  return Mum(h ^ key_[5], word(4) ^ key_[4]);
}

NodeRef Table::FindHashed(uint64_t h, const Tuple& t, Timestamp now, uint64_t* reaped,
                          uint32_t* first_reaped) {
  return indexed_ ? FindInIndex(h, t, now, reaped, first_reaped)
                  : FindInChain(h, t, now, reaped, first_reaped);
}

NodeRef Table::FindProbed(uint64_t h, const Tuple& t, const Probe& p, Timestamp now,
                          uint64_t* reaped, uint32_t* first_reaped) {
  if (p.absent) {
    if (p.added == links_added_) return kNil;
    if (!indexed_ && p.removed == links_removed_ && heads_[BucketOf(h)] == p.head) return kNil;
  }
  if (p.found && p.removed == links_removed_) {
    const uint32_t idx = NodeIndex(p.hit);
    const Conn& ct = at(idx);
    if (NodeDir(p.hit) == Dir::kOriginal ? ct.orig == t : ReplyMatches(idx, ct, t)) {
      return ReapIfExpired(p.hit, now, reaped, first_reaped);
    }
  }
  return FindHashed(h, t, now, reaped, first_reaped);
}

// Both lookups reap only the entry whose tuple they were asked for. The kernel's walk reaps every
// expired entry of the chain it passes (____nf_conntrack_find()), which depends on the chain's
// order and thus on the hash key; reaping only the match makes the table's count the same
// whichever structure serves the lookup, and the GC and early drop still reap the rest.
NodeRef Table::FindInChain(uint64_t h, const Tuple& t, Timestamp now, uint64_t* reaped,
                           uint32_t* first_reaped) {
  const uint32_t tag = TagOf(h);
  // The link to the next node is read only when the walk goes on: for the node that matches it
  // is not needed, and waiting for it (the links are a separate array) would add a miss.
  for (NodeRef n = heads_[BucketOf(h)]; n != kNil; n = LinkOf(n)) {
    if (NodeTag(n) != tag) continue;
    Conn& ct = at(NodeIndex(n));
    // Chain membership: a linked node is confirmed and lies in the bucket of its own tuple.
    CTRACK_DCHECK(ct.confirmed());
    CTRACK_DCHECK(Bucket(NodeDir(n) == Dir::kOriginal ? ct.orig : Reply(NodeIndex(n))) ==
                  BucketOf(h));
    if (NodeDir(n) == Dir::kOriginal ? ct.orig == t : ReplyMatches(NodeIndex(n), ct, t)) {
      return ReapIfExpired(n, now, reaped, first_reaped);
    }
  }
  return kNil;
}

NodeRef Table::FindInIndex(uint64_t h, const Tuple& t, Timestamp now, uint64_t* reaped,
                           uint32_t* first_reaped) {
  const uint8_t tag = TagIndex::TagOf(h);
  uint32_t g = index_.HomeOf(h);
  for (uint32_t probes = 0; probes < index_.groups(); ++probes) {
    const TagIndex::Group& grp = index_.group(g);
    for (uint32_t m = TagIndex::Match(grp, tag); m != 0; m &= m - 1) {
      const NodeRef n = grp.ref[__builtin_ctz(m)];
      const Conn& ct = at(NodeIndex(n));
      // Index membership: a node in the index is linked, hence confirmed.
      CTRACK_DCHECK(ct.confirmed());
      if (NodeDir(n) == Dir::kOriginal ? ct.orig == t : ReplyMatches(NodeIndex(n), ct, t)) {
        return ReapIfExpired(n, now, reaped, first_reaped);
      }
    }
    if (grp.overflow == 0) break;
    g = index_.Next(g);
  }
  return kNil;
}

// A tuple is in the table at most once in either direction (confirmation checks both), so the
// match found is the only one: expired, it goes, and the lookup finds nothing.
NodeRef Table::ReapIfExpired(NodeRef n, Timestamp now, uint64_t* reaped, uint32_t* first_reaped) {
  const uint32_t idx = NodeIndex(n);
  if (!Expired(at(idx), now)) return n;
  if (*first_reaped == kNil) *first_reaped = at(idx).id;
  Delete(idx);
  ++*reaped;
  return kNil;
}

namespace {
// What AllocTableArray() takes for `bytes`: whole huge pages from one huge page on.
size_t TableArrayFootprint(size_t bytes) {
  return bytes >= kHugePage ? (bytes + kHugePage - 1) / kHugePage * kHugePage : bytes;
}
}  // namespace

void* AllocTableArray(size_t bytes) {
  void* p;
  if (bytes >= kHugePage) {
    const size_t rounded = TableArrayFootprint(bytes);
    p = std::aligned_alloc(kHugePage, rounded);
    if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);
  } else {
    p = std::malloc(bytes == 0 ? 1 : bytes);
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void FreeTableArray(void* p) { std::free(p); }

void Table::AddChunk() {
  // A table limited below one chunk gets only what max can use. Live entries are at most max + 1
  // (the count may exceed max by one while early drop decides), single slots never serve pairs
  // nor pairs singles, and a pair taken at an odd high water leaves one single behind: at most
  // 2 (max + 1) single slots (each one made while all the others were in use, or as such a pad)
  // and max + 1 pairs.
  size_t n = kChunk;
  if (chunks_.empty() && max_ != 0 && 4 * (static_cast<size_t>(max_) + 1) < kChunk) {
    n = 4 * (static_cast<size_t>(max_) + 1);
    first_chunk_slots_ = static_cast<uint32_t>(n);
  }
  size_t bytes = n * sizeof(Slot);
  void* p = nullptr;
  if (n == kChunk) {
    p = std::aligned_alloc(kHugePage, bytes);
    if (p != nullptr) madvise(p, bytes, MADV_HUGEPAGE);
  } else {
    p = std::aligned_alloc(alignof(Slot), bytes);
  }
  if (p == nullptr) throw std::bad_alloc();
  chunks_.emplace_back(static_cast<Slot*>(p));
  chunk_bytes_ += bytes;
}

uint32_t Table::AllocEntry(uint8_t protonum) {
  const bool pair = ConnHasExt(protonum);
  uint32_t& free = pair ? free_pair_ : free_one_;
  uint32_t idx;
  if (free != kNil) {
    idx = free;
    free = links_[idx];
    CTRACK_DCHECK(at(idx).status == 0);  // a free entry has status 0
    CTRACK_DCHECK(ConnHasExt(at(idx).orig.protonum) == pair);
    // Freed entries come back in no useful order: fetch the next one now, for the next new
    // connection, instead of missing twice (its link, then the entry) when it comes.
    PrefetchAlloc(pair);
  } else {
    // A pair starts at an even slot, so that it never straddles two chunks; at an odd high
    // water the slot left over becomes a free single.
    const uint32_t pad = pair ? (high_water_ & 1) : 0;
    const uint32_t slots = pad + (pair ? 2 : 1);
    if (high_water_ > kMaxEntries - slots) {
      throw std::length_error("conntrack table: out of entry indices");
    }
    idx = high_water_ + pad;
    high_water_ += slots;
    while ((high_water_ - 1) / kChunk >= chunks_.size()) AddChunk();
    // AddChunk's bound; checked in every build, since at() would pass a small first chunk.
    if (chunks_.size() == 1 && high_water_ > first_chunk_slots_) {
      throw std::logic_error("conntrack table: first chunk overrun");
    }
    if (links_.size() < high_water_) {
      links_.resize(static_cast<size_t>(chunks_.size()) * kChunk, kNil);
    }
    if (pad != 0) {
      // Its reply link place is made when it is handed out, below.
      std::memset(static_cast<void*>(&at(idx - 1)), 0, sizeof(Slot));
      links_[idx - 1] = free_one_;
      free_one_ = idx - 1;
    }
  }
  Conn& ct = at(idx);
  std::memset(static_cast<void*>(&ct), 0, pair ? 2 * sizeof(Slot) : sizeof(Slot));
  ct.orig.protonum = protonum;
  links_[idx] = kNil;
  if (pair) {
    links_[idx + 1] = kNil;
  } else {
    // A table of pairs alone (TCP, SCTP) never needs rlinks_: it grows with links_ from the
    // first single on.
    if (rlinks_.size() <= idx) rlinks_.resize(links_.size(), kNil);
    rlinks_[idx] = kNil;
  }
  return idx;
}

void Table::FreeEntry(uint32_t idx) {
  Conn& ct = at(idx);
  // orig.protonum stays: it tells a walk in slot order whether a second slot follows.
  ct.status = 0;
  if (ct.l4flags & kConnHasExtra) {
    auto it = extra_.find(idx);
    stored_replies_ -= it->second.has_reply;
    extra_.erase(it);
    ct.l4flags = 0;
  }
  uint32_t& free = ConnHasExt(ct.orig.protonum) ? free_pair_ : free_one_;
  links_[idx] = free;
  free = idx;
}

void Table::Link(uint32_t idx, uint64_t ho, Timestamp bound) {
  Conn& ct = at(idx);
  // Linked iff confirmed: the caller confirms first; `ho` is the hash of the original tuple.
  CTRACK_DCHECK(ct.confirmed());
  CTRACK_DCHECK(ho == Hash(ct.orig));
  // Only a table without a max grows its index (a max sized it for good). Doubling keeps the
  // rebuilds' cost at a constant per entry; `idx` is confirmed already and goes in below.
  if (indexed_ && (index_.size() + 2) * 4 > index_.capacity() * 3) {
    CTRACK_DCHECK(index_grows_);
    RebuildIndex(2 * index_.groups(), idx);
  }
  ++links_added_;
  const uint32_t bo = BucketOf(ho);
  const NodeRef no = NodeFor(idx, ct, Dir::kOriginal, ho);
  links_[idx] = heads_[bo];
  heads_[bo] = no;
  if (indexed_) index_.Insert(ho, no);
  const uint64_t hr = Hash(Reply(idx));
  const uint32_t br = BucketOf(hr);
  const NodeRef nr = NodeFor(idx, ct, Dir::kReply, hr);
  LinkOf(nr) = heads_[br];
  heads_[br] = nr;
  if (indexed_) index_.Insert(hr, nr);
  if (summary_ != nullptr) {
    const bool unassured = !ct.assured();
    LowerSummary(bo, bound, unassured);
    LowerSummary(br, bound, unassured);
  }
}

void Table::StartSummaries() {
  if (summary_ != nullptr || !summaries_allowed_) return;
  summary_.reset(static_cast<uint64_t*>(std::calloc(nbuckets_, sizeof(uint64_t))));
  if (summary_ == nullptr) throw std::bad_alloc();
}

void Table::ResetSummaries() {
  if (summary_ != nullptr) std::memset(summary_.get(), 0, size_t{nbuckets_} * sizeof(uint64_t));
}

void Table::ExpiryLowered(uint32_t idx) {
  if (summary_ == nullptr) return;
  const Conn& ct = at(idx);
  CTRACK_DCHECK(ct.confirmed());
  const bool unassured = !ct.assured();
  LowerSummary(BucketOf(Hash(ct.orig)), ct.expires, unassured);
  LowerSummary(BucketOf(Hash(Reply(idx))), ct.expires, unassured);
}

bool Table::Unlink(uint32_t b, NodeRef node) {
  NodeRef* link = &heads_[b];
  while (*link != kNil) {
    if (*link == node) {
      *link = LinkOf(node);
      return true;
    }
    link = &LinkOf(*link);
  }
  return false;
}

void Table::Delete(uint32_t idx) {
  const Conn& ct = at(idx);
  if (ct.status & kConfirmed) {
    DeleteHashed(idx, Hash(ct.orig), Hash(Reply(idx)));
  } else {
    FreeEntry(idx);
    DecCount();
  }
}

void Table::DeleteMany(std::span<const uint32_t> idx) {
  constexpr size_t kStep = 32;
  // Unlinking walks each of the entry's two chains from its head to the node; an expiring entry
  // is usually old and so deep in them. The walks of a step advance together, one link a pass,
  // so that their misses overlap; `at_node[j]` is where walk j has got to (kNil: at its end or
  // at its node, nothing left to fetch).
  constexpr int kLevels = 3;
  uint64_t ho[kStep], hr[kStep];
  NodeRef want[2 * kStep], at_node[2 * kStep];
  for (size_t base = 0; base < idx.size(); base += kStep) {
    const size_t n = std::min(kStep, idx.size() - base);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t e = idx[base + i];
      const Conn& ct = at(e);
      want[2 * i] = want[2 * i + 1] = at_node[2 * i] = at_node[2 * i + 1] = kNil;
      if (!ct.confirmed()) continue;
      ho[i] = Hash(ct.orig);
      hr[i] = Hash(Reply(e));
      want[2 * i] = NodeFor(e, ct, Dir::kOriginal, ho[i]);
      want[2 * i + 1] = NodeFor(e, ct, Dir::kReply, hr[i]);
      PrefetchLineForWrite(&heads_[BucketOf(ho[i])]);
      PrefetchLineForWrite(&heads_[BucketOf(hr[i])]);
      if (indexed_) {
        PrefetchLineForWrite(&index_.group(index_.HomeOf(ho[i])));
        PrefetchLineForWrite(&index_.group(index_.HomeOf(hr[i])));
      }
    }
    for (int level = 0; level < kLevels; ++level) {
      for (size_t j = 0; j < 2 * n; ++j) {
        if (want[j] == kNil) continue;
        NodeRef c;
        if (level == 0) {
          c = heads_[BucketOf((j & 1) ? hr[j / 2] : ho[j / 2])];
        } else if (at_node[j] == kNil) {
          continue;
        } else {
          c = LinkOf(at_node[j]);
        }
        // The link of the node before ours is the one Unlink() rewrites.
        at_node[j] = c == want[j] ? kNil : c;
        if (at_node[j] != kNil) PrefetchLineForWrite(&LinkOf(c));
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const uint32_t e = idx[base + i];
      if (at(e).confirmed()) {
        DeleteHashed(e, ho[i], hr[i]);
      } else {
        Delete(e);  // not linked: nothing was fetched for it
      }
    }
  }
}

void Table::DeleteHashed(uint32_t idx, uint64_t ho, uint64_t hr) {
  Conn& ct = at(idx);
  CTRACK_DCHECK(ct.confirmed() && ho == Hash(ct.orig) && hr == Hash(Reply(idx)));
  if (observer_ != nullptr) observer_->OnDelete(idx, ct);
  ++links_removed_;
  // A confirmed entry is in both chains and in the index (linked iff confirmed).
  const NodeRef no = NodeFor(idx, ct, Dir::kOriginal, ho);
  const NodeRef nr = NodeFor(idx, ct, Dir::kReply, hr);
  const bool orig_found = Unlink(BucketOf(ho), no) && (!indexed_ || index_.Erase(ho, no));
  const bool reply_found = Unlink(BucketOf(hr), nr) && (!indexed_ || index_.Erase(hr, nr));
  CTRACK_DCHECK(orig_found && reply_found);
  (void)orig_found;
  (void)reply_found;
  FreeEntry(idx);
  DecCount();
}

uint32_t Table::ChainLength(uint32_t b) const {
  uint32_t n = 0;
  ForEachNode(b, [&](NodeRef) { ++n; });
  return n;
}

size_t Table::memory_bytes() const {
  return TableArrayFootprint(heads_.capacity() * sizeof(NodeRef)) +
         TableArrayFootprint(links_.capacity() * sizeof(NodeRef)) +
         TableArrayFootprint(rlinks_.capacity() * sizeof(NodeRef)) +
         TableArrayFootprint(index_.memory_bytes()) + ChunkBytesUsed() +
         chunks_.capacity() * sizeof(chunks_[0]) +
         extra_.size() * (sizeof(Extra) + 2 * sizeof(void*)) +
         extra_.bucket_count() * sizeof(void*) +
         (summary_ != nullptr ? static_cast<size_t>(nbuckets_) * sizeof(uint64_t) : 0);
}

}  // namespace ctrack
