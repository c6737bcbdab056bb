// Tuple inversion. Mirrors nf_ct_invert_tuple(), net/netfilter/nf_conntrack_core.c, with the
// per-protocol parts of nf_conntrack_proto_icmp.c / nf_conntrack_proto_icmpv6.c (v6.18).
#include <ctrack/tuple.h>

namespace ctrack {

int IcmpReplyType(uint8_t type) {
  switch (type) {
    case 8:
      return 0;  // echo request -> echo reply
    case 0:
      return 8;
    case 13:
      return 14;  // timestamp
    case 14:
      return 13;
    case 15:
      return 16;  // information request
    case 16:
      return 15;
    case 17:
      return 18;  // address mask
    case 18:
      return 17;
    default:
      return -1;
  }
}

int Icmpv6ReplyType(uint8_t type) {
  switch (type) {
    case 128:
      return 129;  // echo request -> echo reply
    case 129:
      return 128;
    case 139:
      return 140;  // node information query -> reply
    case 140:
      return 139;
    default:
      return -1;
  }
}

bool InvertIcmpTuple(const Tuple& in, Tuple* out) {
  Tuple t = in;
  std::memcpy(t.src, in.dst, sizeof(t.src));
  std::memcpy(t.dst, in.src, sizeof(t.dst));
  // The tracker is chosen by protocol number alone, so ICMP inside IPv6 still uses the ICMPv4
  // reply map (the tracker rejects such packets later).
  const int reply =
      in.protonum == kProtoIcmp ? IcmpReplyType(in.icmp_type()) : Icmpv6ReplyType(in.icmp_type());
  if (reply < 0) return false;
  t.src_id = in.src_id;  // identifier kept
  t.dst_id = static_cast<uint16_t>(reply << 8 | in.icmp_code());
  *out = t;
  return true;
}

}  // namespace ctrack
