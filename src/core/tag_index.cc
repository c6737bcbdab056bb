#include "core/tag_index.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/dcheck.h"
#include "core/table.h"

namespace ctrack {

void TagIndex::GroupFree::operator()(Group* p) const { FreeTableArray(p); }

void TagIndex::Reset(uint32_t groups) {
  if (groups == 0) groups = 1;
  const size_t bytes = static_cast<size_t>(groups) * sizeof(Group);
  // From one huge page on, AllocTableArray() (2 MiB aligned, offered to huge pages); below,
  // just line-aligned. FreeTableArray() frees either.
  void* p =
      bytes >= (2u << 20) ? AllocTableArray(bytes) : std::aligned_alloc(alignof(Group), bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  groups_.reset(static_cast<Group*>(p));
  ngroups_ = groups;
  size_ = 0;
}

void TagIndex::Insert(uint64_t h, NodeRef n) {
  CTRACK_DCHECK(size_ < capacity());
  const uint8_t tag = TagOf(h);
  uint32_t g = HomeOf(h);
  for (;;) {
    Group& grp = groups_[g];
    const uint32_t free = Match(grp, 0);
    if (free != 0) {
      const uint32_t slot = static_cast<uint32_t>(__builtin_ctz(free));
      grp.tag[slot] = tag;
      grp.ref[slot] = n;
      ++size_;
      return;
    }
    if (grp.overflow != 255) ++grp.overflow;
    g = Next(g);
  }
}

bool TagIndex::Erase(uint64_t h, NodeRef n) {
  const uint8_t tag = TagOf(h);
  const uint32_t home = HomeOf(h);
  uint32_t g = home;
  for (uint32_t probes = 0; probes < ngroups_; ++probes) {
    Group& grp = groups_[g];
    for (uint32_t m = Match(grp, tag); m != 0; m &= m - 1) {
      const uint32_t slot = static_cast<uint32_t>(__builtin_ctz(m));
      if (grp.ref[slot] != n) continue;
      grp.tag[slot] = 0;
      --size_;
      // The groups it passed on its way here no longer count it.
      for (uint32_t p = home; p != g; p = Next(p)) {
        if (groups_[p].overflow != 255) --groups_[p].overflow;
      }
      return true;
    }
    if (grp.overflow == 0) return false;
    g = Next(g);
  }
  return false;
}

}  // namespace ctrack
