// Counting ctnetlink NEW and DESTROY events (NFNLGRP_CONNTRACK_NEW / _DESTROY multicast groups):
// exact insertion and deletion totals while the table changes faster than any dump could show.
// The kernel cannot block on a slow listener: when the socket's receive buffer is full it drops
// events and the next recv() fails with ENOBUFS. Those overruns are counted, never hidden
// (NETLINK_NO_ENOBUFS is not set), so a rate derived from the totals says how much it may miss.
//
//   std::string err;
//   auto ev = ctrack::EventCounter::Start(&err);   // in the namespace to watch (EnterNetns first)
//   if (!ev) { fall back to sampled counters }
//   EventTotals t = ev->totals();                  // any thread, any time
#ifndef CTRACK_HOST_EVENTS_H_
#define CTRACK_HOST_EVENTS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace ctrack {

struct EventTotals {
  uint64_t new_events = 0;      // IPCTNL_MSG_CT_NEW with NLM_F_CREATE: entries confirmed
  uint64_t destroy_events = 0;  // IPCTNL_MSG_CT_DELETE: entries removed (expired, evicted, ...)
  uint64_t overruns = 0;        // recv() failures with ENOBUFS (each loses one or more events)
  uint64_t malformed = 0;       // messages that failed the length checks (skipped)
};

// Counts the messages of one receive buffer (concatenated netlink messages, as one recv() gives)
// into `t`. Pure: every length is checked against the buffer; a malformed message ends the walk
// and is counted. Exposed for tests and the fuzz target.
void CountEventMessages(const uint8_t* buf, size_t len, EventTotals* t);

class EventCounter {
 public:
  // Subscribes in the calling thread's network namespace and starts a reader thread. `rcvbuf`
  // is the receive buffer asked for (SO_RCVBUFFORCE when privileged, else SO_RCVBUF). Returns
  // nullptr and a one-line reason when the socket cannot be opened or bound (no CAP_NET_ADMIN,
  // no nf_conntrack, nf_conntrack_events=0 is reported as no events arriving, not an error).
  static std::unique_ptr<EventCounter> Start(std::string* err, int rcvbuf = 8 << 20);
  ~EventCounter();  // stops the thread, closes the socket
  EventCounter(const EventCounter&) = delete;
  EventCounter& operator=(const EventCounter&) = delete;

  EventTotals totals() const;

 private:
  EventCounter() = default;
  void Run();
  int fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<uint64_t> new_{0}, destroy_{0}, overrun_{0}, malformed_{0};
};

}  // namespace ctrack

#endif  // CTRACK_HOST_EVENTS_H_
