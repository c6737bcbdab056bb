// Bounds-checked decoding of ctnetlink messages into the public entry model. Pure functions over
// a byte range: the fuzz target drives them directly.
//
// Layout (linux/netlink.h, linux/netfilter/nfnetlink.h): struct nlmsghdr (16 bytes), struct
// nfgenmsg (4 bytes), then attributes. Each attribute is a 4-byte header (nla_len including the
// header, nla_type with the NESTED / NET_BYTEORDER flags in its top bits) and its payload, padded
// to 4 bytes. The attributes the kernel writes are those of ctnetlink_fill_info() and
// ctnetlink_ct_stat_cpu_fill_info(), net/netfilter/nf_conntrack_netlink.c.
#include <ctrack/host.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include <cstring>
#include <string>

#include "host/internal.h"
#include "parse/bytes.h"

namespace ctrack {
namespace host_internal {

bool AttrIter::Next(Attr* a) {
  if (!ok_) return false;
  // A tail shorter than an attribute header is padding (nla_ok() stops there too).
  if (end_ - p_ < 4) return false;
  uint16_t nla_len;
  uint16_t nla_type;
  std::memcpy(&nla_len, p_, 2);
  std::memcpy(&nla_type, p_ + 2, 2);
  if (nla_len < 4 || nla_len > end_ - p_) {
    ok_ = false;
    return false;
  }
  a->type = nla_type & NLA_TYPE_MASK;
  a->data = p_ + 4;
  a->len = static_cast<size_t>(nla_len) - 4;
  size_t step = (static_cast<size_t>(nla_len) + 3u) & ~size_t{3};
  p_ = step >= static_cast<size_t>(end_ - p_) ? end_ : p_ + step;
  return true;
}

}  // namespace host_internal

namespace {

using host_internal::Attr;
using host_internal::AttrIter;

// Each Decode* returns nullptr on success or a static reason.
using Err = const char*;

Err NeedLen(const Attr& a, size_t n, Err what) { return a.len < n ? what : nullptr; }

// CTA_TUPLE_IP: CTA_IP_V4_SRC/DST (4 bytes) or CTA_IP_V6_SRC/DST (16 bytes).
Err DecodeTupleIp(const Attr& nest, Tuple* t) {
  AttrIter it(nest.data, nest.len);
  Attr a;
  while (it.Next(&a)) {
    switch (a.type) {
      case CTA_IP_V4_SRC:
      case CTA_IP_V4_DST:
        if (a.len < 4) return "short CTA_IP_V4 address";
        std::memcpy(a.type == CTA_IP_V4_SRC ? t->src : t->dst, a.data, 4);
        t->l3num = kAfInet;
        break;
      case CTA_IP_V6_SRC:
      case CTA_IP_V6_DST:
        if (a.len < 16) return "short CTA_IP_V6 address";
        std::memcpy(a.type == CTA_IP_V6_SRC ? t->src : t->dst, a.data, 16);
        t->l3num = kAfInet6;
        break;
      default:
        break;
    }
  }
  return it.ok() ? nullptr : "attribute crosses CTA_TUPLE_IP";
}

// CTA_TUPLE_PROTO: the protocol number and its ids (ports / GRE keys / ICMP id, type, code).
Err DecodeTupleProto(const Attr& nest, Tuple* t) {
  AttrIter it(nest.data, nest.len);
  Attr a;
  uint8_t type = 0, code = 0;
  bool icmp = false;
  while (it.Next(&a)) {
    switch (a.type) {
      case CTA_PROTO_NUM:
        if (a.len < 1) return "short CTA_PROTO_NUM";
        t->protonum = a.data[0];
        break;
      case CTA_PROTO_SRC_PORT:
        if (a.len < 2) return "short CTA_PROTO_SRC_PORT";
        t->src_id = Load16(a.data);
        break;
      case CTA_PROTO_DST_PORT:
        if (a.len < 2) return "short CTA_PROTO_DST_PORT";
        t->dst_id = Load16(a.data);
        break;
      case CTA_PROTO_ICMP_ID:
      case CTA_PROTO_ICMPV6_ID:
        if (a.len < 2) return "short CTA_PROTO_ICMP_ID";
        t->src_id = Load16(a.data);
        icmp = true;
        break;
      case CTA_PROTO_ICMP_TYPE:
      case CTA_PROTO_ICMPV6_TYPE:
        if (a.len < 1) return "short CTA_PROTO_ICMP_TYPE";
        type = a.data[0];
        icmp = true;
        break;
      case CTA_PROTO_ICMP_CODE:
      case CTA_PROTO_ICMPV6_CODE:
        if (a.len < 1) return "short CTA_PROTO_ICMP_CODE";
        code = a.data[0];
        icmp = true;
        break;
      default:
        break;
    }
  }
  if (!it.ok()) return "attribute crosses CTA_TUPLE_PROTO";
  if (icmp) t->dst_id = static_cast<uint16_t>(type << 8 | code);
  return nullptr;
}

Err DecodeTuple(const Attr& nest, Tuple* t, int32_t* tuple_zone) {
  AttrIter it(nest.data, nest.len);
  Attr a;
  bool have_ip = false, have_proto = false;
  while (it.Next(&a)) {
    Err e = nullptr;
    switch (a.type) {
      case CTA_TUPLE_IP:
        e = DecodeTupleIp(a, t);
        have_ip = true;
        break;
      case CTA_TUPLE_PROTO:
        e = DecodeTupleProto(a, t);
        have_proto = true;
        break;
      case CTA_TUPLE_ZONE:
        e = NeedLen(a, 2, "short CTA_TUPLE_ZONE");
        if (!e) *tuple_zone = Load16(a.data);
        break;
      default:
        break;
    }
    if (e) return e;
  }
  if (!it.ok()) return "attribute crosses a tuple";
  if (!have_ip || !have_proto) return "tuple without CTA_TUPLE_IP or CTA_TUPLE_PROTO";
  return nullptr;
}

Err DecodeProtoinfo(const Attr& nest, ConnInfo* ci) {
  AttrIter it(nest.data, nest.len);
  Attr a;
  while (it.Next(&a)) {
    if (a.type == CTA_PROTOINFO_TCP) {
      AttrIter in(a.data, a.len);
      Attr b;
      while (in.Next(&b)) {
        switch (b.type) {
          case CTA_PROTOINFO_TCP_STATE:
            if (b.len < 1) return "short CTA_PROTOINFO_TCP_STATE";
            ci->state = b.data[0];
            break;
          case CTA_PROTOINFO_TCP_WSCALE_ORIGINAL:
          case CTA_PROTOINFO_TCP_WSCALE_REPLY:
            if (b.len < 1) return "short CTA_PROTOINFO_TCP_WSCALE";
            ci->tcp_wscale[b.type == CTA_PROTOINFO_TCP_WSCALE_REPLY] = b.data[0];
            break;
          case CTA_PROTOINFO_TCP_FLAGS_ORIGINAL:
          case CTA_PROTOINFO_TCP_FLAGS_REPLY:
            // struct nf_ct_tcp_flags { __u8 flags; __u8 mask; }
            if (b.len < 2) return "short CTA_PROTOINFO_TCP_FLAGS";
            ci->tcp_flags[b.type == CTA_PROTOINFO_TCP_FLAGS_REPLY] = b.data[0];
            break;
          default:
            break;
        }
      }
      if (!in.ok()) return "attribute crosses CTA_PROTOINFO_TCP";
    } else if (a.type == CTA_PROTOINFO_SCTP) {
      AttrIter in(a.data, a.len);
      Attr b;
      while (in.Next(&b)) {
        if (b.type == CTA_PROTOINFO_SCTP_STATE) {
          if (b.len < 1) return "short CTA_PROTOINFO_SCTP_STATE";
          ci->state = b.data[0];
        }
      }
      if (!in.ok()) return "attribute crosses CTA_PROTOINFO_SCTP";
    } else if (a.type == CTA_PROTOINFO_DCCP) {
      AttrIter in(a.data, a.len);
      Attr b;
      while (in.Next(&b)) {
      }
      if (!in.ok()) return "attribute crosses CTA_PROTOINFO_DCCP";
    }
  }
  return it.ok() ? nullptr : "attribute crosses CTA_PROTOINFO";
}

Err DecodeCounters(const Attr& nest, uint64_t* packets, uint64_t* bytes) {
  AttrIter it(nest.data, nest.len);
  Attr a;
  while (it.Next(&a)) {
    switch (a.type) {
      case CTA_COUNTERS_PACKETS:
      case CTA_COUNTERS_BYTES:
        if (a.len < 8) return "short CTA_COUNTERS value";
        *(a.type == CTA_COUNTERS_PACKETS ? packets : bytes) = Load64(a.data);
        break;
      case CTA_COUNTERS32_PACKETS:
      case CTA_COUNTERS32_BYTES:
        if (a.len < 4) return "short CTA_COUNTERS32 value";
        *(a.type == CTA_COUNTERS32_PACKETS ? packets : bytes) = Load32(a.data);
        break;
      default:
        break;
    }
  }
  return it.ok() ? nullptr : "attribute crosses CTA_COUNTERS";
}

// A NUL-terminated (or not) string attribute nested one level down, `inner` its type.
Err DecodeNestedString(const Attr& nest, uint16_t inner, std::string* out) {
  AttrIter it(nest.data, nest.len);
  Attr a;
  while (it.Next(&a)) {
    if (a.type != inner) continue;
    size_t n = strnlen(reinterpret_cast<const char*>(a.data), a.len);
    out->assign(reinterpret_cast<const char*>(a.data), n);
  }
  return it.ok() ? nullptr : "attribute crosses a string nest";
}

Err DecodeTimestamp(const Attr& nest, ConnInfo* ci) {
  AttrIter it(nest.data, nest.len);
  Attr a;
  while (it.Next(&a)) {
    if (a.type == CTA_TIMESTAMP_START || a.type == CTA_TIMESTAMP_STOP) {
      if (a.len < 8) return "short CTA_TIMESTAMP value";
      (a.type == CTA_TIMESTAMP_START ? ci->ts_start_ns : ci->ts_stop_ns) = Load64(a.data);
    }
  }
  if (!it.ok()) return "attribute crosses CTA_TIMESTAMP";
  ci->has_timestamp = true;
  return nullptr;
}

// Checks the netlink and nfgenmsg headers; sets the attribute range.
Err CheckHeaders(const uint8_t* msg, size_t len, uint16_t want_type_lo, uint16_t want_type_hi,
                 const uint8_t** attrs, size_t* attrs_len, uint8_t* family, uint16_t* res_id) {
  if (msg == nullptr || len < sizeof(nlmsghdr)) return "netlink message shorter than its header";
  nlmsghdr h;
  std::memcpy(&h, msg, sizeof h);
  if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len) {
    return "netlink message length outside its buffer";
  }
  uint16_t subsys = NFNL_SUBSYS_ID(h.nlmsg_type);
  uint16_t type = NFNL_MSG_TYPE(h.nlmsg_type);
  if (subsys != NFNL_SUBSYS_CTNETLINK || type < want_type_lo || type > want_type_hi) {
    return "not a ctnetlink conntrack message";
  }
  size_t hdr = NLMSG_ALIGN(sizeof(nlmsghdr)) + sizeof(nfgenmsg);
  if (h.nlmsg_len < hdr) return "ctnetlink message without its nfgenmsg header";
  nfgenmsg g;
  std::memcpy(&g, msg + NLMSG_ALIGN(sizeof(nlmsghdr)), sizeof g);
  *family = g.nfgen_family;
  *res_id = Load16(reinterpret_cast<const uint8_t*>(&g.res_id));
  size_t start = NLMSG_ALIGN(hdr);
  *attrs = msg + std::min<size_t>(start, h.nlmsg_len);
  *attrs_len = h.nlmsg_len > start ? h.nlmsg_len - start : 0;
  return nullptr;
}

// One top-level attribute of a conntrack entry message into *ci; the tuples' presence and the
// entry's zone are reported for the caller to check and apply once all attributes are read.
Err DecodeEntryAttr(const Attr& a, ConnInfo* ci, bool* have_orig, bool* have_reply,
                    uint16_t* zone) {
  Err e = nullptr;
  switch (a.type) {
    case CTA_TUPLE_ORIG:
      e = DecodeTuple(a, &ci->orig, &ci->tuple_zone[0]);
      *have_orig = true;
      break;
    case CTA_TUPLE_REPLY:
      e = DecodeTuple(a, &ci->reply, &ci->tuple_zone[1]);
      *have_reply = true;
      break;
    case CTA_STATUS:
      e = NeedLen(a, 4, "short CTA_STATUS");
      if (!e) ci->status = static_cast<uint16_t>(Load32(a.data) & 0xffffu);
      break;
    case CTA_PROTOINFO:
      e = DecodeProtoinfo(a, ci);
      break;
    case CTA_HELP:
      e = DecodeNestedString(a, CTA_HELP_NAME, &ci->helper);
      break;
    case CTA_TIMEOUT:
      e = NeedLen(a, 4, "short CTA_TIMEOUT");
      if (!e) ci->timeout_s = Load32(a.data);
      break;
    case CTA_MARK:
      e = NeedLen(a, 4, "short CTA_MARK");
      if (!e) ci->mark = Load32(a.data);
      break;
    case CTA_COUNTERS_ORIG:
    case CTA_COUNTERS_REPLY: {
      int d = a.type == CTA_COUNTERS_REPLY;
      e = DecodeCounters(a, &ci->packets[d], &ci->bytes[d]);
      ci->has_acct = true;
      break;
    }
    case CTA_USE:
      e = NeedLen(a, 4, "short CTA_USE");
      if (!e) ci->use = Load32(a.data);
      break;
    case CTA_ID:
      e = NeedLen(a, 4, "short CTA_ID");
      if (!e) ci->id = Load32(a.data);
      break;
    case CTA_SECMARK:
      e = NeedLen(a, 4, "short CTA_SECMARK");
      if (!e) ci->secmark = Load32(a.data);
      break;
    case CTA_ZONE:
      e = NeedLen(a, 2, "short CTA_ZONE");
      if (!e) *zone = Load16(a.data);
      break;
    case CTA_SECCTX:
      e = DecodeNestedString(a, CTA_SECCTX_NAME, &ci->secctx);
      break;
    case CTA_TIMESTAMP:
      e = DecodeTimestamp(a, ci);
      break;
    case CTA_LABELS:
      ci->has_labels = true;
      std::memcpy(ci->labels, a.data, std::min(a.len, sizeof ci->labels));
      break;
    default:
      break;
  }
  return e;
}

}  // namespace

