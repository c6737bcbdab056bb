// Overload policies beyond the kernel's early drop, selected by the ctrack_* settings of Config.
//
// One class implements every mode so that per-source limits combine with any overload policy:
//   1 adaptive   pf's "adaptive.start/end": every timeout set while the table holds more than
//                start_pct % of max is scaled by (end - count) / (end - start), never below 1 s.
//   2 emergency  Suricata's emergency mode: entered when the fill reaches end_pct, left only when
//                it falls below start_pct (hysteresis); while on, timeouts are emergency_pct %
//                (never below 1 s).
//   Both replace early drop: a full table first reclaims an expired entry (shortened timeouts
//   would not make room otherwise: the kernel reaps only in the GC and the lookup's bucket),
//   else evicts like the kernel (a non-ASSURED entry from a few buckets). The engine counts
//   either as early_drop.
//   3 oldest     instead of early drop, evict the oldest entry that is not ASSURED: a FIFO of
//                (index, creation id) in confirmation order, invalidated lazily (a slot whose
//                entry was deleted or reused, or that became ASSURED, is skipped and popped).
//   4 (or any)   per-source limits: at most ctrack_per_source_max entries whose original source
//                falls in one /prefix4 (IPv4) or /prefix6 (IPv6); more are refused like a full
//                table.
#include "core/policy.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/table.h"

namespace ctrack {
namespace {

constexpr uint32_t kNone = 0xffffffffu;

// A source prefix as a hashable key: the masked address plus family and length.
struct PrefixKey {
  uint64_t hi, lo;
  friend bool operator==(const PrefixKey& a, const PrefixKey& b) {
    return a.hi == b.hi && a.lo == b.lo;
  }
};
struct PrefixHash {
  size_t operator()(const PrefixKey& k) const {
    uint64_t h = (k.hi ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    h ^= (k.lo + (h >> 29)) * 0x94d049bb133111ebull;
    return static_cast<size_t>(h ^ (h >> 31));
  }
};

class CtrackPolicy final : public OverloadPolicy {
 public:
  explicit CtrackPolicy(const Config& cfg)
      : mode_(cfg.ctrack_overload_policy),
        start_pct_(cfg.ctrack_policy_start_pct),
        end_pct_(std::max(cfg.ctrack_policy_end_pct, cfg.ctrack_policy_start_pct + 1)),
        emergency_pct_(cfg.ctrack_policy_emergency_pct),
        per_source_max_(cfg.ctrack_per_source_max),
        prefix4_(cfg.ctrack_per_source_prefix4),
        prefix6_(cfg.ctrack_per_source_prefix6) {}

  bool Admit(const Tuple& t) override {
    if (per_source_max_ == 0) return true;
    auto it = per_source_.find(Key(t));
    return it == per_source_.end() || it->second < per_source_max_;
  }

  bool ReplacesEarlyDrop() const override { return mode_ >= 1 && mode_ <= 3; }

  uint32_t PickVictim(Table& table, Timestamp now) override {
    if (mode_ == 3) {
      while (!fifo_.empty()) {
        auto [idx, id] = fifo_.front();
        fifo_.pop_front();
        if (idx >= current_.size() || current_[idx] != id) continue;  // deleted or reused
        if (table.at(idx).assured()) continue;  // never becomes unassured again
        return idx;
      }
      return kNoVictim;
    }
    // Adaptive and emergency: shortened timeouts only help if expired entries make room, so
    // first reclaim an expired entry (a bounded walk from the FIFO's old end, live ones rotated to
    // the back), then fall back to the kernel's early drop over a few buckets.
    for (uint32_t step = 0; step < kReclaimScan && !fifo_.empty(); ++step) {
      auto [idx, id] = fifo_.front();
      fifo_.pop_front();
      if (idx >= current_.size() || current_[idx] != id) continue;
      if (Table::Expired(table.at(idx), now)) return idx;
      fifo_.emplace_back(idx, id);
    }
    uint32_t nb = table.buckets();
    cursor_ = cursor_ * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t start = static_cast<uint32_t>((cursor_ >> 32) * nb >> 32);
    for (uint32_t i = 0; i < kEvictionRange && i < nb; ++i) {
      uint32_t victim = kNoVictim;
      table.ForEachNode((start + i) % nb, [&](NodeRef n) {
        const Conn& ct = table.at(NodeIndex(n));
        if (victim == kNoVictim && CanEarlyDrop(ct.orig.protonum, ct.status, ct.state, false)) {
          victim = NodeIndex(n);
        }
      });
      if (victim != kNoVictim) return victim;
    }
    return kNoVictim;
  }

