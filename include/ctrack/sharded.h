// Several cores, one logical table: shards chosen by a symmetric hash of the packet's addresses,
// one Conntrack per shard, and one shared entry count so that nf_conntrack_max stays global.
//
// Both directions of a connection, all fragments of a datagram and the ICMP errors that quote it
// land in the same shard: the shard comes from the unordered address pair (the quoted packet's
// pair for ICMP/ICMPv6 errors), never from ports. Each shard is single-writer; give each to one
// thread (a NIC with symmetric RSS does the dispatch in a real data plane).
//
// Differences from one table: nf_conntrack_buckets is divided among the shards, and early drop
// scans the new entry's own shard only.
#ifndef CTRACK_SHARDED_H_
#define CTRACK_SHARDED_H_

#include <ctrack/config.h>
#include <ctrack/conntrack.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace ctrack {

class ShardedConntrack {
 public:
  ShardedConntrack(const Config& cfg, unsigned shards);

  unsigned shards() const { return static_cast<unsigned>(shards_.size()); }
  Conntrack& shard(unsigned i) { return *shards_[i]; }
  // The shard that must see this frame. Frames without IP go to shard 0.
  unsigned ShardOf(uint32_t linktype, const uint8_t* data, uint32_t caplen) const;
  // Entries in all shards (nf_conntrack_count).
  uint32_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> count_{0};
  std::vector<std::unique_ptr<Conntrack>> shards_;
};

}  // namespace ctrack

#endif  // CTRACK_SHARDED_H_
