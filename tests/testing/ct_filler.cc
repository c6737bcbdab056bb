#include "testing/ct_filler.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ctrack::testing {
namespace {

class Msg {
 public:
  explicit Msg(std::vector<uint8_t>* b) : b_(b) {}
  size_t Begin(uint16_t type) {
    size_t at = b_->size();
    Put16(0);
    Put16(type | NLA_F_NESTED);
    return at;
  }
  void End(size_t at) {
    uint16_t len = static_cast<uint16_t>(b_->size() - at);
    std::memcpy(b_->data() + at, &len, 2);
  }
  void Attr(uint16_t type, const void* data, size_t n) {
    Put16(static_cast<uint16_t>(4 + n));
    Put16(type);
    const auto* p = static_cast<const uint8_t*>(data);
    b_->insert(b_->end(), p, p + n);
    while (b_->size() % 4) b_->push_back(0);
  }
  void Be16(uint16_t type, uint16_t v) {
    uint8_t x[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    Attr(type, x, 2);
  }
  void Be32(uint16_t type, uint32_t v) {
    uint8_t x[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                    static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    Attr(type, x, 4);
  }

 private:
  void Put16(uint16_t v) {
    uint8_t x[2];
    std::memcpy(x, &v, 2);
    b_->insert(b_->end(), x, x + 2);
  }
  std::vector<uint8_t>* b_;
};

void Tuple(Msg* m, uint16_t which, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  size_t t = m->Begin(which);
  size_t ip = m->Begin(CTA_TUPLE_IP);
  m->Be32(CTA_IP_V4_SRC, src);
  m->Be32(CTA_IP_V4_DST, dst);
  m->End(ip);
  size_t pr = m->Begin(CTA_TUPLE_PROTO);
  uint8_t udp = 17;
  m->Attr(CTA_PROTO_NUM, &udp, 1);
  m->Be16(CTA_PROTO_SRC_PORT, sport);
  m->Be16(CTA_PROTO_DST_PORT, dport);
  m->End(pr);
  m->End(t);
}

}  // namespace

uint64_t InsertFillers(uint64_t n, uint16_t zone, std::string* err) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return 0;
  }
  int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  uint64_t ok = 0, sent = 0, seq = 0;
  std::vector<uint8_t> buf;
  std::vector<uint8_t> rbuf(1 << 20);
  const uint32_t dst = 0x0AFFFFFEu;  // 10.255.255.254
  while (sent < n) {
    buf.clear();
    uint64_t batch = std::min<uint64_t>(n - sent, 256);
    for (uint64_t i = 0; i < batch; ++i, ++sent) {
      size_t start = buf.size();
      nlmsghdr h = {};
      h.nlmsg_type = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW;
      h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
      h.nlmsg_seq = static_cast<uint32_t>(++seq);
      buf.resize(start + sizeof h);
      nfgenmsg g = {AF_INET, NFNETLINK_V0, 0};
      buf.insert(buf.end(), reinterpret_cast<uint8_t*>(&g), reinterpret_cast<uint8_t*>(&g) + 4);
      Msg m(&buf);
      uint32_t src = 0x0A000000u + static_cast<uint32_t>(sent);
      Tuple(&m, CTA_TUPLE_ORIG, src, dst, 1, 2);
      Tuple(&m, CTA_TUPLE_REPLY, dst, src, 2, 1);
      m.Be32(CTA_TIMEOUT, 30 * 86400);
      m.Be32(CTA_STATUS, 0xE);  // ASSURED | CONFIRMED | SEEN_REPLY
      m.Be16(CTA_ZONE, zone);
      h.nlmsg_len = static_cast<uint32_t>(buf.size() - start);
      std::memcpy(buf.data() + start, &h, sizeof h);
    }
    if (send(fd, buf.data(), buf.size(), 0) < 0) {
      *err = std::string("send: ") + std::strerror(errno);
      break;
    }
    // One ACK per message.
    uint64_t acks = 0;
    while (acks < batch) {
      ssize_t r = recv(fd, rbuf.data(), rbuf.size(), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        *err = std::string("recv: ") + std::strerror(errno);
        close(fd);
        return ok;
      }
      size_t off = 0;
      while (off + sizeof(nlmsghdr) <= static_cast<size_t>(r)) {
        nlmsghdr h;
        std::memcpy(&h, rbuf.data() + off, sizeof h);
        if (h.nlmsg_len < sizeof h || off + h.nlmsg_len > static_cast<size_t>(r)) break;
        if (h.nlmsg_type == NLMSG_ERROR) {
          int code;
          std::memcpy(&code, rbuf.data() + off + sizeof h, sizeof code);
          ++acks;
          if (code == 0) {
            ++ok;
          } else if (err->empty()) {
            *err = std::string("insert: ") + std::strerror(-code);
          }
        }
        off += NLMSG_ALIGN(h.nlmsg_len);
      }
    }
  }
  close(fd);
  return ok;
}

}  // namespace ctrack::testing
