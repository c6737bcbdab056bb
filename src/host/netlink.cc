// The ctnetlink socket: table dump, per-CPU counters, count; and entering a network namespace.
// libmnl opens and binds the socket; the messages are walked and decoded by ctrack's own
// bounds-checked reader (ctnl_decode.cc).
#include <ctrack/host.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "host/internal.h"
#include "parse/bytes.h"

namespace ctrack {

struct HostReader::Impl {
  mnl_socket* nl = nullptr;
  uint32_t portid = 0;
  uint32_t seq = 0;
  // One receive buffer for every recv(): the kernel fills each dump skb up to the reader's
  // largest recvmsg length, so a large buffer means fewer system calls.
  std::vector<uint8_t> buf = std::vector<uint8_t>(1u << 20);

  ~Impl() {
    if (nl) mnl_socket_close(nl);
  }

  bool Send(uint16_t msg_type, uint16_t flags, uint8_t family, std::string* err) {
    uint8_t req[64] = {};
    nlmsghdr* h = mnl_nlmsg_put_header(req);
    h->nlmsg_type = static_cast<uint16_t>(NFNL_SUBSYS_CTNETLINK << 8 | msg_type);
    h->nlmsg_flags = flags;
    h->nlmsg_seq = ++seq;
    auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(nfgenmsg)));
    g->nfgen_family = family;
    g->version = NFNETLINK_V0;
    g->res_id = 0;
    if (mnl_socket_sendto(nl, h, h->nlmsg_len) < 0) {
      *err = std::string("ctnetlink send: ") + std::strerror(errno);
      return false;
    }
    return true;
  }

  // Receives the replies to the last request until NLMSG_DONE (dumps) or the first data message
  // (`single`). fn(msg, len) sees each data message. Sets *intr when any carries NLM_F_DUMP_INTR.
  template <typename Fn>
  std::string Receive(bool single, bool* intr, uint64_t* messages, Fn&& fn) {
    int fd = mnl_socket_get_fd(nl);
    for (;;) {
      msghdr mh = {};
      sockaddr_nl sa = {};
      iovec iov = {buf.data(), buf.size()};
      mh.msg_name = &sa;
      mh.msg_namelen = sizeof sa;
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      ssize_t n = recvmsg(fd, &mh, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) return "ctnetlink receive: socket buffer overrun (ENOBUFS)";
        return std::string("ctnetlink receive: ") + std::strerror(errno);
      }
      if (mh.msg_flags & MSG_TRUNC) return "ctnetlink receive: message truncated";
      if (sa.nl_pid != 0) continue;  // not from the kernel
      const uint8_t* p = buf.data();
      size_t len = static_cast<size_t>(n);
      size_t off = 0;
      bool done = false;
      while (len - off >= sizeof(nlmsghdr)) {
        nlmsghdr h;
        std::memcpy(&h, p + off, sizeof h);
        if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - off) {
          return "ctnetlink: truncated netlink message";
        }
        if (h.nlmsg_seq != seq || (h.nlmsg_pid != 0 && h.nlmsg_pid != portid)) {
          // A reply to an earlier request (a retried dump); skip it.
        } else if (h.nlmsg_type == NLMSG_ERROR) {
          int code = 0;
          if (h.nlmsg_len < sizeof(nlmsghdr) + sizeof(int)) return "ctnetlink: short NLMSG_ERROR";
          std::memcpy(&code, p + off + sizeof(nlmsghdr), sizeof code);
          if (code == 0) return "";  // an ACK
          return std::string("ctnetlink: ") + std::strerror(-code);
        } else if (h.nlmsg_type == NLMSG_DONE) {
          if (h.nlmsg_flags & NLM_F_DUMP_INTR) *intr = true;
          int code = 0;
          if (h.nlmsg_len >= sizeof(nlmsghdr) + sizeof(int)) {
            std::memcpy(&code, p + off + sizeof(nlmsghdr), sizeof code);
          }
          if (code < 0) return std::string("ctnetlink dump: ") + std::strerror(-code);
          done = true;
        } else if (h.nlmsg_type == NLMSG_NOOP || h.nlmsg_type == NLMSG_OVERRUN) {
          if (h.nlmsg_type == NLMSG_OVERRUN) return "ctnetlink: overrun";
        } else {
          if (h.nlmsg_flags & NLM_F_DUMP_INTR) *intr = true;
          ++*messages;
          std::string e = fn(p + off, static_cast<size_t>(h.nlmsg_len));
          if (!e.empty()) return e;
          if (single) done = true;
        }
        size_t step = NLMSG_ALIGN(h.nlmsg_len);
        off = step >= len - off ? len : off + step;
      }
      if (off != len) return "ctnetlink: truncated netlink message";
      if (done) return "";
    }
  }
};

