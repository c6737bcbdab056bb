// IPv4 and IPv6 reassembly as the kernel's defragmentation runs before conntrack
// (nf_defrag_ipv4 / nf_defrag_ipv6 at PREROUTING -400): the tracker only sees whole datagrams.
//
// Memory is bounded by the high-threshold settings; queues time out after
// nf_conntrack_frag_timeout (IPv4) / nf_conntrack_frag6_timeout (IPv6) of virtual time.
#ifndef CTRACK_PARSE_DEFRAG_H_
#define CTRACK_PARSE_DEFRAG_H_

#include <ctrack/config.h>
#include <ctrack/packet.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace ctrack {

enum class DefragStatus : uint8_t {
  kNotFragment,  // pass the datagram on unchanged
  kHeld,         // fragment queued (verdict none)
  kComplete,     // the datagram is whole: use Defrag::datagram()
  kDropped,      // fragment rejected (malformed, overlap, over memory budget): verdict none
  // IPv6 whose extension headers lead to a fragment header that the datagram ends before:
  // nf_ct_frag6_gather() cannot pull it and the hook drops the packet (verdict drop; kernel-ct
  // sees no fragment in such bytes either, so it reports a drop, not a held fragment).
  kCutFragmentHeader,
  // An IPv6 fragment that nf_ct_frag6_gather() refuses to queue and lets through unchanged (its
  // first fragment ends inside the upper-layer header, or a non-last fragment's length is not
  // a multiple of 8): conntrack sees it as it is. If conntrack then drops it, kernel-ct, which
  // sees a fragment header and nothing out of the hooks, reports a held fragment.
  kPassedFragment,
};

class Defrag {
 public:
  explicit Defrag(const Config& cfg);
  ~Defrag();
  Defrag(const Defrag&) = delete;
  Defrag& operator=(const Defrag&) = delete;

  // `data`/`len`: one datagram that passed the IP input checks (trimmed). `received_len`: the
  // bytes it arrived with, padding past the IP length included (0: `len`); a queued fragment is
  // charged by the size of that buffer, as the kernel charges skb->truesize. For kComplete the
  // reassembled datagram (headers rewritten as the kernel does: no fragment fields, total length
  // updated) stays valid until the next call.
  DefragStatus Process(const uint8_t* data, uint32_t len, uint16_t zone, Timestamp now,
                       uint32_t received_len = 0);
  // Runs the queue timers up to `now` without a packet (what Process does first). Inline and
  // one compare while no queue is due: every tracked datagram calls it.
  void Tick(Timestamp now) {
    if (now >= next_timer_) RunTimers(now);
  }
  const uint8_t* datagram() const;
  uint32_t datagram_len() const;

  // Bytes charged to the queues, as the kernel counts them (truesize + queue size).
  uint64_t mem() const;
  size_t queues() const;

 private:
  void RunTimers(Timestamp now);
  // The earliest queue timer, or the largest Timestamp while there is none; kept by every call
  // that can add, move or remove a timer (Process, RunTimers).
  void NoteNextTimer();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  Timestamp next_timer_;
};

}  // namespace ctrack

#endif  // CTRACK_PARSE_DEFRAG_H_
