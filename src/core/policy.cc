#include "core/policy.h"

namespace ctrack {

// Policies are implemented in src/sim/policies.cc (issue: overload policies); until then only the
// kernel's behaviour exists.
std::unique_ptr<OverloadPolicy> MakeOverloadPolicy(const Config& cfg) {
  (void)cfg;
  return nullptr;
}

}  // namespace ctrack
