// The lookup index: every linked node of the table, found from its tuple hash by reading one
// cache line.
//
// The kernel's chains (Table's heads and links) keep the order that early drop, the GC and the
// listings walk, and they are as long as nf_conntrack_max / nf_conntrack_buckets makes them: two
// nodes a bucket at the kernel's default, sixteen at the "max = 8 x buckets" rule of thumb, more
// under a flood. A lookup that walked them paid one dependent miss per node ahead of its own.
// This index is sized by the number of nodes instead, and a lookup reads one group (64 bytes:
// twelve 7-bit tags and the twelve node references), then goes straight to the entry whose tag
// matches. Only insert and delete touch both structures.
//
// Layout:
//   Group { uint8_t tag[12]; uint8_t overflow; uint8_t pad[3]; NodeRef ref[12]; }   // 64 bytes
//   tag:      0 for a free slot, else 0x80 | the low 7 bits of the node's tuple hash
//   home:     the group a node's hash names (multiply-shift of the hash's low 32 bits; the
//             bucket uses the high 32); a full group sends a node on to the next one, wrapping
//   overflow: how many nodes whose home is this group or an earlier one sit beyond it
//             (linear probing, F14-style): a lookup stops at the first group whose count is 0.
//             The count saturates at 255 and is then never decreased, which only makes lookups
//             look further than needed.
//
// Invariants:
//  - Each node in the index sits in its home group or in one of the groups after it, and every
//    group from its home up to (not including) its own has overflow >= 1 on its account.
//  - size() <= capacity() * 3 / 4 after every Insert(); the owner grows the index (Rebuild with
//    more groups) before that would break.
#ifndef CTRACK_CORE_TAG_INDEX_H_
#define CTRACK_CORE_TAG_INDEX_H_

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/prefetch.h"

namespace ctrack {

using NodeRef = uint32_t;

class TagIndex {
 public:
  static constexpr uint32_t kSlots = 12;
  struct alignas(64) Group {
    uint8_t tag[kSlots];
    uint8_t overflow;
    uint8_t pad[3];
    NodeRef ref[kSlots];
  };
  static_assert(sizeof(Group) == 64, "one cache line");

  // An empty index of `groups` groups (at least 1).
  void Reset(uint32_t groups);

  uint32_t groups() const { return ngroups_; }
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return ngroups_ * kSlots; }
  // True when one more node would take the load past 3/4.
  bool NeedsGrowth() const { return (size_ + 1) * 4 > capacity() * 3; }
  size_t memory_bytes() const { return static_cast<size_t>(ngroups_) * sizeof(Group); }

  static uint8_t TagOf(uint64_t h) { return static_cast<uint8_t>(0x80 | (h & 0x7f)); }
  uint32_t HomeOf(uint64_t h) const {
    return static_cast<uint32_t>((h & 0xffffffffu) * ngroups_ >> 32);
  }
  uint32_t Next(uint32_t g) const { return g + 1 == ngroups_ ? 0 : g + 1; }
  const Group& group(uint32_t g) const { return groups_[g]; }
  void Prefetch(uint64_t h) const { PrefetchLine(&groups_[HomeOf(h)]); }

  // Bit i set when slot i of `g` holds `tag`. The 16-byte load reads the overflow and pad bytes
  // too; the mask drops them.
  static uint32_t Match(const Group& g, uint8_t tag) {
#if defined(__SSE2__)
    const __m128i tags = _mm_load_si128(reinterpret_cast<const __m128i*>(g.tag));
    const __m128i want = _mm_set1_epi8(static_cast<char>(tag));
    const uint32_t m = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(tags, want)));
    return m & ((1u << kSlots) - 1);
#else
    uint32_t m = 0;
    for (uint32_t i = 0; i < kSlots; ++i) m |= static_cast<uint32_t>(g.tag[i] == tag) << i;
    return m;
#endif
  }

  // Adds node `n` of hash `h`. The caller has made room (NeedsGrowth() was false).
  void Insert(uint64_t h, NodeRef n);
  // Removes node `n` of hash `h`; false when it is not there.
  bool Erase(uint64_t h, NodeRef n);

 private:
  struct GroupFree {
    void operator()(Group* p) const;
  };
  std::unique_ptr<Group[], GroupFree> groups_;
  uint32_t ngroups_ = 0;
  uint32_t size_ = 0;
};

}  // namespace ctrack

#endif  // CTRACK_CORE_TAG_INDEX_H_
