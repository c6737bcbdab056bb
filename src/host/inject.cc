#include "host/inject.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <vector>

namespace ctrack {
namespace {

void PutTuple(nlmsghdr* h, uint16_t type, uint32_t src, uint32_t dst, uint16_t sport,
              uint16_t dport, uint8_t proto) {
  nlattr* t = mnl_attr_nest_start(h, type);
  nlattr* ip = mnl_attr_nest_start(h, CTA_TUPLE_IP);
  mnl_attr_put_u32(h, CTA_IP_V4_SRC, htonl(src));
  mnl_attr_put_u32(h, CTA_IP_V4_DST, htonl(dst));
  mnl_attr_nest_end(h, ip);
  nlattr* p = mnl_attr_nest_start(h, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(h, CTA_PROTO_NUM, proto);
  mnl_attr_put_u16(h, CTA_PROTO_SRC_PORT, htons(sport));
  mnl_attr_put_u16(h, CTA_PROTO_DST_PORT, htons(dport));
  mnl_attr_nest_end(h, p);
  mnl_attr_nest_end(h, t);
}

struct SocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

}  // namespace

std::string InjectEntries(const InjectSpec& spec, uint32_t* inserted) {
  *inserted = 0;
  std::unique_ptr<mnl_socket, SocketCloser> nl(mnl_socket_open(NETLINK_NETFILTER));
  if (!nl) return std::string("ctnetlink socket: ") + std::strerror(errno);
  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    return std::string("ctnetlink bind: ") + std::strerror(errno);
  const int fd = mnl_socket_get_fd(nl.get());
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  std::vector<uint8_t> buf(64 * 1024), rbuf(64 * 1024);
  uint32_t seq = 1, acked = 0, sent = 0;
  std::string first_error;
  // Each message asks for an ACK so that every insertion is accounted for; batches keep the
  // number of system calls low.
  auto drain = [&](uint32_t until) {
    while (acked < until) {
      ssize_t n = recv(fd, rbuf.data(), rbuf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (first_error.empty())
          first_error = std::string("ctnetlink recv: ") + std::strerror(errno);
        return false;
      }
      const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(rbuf.data());
      int len = static_cast<int>(n);
      for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
        if (h->nlmsg_type != NLMSG_ERROR) continue;
        ++acked;
        const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
        if (e->error == 0)
          ++*inserted;
        else if (first_error.empty())
          first_error = std::string("ctnetlink insert: ") + std::strerror(-e->error);
      }
    }
    return true;
  };
  uint32_t i = 0;
  while (i < spec.count) {
    size_t off = 0;
    uint32_t in_batch = 0;
    while (i < spec.count && buf.size() - off > 512) {
      nlmsghdr* h = mnl_nlmsg_put_header(buf.data() + off);
      h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
      h->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
      h->nlmsg_seq = seq++;
      auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(nfgenmsg)));
      g->nfgen_family = AF_INET;
      g->version = NFNETLINK_V0;
      g->res_id = 0;
      uint32_t src = spec.first_src + i;
      PutTuple(h, CTA_TUPLE_ORIG, src, spec.dst, spec.sport, spec.dport, spec.proto);
      PutTuple(h, CTA_TUPLE_REPLY, spec.dst, src, spec.dport, spec.sport, spec.proto);
      // CONFIRMED must be among the bits: ctnetlink_create_conntrack() marks the new entry
      // confirmed before applying CTA_STATUS, and ctnetlink_change_status() refuses (EBUSY) a
      // status that would clear it.
      uint32_t status = IPS_CONFIRMED | (spec.assured ? (IPS_ASSURED | IPS_SEEN_REPLY) : 0);
      mnl_attr_put_u32(h, CTA_STATUS, htonl(status));
      mnl_attr_put_u32(h, CTA_TIMEOUT, htonl(spec.timeout_s));
      if (spec.zone) mnl_attr_put_u16(h, CTA_ZONE, htons(spec.zone));
      if (spec.proto == 6) {
        nlattr* pi = mnl_attr_nest_start(h, CTA_PROTOINFO);
        nlattr* tcp = mnl_attr_nest_start(h, CTA_PROTOINFO_TCP);
        mnl_attr_put_u8(h, CTA_PROTOINFO_TCP_STATE, spec.tcp_state);
        mnl_attr_nest_end(h, tcp);
        mnl_attr_nest_end(h, pi);
      }
      off += h->nlmsg_len;
      ++i;
      ++in_batch;
    }
    if (mnl_socket_sendto(nl.get(), buf.data(), off) < 0)
      return std::string("ctnetlink send: ") + std::strerror(errno);
    sent += in_batch;
    if (!drain(sent)) break;
  }
  return first_error;
}

}  // namespace ctrack
