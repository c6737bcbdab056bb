// Shared by the simulation's translation units (not part of the sim API).
#ifndef CTRACK_SIM_INTERNAL_H_
#define CTRACK_SIM_INTERNAL_H_

#include <cstdint>
#include <vector>

#include "sim/sim.h"

namespace ctrack::sim_internal {

// One replay with an unlimited table: the reference for "which connections did the limit hurt".
struct Baseline {
  std::vector<uint32_t> entry;   // per packet: entry id in the unlimited run, kNoConn if none
  std::vector<Verdict> verdict;  // per packet
  std::vector<uint8_t> legit;    // per entry id: the far end answered
  uint32_t peak = 0;             // entries at the peak: the demand
};
Baseline RunBaseline(const std::vector<LoadedCapture>& caps, const SimOptions& opt);

// One replay with `cfg`; fills `rep` (samples, overflows, stale) when non-null and opt.detail.
SimCounters RunCounters(const std::vector<LoadedCapture>& caps, const SimOptions& opt,
                        const Config& cfg, const Baseline* base, SimReport* rep);

}  // namespace ctrack::sim_internal

#endif  // CTRACK_SIM_INTERNAL_H_
