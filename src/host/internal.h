// Shared by the host layer's translation units (not part of the public API).
#ifndef CTRACK_HOST_INTERNAL_H_
#define CTRACK_HOST_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace ctrack {
struct HostFacts;
struct RuleFacts;
}  // namespace ctrack

namespace ctrack::host_internal {

// One netlink attribute: its type without the NESTED / BYTEORDER flags, and its payload.
struct Attr {
  uint16_t type = 0;
  const uint8_t* data = nullptr;
  size_t len = 0;
};

// Walks the attributes of one container. Invariant: p_ <= end_. An attribute whose length is
// below its header or beyond the container stops the walk and clears ok(); a tail shorter than a
// header is padding.
class AttrIter {
 public:
  AttrIter(const uint8_t* data, size_t len) : p_(data), end_(data + len) {}
  bool Next(Attr* a);
  bool ok() const { return ok_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

// Whole file as text; "" and false when it cannot be read. Reads /proc files (size 0 in stat).
bool ReadFile(const std::string& path, std::string* out, std::string* err);
// Runs argv (no shell), stdout captured; stderr discarded. False when it cannot run or exits
// non-zero (err says which).
bool RunCapture(const char* const* argv, std::string* out, std::string* err);

// The kernel log's table-full lines (kmsg.cc) and the tracking rules (rules.cc).
void ReadTableFullLog(HostFacts* f);
void ReadRules(RuleFacts* r);

}  // namespace ctrack::host_internal

#endif  // CTRACK_HOST_INTERNAL_H_
