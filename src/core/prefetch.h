// PrefetchLine(p): asks for the cache line holding p, for reading, without waiting for it;
// PrefetchLineForWrite(p) for writing (the line comes exclusive, so the store needs no upgrade).
//
// An asm statement on x86-64, not __builtin_prefetch: GCC 12 deleted the builtin in
// RunBatch's new-connection pass (Table::PrefetchNew, whose only effect is its prefetches, after
// the out-of-line Table::Hash of the reply tuple), and the reply bucket's head then missed in
// Table::Link on every new connection, about 150 ns each in `ctrack bench new`. A volatile asm
// cannot be removed. Elsewhere the builtin, which is at worst a no-op.
#ifndef CTRACK_CORE_PREFETCH_H_
#define CTRACK_CORE_PREFETCH_H_

#include <cstddef>
#include <cstdint>

namespace ctrack {

inline void PrefetchLine(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

inline void PrefetchLineForWrite(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1);
#endif
}

// Prefetches the lines of [p, p + len) after the one holding p (whose load is already on its
// way, or done, wherever this is called), at most max_lines of them.
inline void PrefetchRestOf(const void* p, size_t len, size_t max_lines) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first = begin & ~uintptr_t{63};
  uintptr_t end = begin + len;
  if (end - first > 64 * max_lines) end = first + 64 * max_lines;
  for (uintptr_t line = first + 64; line < end; line += 64) {
    PrefetchLine(reinterpret_cast<const void*>(line));
  }
}

}  // namespace ctrack

#endif  // CTRACK_CORE_PREFETCH_H_
