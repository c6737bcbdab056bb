// Connection tuples, as nf_conntrack_tuple.h defines them, plus the zone id.
#ifndef CTRACK_TUPLE_H_
#define CTRACK_TUPLE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ctrack {

// Address families, numbered as AF_INET / AF_INET6 (the kernel's l3num).
inline constexpr uint8_t kAfInet = 2;
inline constexpr uint8_t kAfInet6 = 10;

// IP protocol numbers the engine knows by name.
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoGre = 47;
inline constexpr uint8_t kProtoIcmpv6 = 58;
inline constexpr uint8_t kProtoSctp = 132;
inline constexpr uint8_t kProtoUdplite = 136;

enum class Dir : uint8_t { kOriginal = 0, kReply = 1 };

inline constexpr Dir Opposite(Dir d) { return d == Dir::kOriginal ? Dir::kReply : Dir::kOriginal; }

// One direction of a connection. Unused bytes are always zero (IPv4 uses the first 4 address
// bytes; generic protocols have zero ids) so that the struct can be compared and hashed as raw
// bytes. The zone is part of the lookup key (the kernel compares it beside the tuple), so it is
// stored here rather than beside the tuple.
//
// src_id / dst_id hold the kernel's src.u / dst.u in host byte order:
//   TCP, UDP, UDP-Lite, SCTP: ports.  GRE: keys.
//   ICMP, ICMPv6: src_id = identifier, dst_id = type << 8 | code.
struct Tuple {
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t src_id;
  uint16_t dst_id;
  uint8_t l3num;     // kAfInet or kAfInet6
  uint8_t protonum;  // IP protocol number
  uint16_t zone;     // conntrack zone id (0 by default)

  uint8_t icmp_type() const { return static_cast<uint8_t>(dst_id >> 8); }
  uint8_t icmp_code() const { return static_cast<uint8_t>(dst_id & 0xff); }

  friend bool operator==(const Tuple& a, const Tuple& b) {
    return std::memcmp(&a, &b, sizeof(Tuple)) == 0;
  }
  friend bool operator!=(const Tuple& a, const Tuple& b) { return !(a == b); }
};
static_assert(sizeof(Tuple) == 40, "no padding: compared and hashed as bytes");

// The ICMP/ICMPv6 part of InvertTuple().
bool InvertIcmpTuple(const Tuple& in, Tuple* out);

// Builds the reply-direction tuple (nf_ct_invert_tuple). Returns false when the protocol
// cannot invert it: ICMP/ICMPv6 types without a reply type. `out` may be `&in`.
//
// Inline, and the last 8 bytes (ids, family, protocol, zone) are moved as one word with the two
// ids swapped in a register: built field by field, the tuple was read back at once by the hash's
// 8-byte loads, which cannot take their data from several smaller stores (a store-forwarding
// stall on every new connection's reply tuple). Swapping the halves of the 32-bit word that holds
// src_id and dst_id is the same on either byte order.
inline bool InvertTuple(const Tuple& in, Tuple* out) {
  if (in.protonum == kProtoIcmp || in.protonum == kProtoIcmpv6) return InvertIcmpTuple(in, out);
  uint8_t src[16], dst[16];
  uint64_t tail;
  std::memcpy(src, in.src, sizeof(src));
  std::memcpy(dst, in.dst, sizeof(dst));
  std::memcpy(&tail, &in.src_id, sizeof(tail));
  const uint32_t ids = static_cast<uint32_t>(tail);
  static_assert(offsetof(Tuple, src_id) == 32 && offsetof(Tuple, dst_id) == 34);
  tail = (tail & 0xffffffff00000000ull) | (ids >> 16 | ids << 16);
  std::memcpy(out->src, dst, sizeof(dst));
  std::memcpy(out->dst, src, sizeof(src));
  std::memcpy(&out->src_id, &tail, sizeof(tail));
  return true;
}

// Maps an ICMP (v4) / ICMPv6 query type to its reply type; returns -1 when the type has none.
int IcmpReplyType(uint8_t type);
int Icmpv6ReplyType(uint8_t type);

}  // namespace ctrack

#endif  // CTRACK_TUPLE_H_
