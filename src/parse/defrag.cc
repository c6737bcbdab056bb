// IPv4 and IPv6 reassembly as it runs in front of conntrack.
//
// IPv4 mirrors ip_defrag() / ip_frag_queue() / ip_frag_reasm(), net/ipv4/ip_fragment.c, as
// nf_defrag_ipv4 calls it (user IP_DEFRAG_CONNTRACK_IN + zone). IPv6 mirrors nf_ct_frag6_gather()
// / nf_ct_frag6_queue() / nf_ct_frag6_reasm(), net/ipv6/netfilter/nf_conntrack_reasm.c. Both share
// inet_frag_queue_insert(), net/ipv4/inet_fragment.c (v6.18):
//
//   Queue { key; expiry; flags FIRST_IN|LAST_IN; len (datagram end); meat (bytes queued);
//           runs: disjoint [start,end) ranges, each a chain of fragments appended contiguously;
//           tail_end: end of the fragment appended last at the high end (fragments_tail) }
//
// A fragment that extends past tail_end must start at or after it (else: overlap). Any other
// fragment must fit a gap between runs (new run) or lie wholly inside one run (duplicate:
// dropped, queue kept); touching two runs or part of one is an overlap, which discards the whole
// queue (RFC 5722). Runs are never merged, so "inside one run" depends on arrival order, exactly
// as in the kernel.
//
// Memory: every queue costs kQueueSize and every queued fragment the truesize of its skb.
// While the total is above the high threshold no fragment is accepted (inet_frag_find() fails);
// there is no eviction, queues leave only by completion, error or timeout. The number of queues
// and bytes held is therefore bounded by the threshold.
#include "parse/defrag.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "parse/bytes.h"

namespace ctrack {
namespace {

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

constexpr uint8_t kFlagFirstIn = 1;
constexpr uint8_t kFlagLastIn = 2;

// ipfrag_max_dist: an IPv4 queue is restarted when more than this many fragments from the same
// source arrived since its previous fragment (ip_frag_too_far()).
constexpr uint32_t kIpfragMaxDist = 64;

// What one queue costs (inet_frag_alloc() charges f->qsize: sizeof(struct ipq) / sizeof(struct
// frag_queue) of this kernel). Measured with kernel-ct, see tests/unit/defrag_mem_test.cc.
constexpr uint64_t kQueueSize4 = 200;
constexpr uint64_t kQueueSize6 = 184;

// skb->truesize of the skb the TUN driver builds for a `len`-byte IP packet (the bytes written,
// padding past the IP length included: ip_rcv_core() trims the data, not the allocation).
// tun_get_user() without a virtio header asks tun_alloc_skb() for a linear skb of the whole
// packet; __alloc_skb() sizes the head as SKB_DATA_ALIGN(NET_SKB_PAD + len) +
// SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) (64-byte lines, 64 + len, 320) and
// kmalloc_reserve() rounds it up: the 576-byte small-head cache, then kmalloc-1k/2k/4k/8k, and
// above KMALLOC_MAX_CACHE_SIZE whole pages. truesize adds SKB_DATA_ALIGN(sizeof(struct
// sk_buff)) = 256 (SKB_TRUESIZE()). Reassembly charges exactly this per queued fragment
// (ip_frag_queue() / nf_ct_frag6_queue(): add_frag_mem_limit(skb->truesize)).
uint64_t SkbTruesize(uint32_t len) {
  const uint64_t head = ((uint64_t{64} + len + 63) & ~uint64_t{63}) + 320;
  uint64_t alloc;
  if (head <= 576) {
    alloc = 576;
  } else if (head <= 8192) {
    alloc = 1024;
    while (alloc < head) alloc <<= 1;
  } else {
    alloc = (head + 4095) & ~uint64_t{4095};
  }
  return alloc + 256;
}

// ip_frag_ecn_table(): bits are 1 << ECN codepoint. Returns the ECN bits to OR into the
// reassembled header, or -1 for an invalid mix (Not-ECT together with ECT or CE).
int EcnMerge(uint8_t bits) {
  if ((bits & 0x01) && (bits & 0x0e)) return -1;
  if ((bits & 0x08) && (bits & 0x06)) return 3;  // CE with ECT_0/ECT_1: CE
  return 0;
}

struct QueueKey {
  uint8_t src[16];
  uint8_t dst[16];
  uint32_t id;
  uint16_t zone;
  uint8_t family;  // 4 or 6
  uint8_t proto;   // IPv4 only; 0 for IPv6

