#include <ctrack/sharded.h>

#include <algorithm>
#include <cstring>

#include "parse/link.h"

namespace ctrack {
namespace {

// Folds an address to 64 bits (IPv6: the two halves xored).
uint64_t Fold(const uint8_t* a, size_t n) {
  uint64_t w[2] = {0, 0};
  std::memcpy(w, a, n);
  return w[0] ^ w[1];
}

// Order-independent: the same for (a, b) and (b, a). The smaller folded address goes first, one
// multiply mixes both; this runs for every packet on every core (the split), so it is kept cheap.
// The shard is taken from the high bits by a multiply-shift (no division).
unsigned PairShard(const uint8_t* a, const uint8_t* b, size_t n, size_t shards) {
  uint64_t x = Fold(a, n), y = Fold(b, n);
  uint64_t lo = x < y ? x : y, hi = x < y ? y : x;
  uint64_t h = (lo * 0x9e3779b97f4a7c15ull) ^ hi;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 29;
  return static_cast<unsigned>(((h >> 32) * shards) >> 32);
}

}  // namespace

uint32_t CountPool::Reserve() {
  uint32_t cur = reserved_.load(std::memory_order_relaxed);
  for (;;) {
    if (cur >= max_) return 0;
    uint32_t left = max_ - cur;
    uint32_t grant = std::clamp<uint32_t>(left / (4 * shards_), 1, kGrant);
    if (reserved_.compare_exchange_weak(cur, cur + grant, std::memory_order_relaxed)) return grant;
  }
}

ShardedConntrack::ShardedConntrack(const Config& cfg, unsigned shards) {
  if (shards == 0) shards = 1;
  pool_ = std::make_unique<CountPool>(cfg.nf_conntrack_max, shards);
  Config c = cfg;
  c.nf_conntrack_buckets =
      cfg.nf_conntrack_buckets / shards ? cfg.nf_conntrack_buckets / shards : 1;
  for (unsigned i = 0; i < shards; ++i) {
    shards_.push_back(std::make_unique<Conntrack>(c));
    if (cfg.nf_conntrack_max != 0) shards_.back()->ShareCountForShards(pool_.get());
  }
}

uint32_t ShardedConntrack::count() const {
  uint32_t n = 0;
  for (const auto& s : shards_) n += s->count();
  return n;
}

unsigned ShardedConntrack::ShardOf(uint32_t linktype, const uint8_t* data, uint32_t caplen) const {
  if (shards_.size() == 1) return 0;
  LinkResult link = DecodeLink(linktype, data, caplen);
  const uint8_t* ip = link.l3;
  if (link.ip_version == 4 && link.len >= 20) {
    uint32_t ihl = (ip[0] & 0xfu) * 4u;
    bool first_frag = (ip[6] & 0x1f) == 0 && ip[7] == 0;
    // An ICMP error belongs with the flow it quotes (inner header after the 8-byte ICMP header).
    if (ip[9] == 1 && first_frag && link.len >= ihl + 8 + 20) {
      uint8_t type = ip[ihl];
      if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) {
        const uint8_t* inner = ip + ihl + 8;
        return PairShard(inner + 12, inner + 16, 4, shards_.size());
      }
    }
    return PairShard(ip + 12, ip + 16, 4, shards_.size());
  } else if (link.ip_version == 6 && link.len >= 40) {
    if (ip[6] == 58 && link.len >= 40 + 8 + 40 && ip[40] < 128) {
      const uint8_t* inner = ip + 48;
      return PairShard(inner + 8, inner + 24, 16, shards_.size());
    }
    return PairShard(ip + 8, ip + 24, 16, shards_.size());
  }
  return 0;
}

}  // namespace ctrack
