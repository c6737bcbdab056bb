#include <ctrack/config.h>

#include <charconv>
#include <cstdint>
#include <random>
#include <string>

namespace ctrack {
namespace {

struct SysctlDesc {
  const char* name;
  uint32_t Config::*field;
  uint64_t lo;
  uint64_t hi;
};

constexpr SysctlDesc kSysctls[] = {
#define CTRACK_SYSCTL_DESC(name, def, lo, hi) {#name, &Config::name, lo, hi},
    CTRACK_SYSCTLS(CTRACK_SYSCTL_DESC)
#undef CTRACK_SYSCTL_DESC
};

std::string_view StripPrefix(std::string_view name) {
  for (std::string_view p : {"net.netfilter.", "net/netfilter/", "net.ipv4.netfilter."}) {
    if (name.substr(0, p.size()) == p) return name.substr(p.size());
  }
  return name;
}

}  // namespace

std::string Config::Set(std::string_view name, std::string_view value) {
  std::string_view key = StripPrefix(name);
  for (const SysctlDesc& d : kSysctls) {
    if (key != d.name) continue;
    if (key == "hash_seed" && value == "random") {
      // Deliberately not reproducible: the caller asked for an unpredictable key.
      this->*d.field = std::random_device{}() | 1u;
      return "";
    }
    if (value.empty()) return std::string(key) + ": empty value";
    if (value[0] == '-') return std::string(key) + ": negative value '" + std::string(value) + "'";
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc::result_out_of_range) {
      return std::string(key) + ": value '" + std::string(value) + "' is out of range";
    }
    if (ec != std::errc() || ptr != value.data() + value.size()) {
      return std::string(key) + ": '" + std::string(value) + "' is not a whole number";
    }
    if (v < d.lo || v > d.hi) {
      return std::string(key) + ": value " + std::string(value) + " is out of range (" +
             std::to_string(d.lo) + ".." + std::to_string(d.hi) + ")";
    }
    this->*d.field = static_cast<uint32_t>(v);
    return "";
  }
  return "unknown setting '" + std::string(name) + "'";
}

std::string Config::Validate() const {
  for (const SysctlDesc& d : kSysctls) {
    uint64_t v = this->*d.field;
    if (v < d.lo || v > d.hi) {
      return std::string(d.name) + ": value " + std::to_string(v) + " is out of range";
    }
  }
  return "";
}

std::string Config::Dump() const {
  std::string out;
  for (const SysctlDesc& d : kSysctls) {
    out += d.name;
    out += " = ";
    out += std::to_string(this->*d.field);
    out += '\n';
  }
  return out;
}

}  // namespace ctrack