  friend bool operator==(const QueueKey& a, const QueueKey& b) {
    return std::memcmp(&a, &b, sizeof(QueueKey)) == 0;
  }
  friend bool operator<(const QueueKey& a, const QueueKey& b) {
    return std::memcmp(&a, &b, sizeof(QueueKey)) < 0;
  }
};
static_assert(sizeof(QueueKey) == 40, "no padding: compared and hashed as bytes");

struct QueueKeyHash {
  size_t operator()(const QueueKey& k) const {
    // FNV-1a over the key bytes.
    uint64_t h = 1469598103934665603ull;
    const auto* p = reinterpret_cast<const uint8_t*>(&k);
    for (size_t i = 0; i < sizeof(k); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

struct Fragment {
  uint32_t offset;
  std::vector<uint8_t> data;  // trimmed to end - offset
  uint64_t truesize;
};

struct Run {
  uint32_t start;
  uint32_t end;
};

struct Queue {
  Timestamp expiry = 0;
  uint8_t flags = 0;
  uint32_t len = 0;
  uint32_t meat = 0;
  uint32_t tail_end = 0;  // valid when !frags.empty()
  size_t last_run = 0;    // index into runs of the run the tail belongs to
  std::vector<Run> runs;
  std::vector<Fragment> frags;
  uint64_t truesize = 0;  // sum over frags
  uint8_t ecn = 0;
  // IPv4.
  uint32_t rid = 0;
  uint32_t max_size = 0;
  uint32_t max_df_size = 0;
  // Header of the offset-0 fragment: IPv4 header with options, or for IPv6 everything in front of
  // the fragment header, followed by the fragment header's next-header byte.
  std::vector<uint8_t> head;
  uint8_t v6_next = 0;
  uint32_t v6_nhoff = 0;
};

enum class Insert { kOk, kDup, kOverlap };

// Mirrors inet_frag_queue_insert(). On kOk the caller stores the fragment.
Insert InsertRange(Queue& q, uint32_t offset, uint32_t end) {
  if (q.frags.empty()) {
    q.runs.push_back({offset, end});
    q.last_run = q.runs.size() - 1;
    q.tail_end = end;
    return Insert::kOk;
  }
  if (q.tail_end < end) {
    if (offset < q.tail_end) return Insert::kOverlap;
    if (offset == q.tail_end) {
      q.runs[q.last_run].end = end;
    } else {
      q.runs.push_back({offset, end});
      q.last_run = q.runs.size() - 1;
    }
    q.tail_end = end;
    return Insert::kOk;
  }
  // Somewhere below the tail: the rb-tree search over runs.
  for (const Run& r : q.runs) {
    if (end <= r.start || offset >= r.end) continue;
    if (offset >= r.start && end <= r.end) return Insert::kDup;
    return Insert::kOverlap;
  }
  q.runs.push_back({offset, end});  // a run of its own; the tail does not move
  return Insert::kOk;
}

// find_prev_fhdr(), net/ipv6/netfilter/nf_conntrack_reasm.c: the offset of the first fragment
// header and of the next-header byte that names it, which the kernel keeps in 8 bits. False: no
// fragment header (the datagram is not a fragment to the defragmenter).
bool FindFragmentHeader(const uint8_t* data, uint32_t len, uint32_t* fhoff, uint8_t* prev_nhoff) {
  uint8_t nexthdr = data[6];
  uint8_t prev = 6;
  uint32_t start = 40;
  int64_t remain = static_cast<int64_t>(len) - 40;
  while (nexthdr != 44) {
    const bool ext = nexthdr == 0 || nexthdr == 43 || nexthdr == 51 || nexthdr == 60;
    if (!ext) return false;  // also No Next Header (59)
    if (remain < 2) return false;
    const uint32_t hdrlen = nexthdr == 51 ? (data[start + 1] + 2u) * 4 : (data[start + 1] + 1u) * 8;
    prev = static_cast<uint8_t>(start);
    nexthdr = data[start];
    remain -= hdrlen;
    start += hdrlen;
  }
  if (remain < 0) return false;
  *fhoff = start;
  *prev_nhoff = prev;
  return true;
}

// ipv6frag_thdr_truncated(): whether a first fragment lacks part of the upper-layer header
// (TCP 20 bytes, UDP and ICMPv6 8, others 1). Such a fragment is let through untouched and the
// tracker sees the fragment itself.
bool UpperHeaderTruncated(const uint8_t* data, uint32_t len, uint32_t fhoff) {
  uint8_t nh = 44;
  uint32_t off = fhoff;
  uint16_t frag_off = 0;
  while (nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 59 || nh == 60) {
    if (nh == 59 || off + 2 > len) return false;
    uint32_t hdrlen;
    if (nh == 44) {
      if (off + 4 > len) return false;
      frag_off = Load16(data + off + 2);
      if (frag_off & ~7u) break;
      hdrlen = 8;
    } else if (nh == 51) {
      hdrlen = (data[off + 1] + 2u) * 4;
    } else {
      hdrlen = (data[off + 1] + 1u) * 8;
    }
    nh = data[off];
    off += hdrlen;
  }
  if (frag_off & 0xfff8) return false;
  const uint32_t need = nh == 6 ? 20 : (nh == 17 || nh == 58) ? 8 : 1;
  return static_cast<uint64_t>(off) + need > len;
}

// One's-complement checksum of an IPv4 header whose checksum field is zero.
uint16_t Ipv4HeaderChecksum(const uint8_t* h, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(h[i] << 8 | h[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

struct Defrag::Impl {
  explicit Impl(const Config& c) : cfg(c) {}

  Config cfg;
  std::unordered_map<QueueKey, Queue, QueueKeyHash> queues;
  std::set<std::pair<Timestamp, QueueKey>> timers;
  // IPv4 inet_peer rid counters, per source address, kept while the source has queues.
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> peers;  // src -> (rid, live queues)
  uint64_t mem4 = 0;
  uint64_t mem6 = 0;
  uint32_t skb_len = 0;  // bytes of the current packet as received (what its skb holds)
  std::vector<uint8_t> out;

  uint64_t& Mem(const QueueKey& k) { return k.family == 4 ? mem4 : mem6; }
  static uint32_t Src4(const QueueKey& k) { return Load32(k.src); }

  void Kill(std::unordered_map<QueueKey, Queue, QueueKeyHash>::iterator it) {
    const QueueKey& k = it->first;
    Queue& q = it->second;
    Mem(k) -= q.truesize + (k.family == 4 ? kQueueSize4 : kQueueSize6);
    timers.erase({q.expiry, k});
    if (k.family == 4) {
      auto p = peers.find(Src4(k));
      if (p != peers.end() && --p->second.second == 0) peers.erase(p);
    }
    queues.erase(it);
  }

  void Expire(Timestamp now) {
    while (!timers.empty() && timers.begin()->first <= now) {
      auto it = queues.find(timers.begin()->second);
      if (it == queues.end()) {
        timers.erase(timers.begin());
        continue;
      }
      Kill(it);
    }
  }

  // inet_frag_find(): nullptr when over the memory threshold.
  Queue* Find(const QueueKey& k, Timestamp now, bool* created) {
    const uint64_t thresh =
        k.family == 4 ? cfg.nf_conntrack_frag_high_thresh : cfg.nf_conntrack_frag6_high_thresh;
    if (thresh == 0 || Mem(k) > thresh) return nullptr;
    auto it = queues.find(k);
    *created = it == queues.end();
    if (!*created) return &it->second;
    Queue& q = queues[k];
    const Timestamp timeout =
        static_cast<Timestamp>(k.family == 4 ? cfg.nf_conntrack_frag_timeout
                                             : cfg.nf_conntrack_frag6_timeout) *
        kNsPerSec;
    q.expiry = now + timeout;
    timers.insert({q.expiry, k});
    Mem(k) += k.family == 4 ? kQueueSize4 : kQueueSize6;
    if (k.family == 4) ++peers[Src4(k)].second;
    return &q;
  }

  DefragStatus ProcessV4(const uint8_t* data, uint32_t len, uint16_t zone, Timestamp now);
  DefragStatus ProcessV6(const uint8_t* data, uint32_t len, uint16_t zone, Timestamp now);

  // ip_frag_too_far() and ip_frag_reinit(): counts the fragment against its source and, when
  // too many came from there since this queue's previous one, drops the queue's fragments
  // (keeping the queue and its size maxima) and restarts its timer.
  void RestartIfTooFar(Queue& q, const QueueKey& key, Timestamp now);
  // Stores a fragment inet_frag_queue_insert() accepted: `n` bytes of data at `offset`,
  // charged the truesize of the skb it came in. `ecn_bits`: the packet's two ECN bits.
  void Store(Queue& q, uint64_t* mem, uint32_t offset, const uint8_t* payload, uint32_t n,
             uint8_t ecn_bits);
  static bool Whole(const Queue& q) {
    return q.flags == (kFlagFirstIn | kFlagLastIn) && q.meat == q.len;
  }
  // The first fragment's header followed by every fragment's data, into `out`.
  void Splice(const Queue& q);
  // ip_frag_reasm() and nf_ct_frag6_reasm() for a whole queue, which they remove.
  DefragStatus Reassemble4(const QueueKey& key, Queue& q);
  DefragStatus Reassemble6(const QueueKey& key, Queue& q);
};

void Defrag::Impl::RestartIfTooFar(Queue& q, const QueueKey& key, Timestamp now) {
  auto& peer = peers[Src4(key)];
  const uint32_t start_rid = q.rid;
  const uint32_t end_rid = ++peer.first;
  q.rid = end_rid;
  if (q.frags.empty() || end_rid - start_rid <= kIpfragMaxDist) return;
  mem4 -= q.truesize;
  timers.erase({q.expiry, key});
  q.expiry = now + static_cast<Timestamp>(cfg.nf_conntrack_frag_timeout) * kNsPerSec;
  timers.insert({q.expiry, key});
  q.flags = 0;
  q.len = 0;
  q.meat = 0;
  q.runs.clear();
  q.frags.clear();
  q.truesize = 0;
  q.ecn = 0;
  q.head.clear();
}

void Defrag::Impl::Store(Queue& q, uint64_t* mem, uint32_t offset, const uint8_t* payload,
                         uint32_t n, uint8_t ecn_bits) {
  Fragment f;
  f.offset = offset;
  f.data.assign(payload, payload + n);
  f.truesize = SkbTruesize(skb_len);
  q.truesize += f.truesize;
  *mem += f.truesize;
  q.meat += n;
  q.ecn |= static_cast<uint8_t>(1u << ecn_bits);
  q.frags.push_back(std::move(f));
}

void Defrag::Impl::Splice(const Queue& q) {
  out.assign(q.head.begin(), q.head.end());
  out.resize(q.head.size() + q.len);
  for (const Fragment& fr : q.frags) {
    std::memcpy(out.data() + q.head.size() + fr.offset, fr.data.data(), fr.data.size());
  }
}

DefragStatus Defrag::Impl::Reassemble4(const QueueKey& key, Queue& q) {
  // The offset-0 fragment's header, then the data in order.
  const int ecn = EcnMerge(q.ecn);
  const uint32_t total = static_cast<uint32_t>(q.head.size()) + q.len;
  if (ecn < 0 || total > 65535) {
    Kill(queues.find(key));
    return DefragStatus::kDropped;
  }
  Splice(q);
  uint8_t* h = out.data();
  Put16(h + 2, static_cast<uint16_t>(total));
  h[1] = static_cast<uint8_t>(h[1] | ecn);
  // DF survives only when the largest fragment carried it.
  Put16(h + 6, q.max_df_size == q.max_size ? 0x4000 : 0);
  Put16(h + 10, 0);
  Put16(h + 10, Ipv4HeaderChecksum(h, q.head.size()));
  Kill(queues.find(key));
  return DefragStatus::kComplete;
}

DefragStatus Defrag::Impl::Reassemble6(const QueueKey& key, Queue& q) {
  // Drop the fragment header, splice the data, fix the payload length. Any failure here leaves
  // the packet stolen (held), not dropped.
  const int ecn = EcnMerge(q.ecn);
  const uint32_t new_payload = static_cast<uint32_t>(q.head.size()) - 40 + q.len;
  if (ecn < 0 || new_payload > 65535) {
    Kill(queues.find(key));
    return DefragStatus::kHeld;
  }
  Splice(q);
  if (q.v6_nhoff < q.head.size()) out[q.v6_nhoff] = q.v6_next;
  Put16(out.data() + 4, static_cast<uint16_t>(new_payload));
  // ipv6_change_dsfield(.., 0xff, ecn): OR the merged ECN into the traffic class.
  out[1] = static_cast<uint8_t>(out[1] | (ecn << 4));
  Kill(queues.find(key));
  return DefragStatus::kComplete;
}

// Mirrors ip_defrag() + ip_frag_queue() + ip_frag_reasm().
DefragStatus Defrag::Impl::ProcessV4(const uint8_t* data, uint32_t len, uint16_t zone,
                                     Timestamp now) {
  if (len < 20) return DefragStatus::kNotFragment;
  const uint16_t frag_field = Load16(data + 6);
  if ((frag_field & 0x3fff) == 0) return DefragStatus::kNotFragment;  // neither MF nor offset
  const uint32_t ihl = (data[0] & 0x0f) * 4u;
  if (ihl < 20 || ihl > len) return DefragStatus::kDropped;  // ip_rcv_core() prevents this

  QueueKey key{};
  std::memcpy(key.src, data + 12, 4);
  std::memcpy(key.dst, data + 16, 4);
  key.id = Load16(data + 4);
  key.zone = zone;
  key.family = 4;
  key.proto = data[9];
  bool created = false;
  Queue* qp = Find(key, now, &created);
  if (qp == nullptr) return DefragStatus::kDropped;
  Queue& q = *qp;
  auto kill = [&] { Kill(queues.find(key)); };
  RestartIfTooFar(q, key, now);

  // ip_frag_queue(): where the fragment ends, and what that says of the datagram's end.
  const uint32_t offset = (frag_field & 0x1fffu) * 8;
  const bool more = frag_field & 0x2000;
  uint32_t end = offset + len - ihl;
  if (!more) {
    // The last fragment: nothing may lie beyond it, and a second one must agree.
    if (end < q.len || ((q.flags & kFlagLastIn) && end != q.len)) {
      kill();
      return DefragStatus::kDropped;
    }
    q.flags |= kFlagLastIn;
    q.len = end;
  } else {
    end &= ~7u;  // non-last fragments carry multiples of 8 bytes; the rest is trimmed
    if (end > q.len) {
      if (q.flags & kFlagLastIn) {
        kill();
        return DefragStatus::kDropped;
      }
      q.len = end;
    }
  }
  if (end == offset) {
    kill();
    return DefragStatus::kDropped;
  }
  switch (InsertRange(q, offset, end)) {
    case Insert::kDup:
      return DefragStatus::kDropped;
    case Insert::kOverlap:
      kill();
      return DefragStatus::kDropped;
    case Insert::kOk:
      break;
  }
  Store(q, &mem4, offset, data + ihl, end - offset, data[1] & 3);
  if (offset == 0) {
    q.flags |= kFlagFirstIn;
    q.head.assign(data, data + ihl);
  }
  const uint32_t fragsize = (end - offset) + ihl;
  q.max_size = std::max(q.max_size, fragsize);
  if ((frag_field & 0x4000) && fragsize > q.max_df_size) q.max_df_size = fragsize;
  return Whole(q) ? Reassemble4(key, q) : DefragStatus::kHeld;
}

// Mirrors nf_ct_frag6_gather() + nf_ct_frag6_queue() + nf_ct_frag6_reasm().
DefragStatus Defrag::Impl::ProcessV6(const uint8_t* data, uint32_t len, uint16_t zone,
                                     Timestamp now) {
  if (len < 40) return DefragStatus::kNotFragment;
  const uint32_t payload_len = Load16(data + 4);
  if (payload_len == 0) return DefragStatus::kNotFragment;  // jumbogram: no fragment header
  uint32_t fhoff = 0;
  uint8_t prev_nhoff = 0;
  if (!FindFragmentHeader(data, len, &fhoff, &prev_nhoff)) return DefragStatus::kNotFragment;
  if (UpperHeaderTruncated(data, len, fhoff)) return DefragStatus::kPassedFragment;
  if (fhoff + 8 > len) return DefragStatus::kCutFragmentHeader;

  const uint8_t* fh = data + fhoff;
  QueueKey key{};
  std::memcpy(key.src, data + 8, 16);
  std::memcpy(key.dst, data + 24, 16);
  key.id = Load32(fh + 4);
  key.zone = zone;
  key.family = 6;
  bool created = false;
  Queue* qp = Find(key, now, &created);
  if (qp == nullptr) return DefragStatus::kDropped;
  Queue& q = *qp;

  // nf_ct_frag6_queue(): unlike IPv4, most refusals keep the queue.
  const uint16_t frag_field = Load16(fh + 2);
  const uint32_t offset = frag_field & 0xfff8u;
  const uint32_t hdrs = fhoff + 8 - 40;  // bytes of extension headers up to the fragment data
  if (payload_len < hdrs) return DefragStatus::kDropped;
  const uint32_t end = offset + (payload_len - hdrs);
  if (end > 65535) return DefragStatus::kDropped;
  if (!(frag_field & 1)) {
    if (end < q.len || ((q.flags & kFlagLastIn) && end != q.len)) return DefragStatus::kDropped;
    q.flags |= kFlagLastIn;
    q.len = end;
  } else {
    if (end & 7) {
      // Not a multiple of 8: the queue is discarded and the packet goes on as it is.
      Kill(queues.find(key));
      return DefragStatus::kPassedFragment;
    }
    if (end > q.len) {
      if (q.flags & kFlagLastIn) return DefragStatus::kDropped;
      q.len = end;
    }
  }
  if (end == offset) return DefragStatus::kDropped;
  switch (InsertRange(q, offset, end)) {
    case Insert::kDup:
      return DefragStatus::kHeld;  // "pretend they got queued"
    case Insert::kOverlap:
      Kill(queues.find(key));
      return DefragStatus::kDropped;
    case Insert::kOk:
      break;
  }
  Store(q, &mem6, offset, fh + 8, end - offset, (data[1] >> 4) & 3);
  if (offset == 0) {
    q.flags |= kFlagFirstIn;
    q.head.assign(data, data + fhoff);
    q.v6_next = fh[0];
    q.v6_nhoff = prev_nhoff;
  }
  return Whole(q) ? Reassemble6(key, q) : DefragStatus::kHeld;
}

Defrag::Defrag(const Config& cfg) : impl_(std::make_unique<Impl>(cfg)) { NoteNextTimer(); }
Defrag::~Defrag() = default;

DefragStatus Defrag::Process(const uint8_t* data, uint32_t len, uint16_t zone, Timestamp now,
                             uint32_t received_len) {
  impl_->Expire(now);
  DefragStatus st = DefragStatus::kNotFragment;
  if (data != nullptr && len != 0) {
    impl_->skb_len = std::max(len, received_len);
    switch (data[0] >> 4) {
      case 4:
        st = impl_->ProcessV4(data, len, zone, now);
        break;
      case 6:
        st = impl_->ProcessV6(data, len, zone, now);
        break;
      default:
        break;
    }
  }
  NoteNextTimer();
  return st;
}

void Defrag::RunTimers(Timestamp now) {
  impl_->Expire(now);
  NoteNextTimer();
}

void Defrag::NoteNextTimer() {
  next_timer_ =
      impl_->timers.empty() ? std::numeric_limits<Timestamp>::max() : impl_->timers.begin()->first;
}

const uint8_t* Defrag::datagram() const { return impl_->out.data(); }
uint32_t Defrag::datagram_len() const { return static_cast<uint32_t>(impl_->out.size()); }
uint64_t Defrag::mem() const { return impl_->mem4 + impl_->mem6; }
size_t Defrag::queues() const { return impl_->queues.size(); }

}  // namespace ctrack