std::unique_ptr<HostReader> HostReader::Open(std::string* err) {
  std::unique_ptr<HostReader> r(new HostReader());
  r->impl_ = std::make_unique<Impl>();
  Impl& m = *r->impl_;
  m.nl = mnl_socket_open(NETLINK_NETFILTER);
  if (m.nl == nullptr) {
    *err = std::string("ctnetlink socket: ") + std::strerror(errno);
    return nullptr;
  }
  if (mnl_socket_bind(m.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    *err = std::string("ctnetlink bind: ") + std::strerror(errno);
    return nullptr;
  }
  m.portid = mnl_socket_get_portid(m.nl);
  int fd = mnl_socket_get_fd(m.nl);
  int size = 4 << 20;
  // FORCE works past rmem_max with CAP_NET_ADMIN; the plain one is capped, which is enough.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  int one = 1;
  // Extended ACKs give the kernel's reason text; harmless when unsupported.
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  return r;
}

HostReader::~HostReader() = default;

DumpResult HostReader::DumpTable(const std::function<void()>& on_begin,
                                 const std::function<void(const ConnInfo&)>& on_entry,
                                 int retries) {
  DumpResult res;
  ConnInfo ci;
  for (int attempt = 0; attempt <= retries; ++attempt) {
    res = DumpResult{};
    res.attempts = static_cast<uint32_t>(attempt + 1);
    if (on_begin) on_begin();
    std::string err;
    if (!impl_->Send(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, &err)) {
      res.error = err;
      return res;
    }
    bool intr = false;
    uint64_t entries = 0;
    res.error = impl_->Receive(false, &intr, &res.messages, [&](const uint8_t* m, size_t len) {
      std::string e = DecodeConntrackMessage(m, len, &ci);
      if (!e.empty()) return "ctnetlink: malformed conntrack message: " + e;
      ++entries;
      on_entry(ci);
      return std::string();
    });
    res.entries = entries;
    if (!res.error.empty()) return res;
    if (!intr) return res;
    res.interrupted = true;
  }
  res.error = "ctnetlink dump interrupted (NLM_F_DUMP_INTR) " + std::to_string(res.attempts) +
              " times in a row: the table changed too fast for a consistent listing";
  return res;
}

DumpResult HostReader::DumpCountOnly() {
  DumpResult res;
  res.attempts = 1;
  if (!impl_->Send(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, &res.error)) {
    return res;
  }
  bool intr = false;
  res.error = impl_->Receive(false, &intr, &res.messages,
                             [](const uint8_t*, size_t) { return std::string(); });
  res.entries = res.messages;
  res.interrupted = intr;
  return res;
}

bool HostReader::StatsPerCpu(std::vector<CpuStats>* out, std::string* err) {
  out->clear();
  if (!impl_->Send(IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, err)) {
    return false;
  }
  bool intr = false;
  uint64_t msgs = 0;
  *err = impl_->Receive(false, &intr, &msgs, [&](const uint8_t* m, size_t len) {
    CpuStats cs;
    std::string e = DecodeCpuStatsMessage(m, len, &cs);
    if (!e.empty()) return "ctnetlink: malformed per-CPU stats message: " + e;
    out->push_back(cs);
    return std::string();
  });
  return err->empty();
}

bool HostReader::Count(uint32_t* count, uint32_t* max, std::string* err) {
  if (!impl_->Send(IPCTNL_MSG_CT_GET_STATS, NLM_F_REQUEST, AF_UNSPEC, err)) return false;
  bool intr = false;
  uint64_t msgs = 0;
  bool have = false;
  *err = impl_->Receive(true, &intr, &msgs, [&](const uint8_t* m, size_t len) -> std::string {
    if (len < NLMSG_HDRLEN + sizeof(nfgenmsg)) return "ctnetlink: short stats message";
    size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
    host_internal::AttrIter it(m + std::min(start, len), len > start ? len - start : 0);
    host_internal::Attr a;
    while (it.Next(&a)) {
      if (a.type == CTA_STATS_GLOBAL_ENTRIES && a.len >= 4) {
        *count = Load32(a.data);
        have = true;
      } else if (a.type == CTA_STATS_GLOBAL_MAX_ENTRIES && a.len >= 4) {
        *max = Load32(a.data);
      }
    }
    if (!it.ok()) return "ctnetlink: malformed stats message";
    return std::string();
  });
  if (err->empty() && !have) *err = "ctnetlink: stats reply without CTA_STATS_GLOBAL_ENTRIES";
  return err->empty();
}

bool EnterNetns(const NetnsSpec& spec, std::string* err) {
  std::string path;
  if (!spec.name.empty()) {
    if (spec.name.find('/') != std::string::npos || spec.name == "." || spec.name == "..") {
      *err = "bad network namespace name '" + spec.name + "'";
      return false;
    }
    path = "/run/netns/" + spec.name;
  } else if (spec.pid > 0) {
    path = "/proc/" + std::to_string(spec.pid) + "/ns/net";
  } else {
    return true;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *err = spec.name.empty() ? "no process " + std::to_string(spec.pid) + " (no " + path + ")"
                               : "no network namespace '" + spec.name +
                                     "' (not in /run/netns; see ip netns list)";
    } else {
      *err = "cannot open " + path + ": " + std::strerror(errno);
    }
    return false;
  }
  int rc = setns(fd, CLONE_NEWNET);
  int e = errno;
  close(fd);
  if (rc < 0) {
    *err = "setns(" + path + "): " + std::strerror(e) +
           (e == EPERM ? " (entering a namespace needs CAP_SYS_ADMIN)" : "");
    return false;
  }
  return true;
}

}  // namespace ctrack
