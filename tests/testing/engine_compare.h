// Differential tests of two engines fed the same packets (one configured or driven differently,
// with results that must not differ): the counters both must end with.
#ifndef CTRACK_TESTS_TESTING_ENGINE_COMPARE_H_
#define CTRACK_TESTS_TESTING_ENGINE_COMPARE_H_

#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

namespace ctrack::testing {

// The kernel's stat counters that a table-full or expiring run moves, and the engine's own
// creation, expiry and GC eviction counts.
inline void ExpectSameCounters(const Conntrack& a, const Conntrack& b) {
  EXPECT_EQ(a.stats().early_drop, b.stats().early_drop);
  EXPECT_EQ(a.stats().drop, b.stats().drop);
  EXPECT_EQ(a.stats().invalid, b.stats().invalid);
  EXPECT_EQ(a.stats().insert_failed, b.stats().insert_failed);
  EXPECT_EQ(a.counters().created, b.counters().created);
  EXPECT_EQ(a.counters().expired, b.counters().expired);
  EXPECT_EQ(a.counters().gc_early_drop, b.counters().gc_early_drop);
}

}  // namespace ctrack::testing

#endif  // CTRACK_TESTS_TESTING_ENGINE_COMPARE_H_
