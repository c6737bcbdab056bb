// "Who fills the table", one entry at a time: the breakdowns of an Attribution (state,
// protocol, source and destination /24 or /64, destination port, heaviest sources, zone) and
// the stale / orphan detectors, with memory bounded whatever the number of entries. Simulate()
// feeds it a table snapshot; `ctrack status` feeds it a ctnetlink dump as it streams.
//
// Bounded counting: each dimension keeps at most `capacity` keys (Misra-Gries summary). While a
// dimension has seen no more distinct keys than that, its counts are exact (exact() is true);
// past it, every kept count is an under-estimate by at most N / (capacity + 1) (N: entries
// added) and every key with more than that share is kept, so the heavy hitters are never lost.
#ifndef CTRACK_SIM_BREAKDOWN_H_
#define CTRACK_SIM_BREAKDOWN_H_

#include <ctrack/config.h>
#include <ctrack/entry.h>

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/sim.h"

namespace ctrack {

// A dimension key: up to 16 address bytes plus a family/protocol/port tag, compared as bytes.
struct BreakdownKey {
  uint8_t b[20];
  friend bool operator==(const BreakdownKey& x, const BreakdownKey& y);
};
struct BreakdownKeyHash {
  size_t operator()(const BreakdownKey& k) const;
};

// Misra-Gries heavy-hitter summary over BreakdownKey, in one flat open-addressing table (linear
// probing, at most half full) allocated once: no allocation per Add.
class BoundedCounter {
 public:
  explicit BoundedCounter(size_t capacity);
  void Add(const BreakdownKey& k);
  bool exact() const { return !overflowed_; }
  uint64_t max_error() const { return decrements_; }  // bound on any count's under-estimate
  size_t size() const { return used_; }
  uint64_t Get(const BreakdownKey& k) const;  // 0 when not kept
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Slot& s : slots_) {
      if (s.n) fn(s.k, s.n);
    }
  }
  void Clear();

 private:
  struct Slot {
    BreakdownKey k;
    uint32_t n;  // 0: empty (a table never holds 2^32 entries)
  };
  size_t Find(
      const BreakdownKey& k) const;  // the slot holding k, or the empty slot ending its probe
  size_t capacity_;
  size_t mask_;
  size_t used_ = 0;
  size_t last_ = 0;  // the slot of the previous Add: dumps often repeat a key (one port, one zone)
  bool overflowed_ = false;
  uint64_t decrements_ = 0;
  std::vector<Slot> slots_, scratch_;
};

// What the stale detectors know about time. A replay knows each entry's creation and last
// packet; a live dump knows only the timeout left (and the creation time with
// nf_conntrack_timestamp=1), so the idle time is the state's full timeout minus what is left:
// every packet re-arms the timeout to the full value (nf_ct_refresh_acct()).
struct EntryTimes {
  bool known_created = false;
  Timestamp age_ns = 0;  // now - creation (when known)
  bool known_idle = false;
  Timestamp idle_ns = 0;  // now - last packet (when known)
};

class TableBreakdown {
 public:
  // `cfg` gives the timeouts the live idle inference uses; stale_factor / orphan_idle_s /
  // examples as SimOptions.
  TableBreakdown(const Config& cfg, double stale_factor, double orphan_idle_s, uint32_t examples,
                 size_t capacity = 4096);
  // Discards everything (a dump restarted after NLM_F_DUMP_INTR).
  void Reset();
  // One entry with its times.
  void Add(const ConnInfo& ci, const EntryTimes& t);
  // One live entry: its times inferred from the timeout left (see EntryTimes) and, with
  // timestamps, its creation time against `now_realtime_ns`.
  void AddLive(const ConnInfo& ci, uint64_t now_realtime_ns);

  uint64_t entries() const { return entries_; }
  const std::array<uint64_t, kCatCount>& by_category() const { return by_cat_; }
  // The ranked tables (top `top` rows each; by_state has every category).
  Attribution Result(uint32_t top) const;
  // Zones, ranked ("0", "3", ...).
  Ranked Zones(uint32_t top) const;
  // The four stale classes, as Simulate() reports them.
  std::vector<StaleClass> Stale() const;
  // Whether every dimension was counted exactly, and the largest possible under-estimate.
  bool exact() const;
  uint64_t max_error() const;
  // Approximate bytes held (bounded by capacity, independent of entries()).
  size_t memory_bytes() const;
  // Heavy UDP flows to one destination port that no reply ever answered or that are DNS-like:
  // (proto/port, entries) for NOTRACK advice, from the destination-port dimension.
  Ranked HeavyPorts(uint32_t top) const { return Result(top).dst_port; }

 private:
  Config cfg_;
  double stale_factor_, orphan_idle_s_;
  uint32_t examples_;
  uint64_t entries_ = 0;
  std::array<uint64_t, kCatCount> by_cat_{};
  std::array<uint64_t, 256> by_proto_{};
  BoundedCounter src_, dst_, port_, host_, zone_, syn_victims_;
  StaleClass syn_, idle_, half_, udp_;
};

// "a.b.c.0/24" or "x:x:x:x::/64".
std::string PrefixName(uint8_t l3num, const uint8_t* addr);
// "tcp 10.0.0.1:123 -> 10.0.0.2:80 ESTABLISHED [ASSURED,...]".
std::string DescribeEntry(const ConnInfo& ci);

}  // namespace ctrack

#endif  // CTRACK_SIM_BREAKDOWN_H_
