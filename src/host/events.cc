#include "host/events.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace ctrack {

void CountEventMessages(const uint8_t* buf, size_t len, EventTotals* t) {
  size_t off = 0;
  while (len - off >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, buf + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - off) {
      ++t->malformed;
      return;
    }
    // ctnetlink messages: subsystem in the high byte, message type in the low byte.
    if ((h.nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK) {
      uint16_t type = h.nlmsg_type & 0xff;
      if (h.nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) {
        ++t->malformed;
      } else if (type == IPCTNL_MSG_CT_NEW && (h.nlmsg_flags & NLM_F_CREATE)) {
        // ctnetlink_conntrack_event() flags IPCT_NEW events NLM_F_CREATE|NLM_F_EXCL; updates
        // (another group, not subscribed) carry neither.
        ++t->new_events;
      } else if (type == IPCTNL_MSG_CT_DELETE) {
        ++t->destroy_events;
      }
    }
    size_t step = NLMSG_ALIGN(h.nlmsg_len);
    if (step > len - off) break;
    off += step;
  }
}

std::unique_ptr<EventCounter> EventCounter::Start(std::string* err, int rcvbuf) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    *err = std::string("ctnetlink events socket: ") + std::strerror(errno);
    return nullptr;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  // Group bits are 1 << (group - 1) (netlink_bind() for the legacy nl_groups mask).
  sa.nl_groups = (1u << (NFNLGRP_CONNTRACK_NEW - 1)) | (1u << (NFNLGRP_CONNTRACK_DESTROY - 1));
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    *err = std::string("ctnetlink events subscribe: ") + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  std::unique_ptr<EventCounter> ec(new EventCounter());
  ec->fd_ = fd;
  if (pipe2(ec->stop_pipe_, O_CLOEXEC) < 0) {
    *err = std::string("pipe: ") + std::strerror(errno);
    return nullptr;
  }
  ec->thread_ = std::thread([p = ec.get()] { p->Run(); });
  return ec;
}

EventCounter::~EventCounter() {
  if (thread_.joinable()) {
    char c = 0;
    (void)!write(stop_pipe_[1], &c, 1);
    thread_.join();
  }
  for (int f : {fd_, stop_pipe_[0], stop_pipe_[1]})
    if (f >= 0) close(f);
}

EventTotals EventCounter::totals() const {
  EventTotals t;
  t.new_events = new_.load(std::memory_order_relaxed);
  t.destroy_events = destroy_.load(std::memory_order_relaxed);
  t.overruns = overrun_.load(std::memory_order_relaxed);
  t.malformed = malformed_.load(std::memory_order_relaxed);
  return t;
}

void EventCounter::Run() {
  std::vector<uint8_t> buf(1u << 16);
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    // Drain what is queued without blocking, then poll again.
    for (;;) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == ENOBUFS) {
          overrun_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        break;  // EAGAIN (drained), EINTR: back to poll
      }
      EventTotals t;
      CountEventMessages(buf.data(), static_cast<size_t>(n), &t);
      new_.fetch_add(t.new_events, std::memory_order_relaxed);
      destroy_.fetch_add(t.destroy_events, std::memory_order_relaxed);
      malformed_.fetch_add(t.malformed, std::memory_order_relaxed);
    }
  }
}

}  // namespace ctrack
