// CTRACK_DCHECK(cond): a checked invariant of the engine's own data structures, compiled in debug
// builds only (CTRACK_DCHECK_ON, set by the debug preset with the sanitizers), where a broken one
// stops the program with the condition, file and line. Never for input: untrusted bytes are
// counted or refused, not asserted (docs/style.md, "Errors").
#ifndef CTRACK_CORE_DCHECK_H_
#define CTRACK_CORE_DCHECK_H_

#if defined(CTRACK_DCHECK_ON) && CTRACK_DCHECK_ON
#include <cassert>
// glibc's assert() reporter, which prints and aborts; used directly so that NDEBUG (set by the
// optimised builds) does not turn the check off when CTRACK_DCHECK_ON asks for it.
#define CTRACK_DCHECK(cond) \
  ((cond) ? static_cast<void>(0) : __assert_fail(#cond, __FILE__, __LINE__, __func__))
#else
// Not evaluated, but still compiled, so that it cannot rot.
#define CTRACK_DCHECK(cond) static_cast<void>(sizeof(!(cond)))
#endif

#endif  // CTRACK_CORE_DCHECK_H_
