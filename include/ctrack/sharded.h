// Several cores, one logical table: shards chosen by a symmetric hash of the packet's addresses,
// one Conntrack per shard, and one pool of entry reservations so that nf_conntrack_max stays
// global without a shared counter written on every new connection.
//
// Both directions of a connection, all fragments of a datagram and the ICMP errors that quote it
// land in the same shard: the shard comes from the unordered address pair (the quoted packet's
// pair for ICMP/ICMPv6 errors), never from ports. Each shard is single-writer; give each to one
// thread (a NIC with symmetric RSS does the dispatch in a real data plane).
//
// Differences from one table: nf_conntrack_buckets is divided among the shards; early drop
// scans the new entry's own shard only; and the max rule counts reservations: each shard takes
// entries from the pool in grants of up to CountPool::kGrant and gives them back once it holds
// 2 x kGrant unused, so the sum of all shards' entries never exceeds nf_conntrack_max, but one
// shard may find the table full while the others hold up to 2 x kGrant - 1 unused reservations
// each (grants shrink as the pool runs out).
#ifndef CTRACK_SHARDED_H_
#define CTRACK_SHARDED_H_

#include <ctrack/config.h>
#include <ctrack/conntrack.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace ctrack {

// Entry reservations shared by the shards of one logical table. Written only when a shard takes
// or returns a grant (once per kGrant new or deleted entries at most), not per entry.
class CountPool {
 public:
  static constexpr uint32_t kGrant = 64;
  CountPool(uint32_t max, unsigned shards) : max_(max), shards_(shards ? shards : 1) {}
  CountPool(const CountPool&) = delete;
  CountPool& operator=(const CountPool&) = delete;

  // Takes up to kGrant entries (fewer as the pool runs out: at most a quarter of what is left
  // per shard, at least 1). Returns how many; 0 when all of max is reserved.
  uint32_t Reserve();
  void Release(uint32_t n) { reserved_.fetch_sub(n, std::memory_order_relaxed); }
  // Entries reserved by all shards: at least the sum of their entries.
  uint32_t reserved() const { return reserved_.load(std::memory_order_relaxed); }
  uint32_t max() const { return max_; }
  unsigned shards() const { return shards_; }

 private:
  alignas(64) std::atomic<uint32_t> reserved_{0};
  uint32_t max_;
  unsigned shards_;
};

class ShardedConntrack {
 public:
  ShardedConntrack(const Config& cfg, unsigned shards);

  unsigned shards() const { return static_cast<unsigned>(shards_.size()); }
  Conntrack& shard(unsigned i) { return *shards_[i]; }
  // The shard that must see this frame. Frames without IP go to shard 0.
  unsigned ShardOf(uint32_t linktype, const uint8_t* data, uint32_t caplen) const;
  // The same from a frame's decode: an ICMP error goes with the flow it quotes, IP fragments
  // (whose ports are not all readable) by their addresses alone.
  unsigned ShardOf(const FrameFacts& f) const;
  // Entries in all shards (nf_conntrack_count): the sum of the shards' own counts.
  uint32_t count() const;
  // Entries reserved in the pool (at least count()).
  uint32_t reserved() const { return pool_->reserved(); }

 private:
  std::unique_ptr<CountPool> pool_;
  std::vector<std::unique_ptr<Conntrack>> shards_;
};

}  // namespace ctrack

#endif  // CTRACK_SHARDED_H_
