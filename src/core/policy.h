// Overload policies beyond the kernel's early drop (ctrack_overload_policy, ctrack_per_source_*).
// The engine calls these hooks only when a policy is configured, so the default path stays the
// kernel's and pays one pointer test.
#ifndef CTRACK_CORE_POLICY_H_
#define CTRACK_CORE_POLICY_H_

#include <ctrack/config.h>
#include <ctrack/packet.h>

#include <cstdint>
#include <memory>

#include "core/conn.h"
#include "core/table.h"

namespace ctrack {

// The policy sees the table (to pick victims); the table sees only the DeleteObserver side.
class OverloadPolicy : public DeleteObserver {
 public:
  virtual ~OverloadPolicy() = default;

  // Before a new entry is allocated for `t`: false refuses the connection (the packet is dropped
  // and counted in `drop`, as when the table is full).
  virtual bool Admit(const Tuple& t) {
    (void)t;
    return true;
  }
  // The table is full (count > max) and the kernel's early drop is replaced: returns the index of
  // an entry to evict, or kNoVictim. Only called when ReplacesEarlyDrop().
  static constexpr uint32_t kNoVictim = 0xffffffffu;
  virtual bool ReplacesEarlyDrop() const { return false; }
  virtual uint32_t PickVictim(Table& table, Timestamp now) {
    (void)table;
    (void)now;
    return kNoVictim;
  }
  // Timeout actually applied for a refresh of `timeout_ns` with `count` entries of `max`.
  virtual Timestamp ScaleTimeout(Timestamp timeout_ns, uint32_t count, uint32_t max) {
    (void)count;
    (void)max;
    return timeout_ns;
  }
  // Entry lifecycle: called after confirmation and before deletion.
  virtual void OnConfirm(uint32_t idx, const Conn& ct) {
    (void)idx;
    (void)ct;
  }
  void OnDelete(uint32_t idx, const Conn& ct) override {
    (void)idx;
    (void)ct;
  }
};

// nullptr when the configuration asks for the kernel's behaviour only.
std::unique_ptr<OverloadPolicy> MakeOverloadPolicy(const Config& cfg);

}  // namespace ctrack

#endif  // CTRACK_CORE_POLICY_H_