std::string DecodeConntrackMessage(const uint8_t* msg, size_t len, ConnInfo* ci) {
  *ci = ConnInfo{};
  const uint8_t* attrs;
  size_t attrs_len;
  uint8_t family;
  uint16_t res_id;
  if (Err e = CheckHeaders(msg, len, IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_DELETE, &attrs, &attrs_len,
                           &family, &res_id)) {
    return e;
  }
  AttrIter it(attrs, attrs_len);
  Attr a;
  bool have_orig = false, have_reply = false;
  uint16_t zone = 0;
  while (it.Next(&a)) {
    if (Err e = DecodeEntryAttr(a, ci, &have_orig, &have_reply, &zone)) return e;
  }
  if (!it.ok()) return "attribute crosses the message";
  if (!have_orig || !have_reply) return "entry without both tuples";
  if (ci->orig.l3num == 0) ci->orig.l3num = family;
  if (ci->reply.l3num == 0) ci->reply.l3num = family;
  ci->orig.zone = zone;
  ci->reply.zone = zone;
  return "";
}

std::string DecodeCpuStatsMessage(const uint8_t* msg, size_t len, CpuStats* out) {
  *out = CpuStats{};
  const uint8_t* attrs;
  size_t attrs_len;
  uint8_t family;
  uint16_t res_id;
  if (Err e = CheckHeaders(msg, len, IPCTNL_MSG_CT_GET_STATS_CPU, IPCTNL_MSG_CT_GET_STATS_CPU,
                           &attrs, &attrs_len, &family, &res_id)) {
    return e;
  }
  out->cpu = res_id;
  AttrIter it(attrs, attrs_len);
  Attr a;
  while (it.Next(&a)) {
    uint64_t* dst = nullptr;
    switch (a.type) {
      case CTA_STATS_FOUND:
        dst = &out->st.found;
        break;
      case CTA_STATS_INVALID:
        dst = &out->st.invalid;
        break;
      case CTA_STATS_INSERT:
        dst = &out->st.insert;
        break;
      case CTA_STATS_INSERT_FAILED:
        dst = &out->st.insert_failed;
        break;
      case CTA_STATS_DROP:
        dst = &out->st.drop;
        break;
      case CTA_STATS_EARLY_DROP:
        dst = &out->st.early_drop;
        break;
      case CTA_STATS_ERROR:
        dst = &out->st.error;
        break;
      case CTA_STATS_SEARCH_RESTART:
        dst = &out->st.search_restart;
        break;
      case CTA_STATS_CLASH_RESOLVE:
        dst = &out->st.clash_resolve;
        break;
      case CTA_STATS_CHAIN_TOOLONG:
        dst = &out->st.chaintoolong;
        break;
      default:
        break;
    }
    if (dst) {
      if (a.len < 4) return "short CTA_STATS value";
      *dst = Load32(a.data);
    }
  }
  return it.ok() ? "" : "attribute crosses the message";
}

std::string ForEachNetlinkMessage(const uint8_t* buf, size_t len,
                                  const std::function<bool(const uint8_t*, size_t)>& fn) {
  size_t off = 0;
  while (len - off >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, buf + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - off) {
      return "netlink message length outside the buffer (truncated message)";
    }
    if (!fn(buf + off, h.nlmsg_len)) return "";
    size_t step = NLMSG_ALIGN(h.nlmsg_len);
    off = step >= len - off ? len : off + step;
  }
  if (off != len) return "netlink buffer ends inside a message header (truncated message)";
  return "";
}

}  // namespace ctrack