  Timestamp ScaleTimeout(Timestamp timeout_ns, uint32_t count, uint32_t max) override {
    if (max == 0) return timeout_ns;
    // Fill in hundredths of a percent, without overflow for any max.
    uint64_t fill = static_cast<uint64_t>(count) * 10000 / max;
    uint64_t start = start_pct_ * 100ull, end = end_pct_ * 100ull;
    if (mode_ == 1) {
      if (fill <= start) return timeout_ns;
      Timestamp floor = std::min<Timestamp>(timeout_ns, kMinTimeout);
      if (fill >= end) return floor;
      return std::max<Timestamp>(floor,
                                 static_cast<Timestamp>(static_cast<long double>(timeout_ns) *
                                                        static_cast<long double>(end - fill) /
                                                        static_cast<long double>(end - start)));
    }
    if (mode_ == 2) {
      if (!emergency_ && fill >= end) emergency_ = true;
      if (emergency_ && fill < start) emergency_ = false;
      if (!emergency_) return timeout_ns;
      return std::max<Timestamp>(std::min<Timestamp>(timeout_ns, kMinTimeout),
                                 timeout_ns / 100 * emergency_pct_);
    }
    return timeout_ns;
  }

  void OnConfirm(uint32_t idx, const Conn& ct) override {
    if (per_source_max_ != 0) ++per_source_[Key(ct.orig)];
    if (mode_ < 1 || mode_ > 3) return;
    if (idx >= current_.size())
      current_.resize(std::max<size_t>(idx + 1, current_.size() * 2), kNone);
    current_[idx] = ct.id;
    ++live_;
    fifo_.emplace_back(idx, ct.id);
    // Stale slots pile up when nothing is evicted; squeeze them out once they outnumber the live
    // ones, which keeps the FIFO within twice the table and the cost O(1) amortised.
    if (fifo_.size() > 2 * static_cast<size_t>(live_) + 1024) {
      std::erase_if(fifo_, [&](const std::pair<uint32_t, uint32_t>& s) {
        return current_[s.first] != s.second;
      });
    }
  }

  void OnDelete(uint32_t idx, const Conn& ct) override {
    if (per_source_max_ != 0) {
      auto it = per_source_.find(Key(ct.orig));
      if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
    }
    if (idx < current_.size() && current_[idx] == ct.id) {
      current_[idx] = kNone;
      --live_;
    }
  }

  bool emergency() const { return emergency_; }

 private:
  PrefixKey Key(const Tuple& t) const {
    uint8_t a[16];
    std::memcpy(a, t.src, 16);
    uint32_t bits = t.l3num == kAfInet ? prefix4_ : prefix6_;
    uint32_t total = t.l3num == kAfInet ? 32 : 128;
    for (uint32_t b = bits; b < total; ++b) a[b / 8] &= static_cast<uint8_t>(~(0x80u >> (b % 8)));
    PrefixKey k;
    std::memcpy(&k.hi, a, 8);
    std::memcpy(&k.lo, a + 8, 8);
    k.hi ^= static_cast<uint64_t>(t.l3num) << 56;  // keep families apart
    return k;
  }

  // Shortened timeouts never go below this (or the original timeout if shorter), so that a
  // connection can complete its handshake even in a full table.
  static constexpr Timestamp kMinTimeout = kNsPerSec;
  static constexpr uint32_t kReclaimScan = 64;

  uint32_t mode_;
  uint64_t cursor_ = 0x853c49e6748fea9bull;
  uint32_t start_pct_, end_pct_, emergency_pct_;
  uint32_t per_source_max_;
  uint32_t prefix4_, prefix6_;
  bool emergency_ = false;
  // Oldest-unassured bookkeeping: creation id of the entry in each slot (kNone: free).
  std::vector<uint32_t> current_;
  std::deque<std::pair<uint32_t, uint32_t>> fifo_;
  uint32_t live_ = 0;
  std::unordered_map<PrefixKey, uint32_t, PrefixHash> per_source_;
};

}  // namespace

std::unique_ptr<OverloadPolicy> MakeOverloadPolicy(const Config& cfg) {
  if (cfg.ctrack_overload_policy == 0 && cfg.ctrack_per_source_max == 0) return nullptr;
  return std::make_unique<CtrackPolicy>(cfg);
}

}  // namespace ctrack
