#include <ctrack/decode.h>
#include <ctrack/sharded.h>

#include <algorithm>
#include <cstring>

#include "parse/link.h"

namespace ctrack {
namespace {

// Folds an address of N bytes (4 or 16) to 64 bits (IPv6: the two halves xored). N is a
// constant so that the copy is a plain load: a copy of a variable length went through the stack
// and stalled the load that read it back.
template <size_t N>
uint64_t Fold(const uint8_t* a) {
  if constexpr (N == 4) {
    uint32_t w;
    std::memcpy(&w, a, 4);
    return w;
  } else {
    static_assert(N == 16);
    uint64_t w[2];
    std::memcpy(w, a, 16);
    return w[0] ^ w[1];
  }
}

// Order-independent: the same for (a, b) and (b, a). The smaller folded address goes first, one
// multiply mixes both; this runs for every packet on every core (the split), so it is kept cheap.
// The shard is taken from the high bits by a multiply-shift (no division).
template <size_t N>
unsigned PairShard(const uint8_t* a, const uint8_t* b, size_t shards) {
  uint64_t x = Fold<N>(a), y = Fold<N>(b);
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
  // The same answer as from the frame's full decode, from the link header and the IP addresses
  // alone when the datagram cannot be an ICMP error (the only case in which the decode's
  // answer depends on more): IPv4 whose protocol is not ICMP, IPv6 whose first next header is
  // a transport protocol (no extension header that could lead to ICMPv6). A dispatcher, or
  // each shard's own filter over a shared ring, then reads one line of most frames.
  const LinkResult link = DecodeLink(linktype, data, caplen);
  if (link.ip_version == 4 && link.len >= 20 && link.l3[9] != kProtoIcmp) {
    return PairShard<4>(link.l3 + 12, link.l3 + 16, shards_.size());
  }
  if (link.ip_version == 6 && link.len >= 40) {
    const uint8_t nh = link.l3[6];
    if (nh == kProtoTcp || nh == kProtoUdp || nh == kProtoUdplite || nh == kProtoSctp ||
        nh == kProtoGre) {
      return PairShard<16>(link.l3 + 8, link.l3 + 24, shards_.size());
    }
  }
  return ShardOf(DecodeFrame(linktype, data, caplen, caplen));
}

unsigned ShardedConntrack::ShardOf(const FrameFacts& f) const {
  if (shards_.size() == 1) return 0;
  if (f.ip_version == 4 && f.l3_caplen >= 20) {
    const uint8_t* ip = f.icmp_inner_off != 0 ? f.l3 + f.icmp_inner_off : f.l3;
    return PairShard<4>(ip + 12, ip + 16, shards_.size());
  }
  if (f.ip_version == 6 && f.l3_caplen >= 40) {
    const uint8_t* ip = f.icmp_inner_off != 0 ? f.l3 + f.icmp_inner_off : f.l3;
    return PairShard<16>(ip + 8, ip + 24, shards_.size());
  }
  return 0;
}

}  // namespace ctrack
