// Layer-3 parsing and tuple extraction. Mirrors ipv4_get_l4proto() / ipv6_get_l4proto(),
// nf_ct_get_tuple() and nf_ct_get_tuplepr(), net/netfilter/nf_conntrack_core.c, and the
// per-protocol pkt_to_tuple functions (v6.18). All reads are checked against the bytes given.
#include "parse/l3.h"

#include <bit>
#include <cstddef>
#include <cstring>

#include "parse/bytes.h"

namespace ctrack {
namespace {

constexpr uint8_t kNextHdrHop = 0;
constexpr uint8_t kNextHdrRouting = 43;
constexpr uint8_t kNextHdrFragment = 44;
constexpr uint8_t kNextHdrAuth = 51;
constexpr uint8_t kNextHdrNone = 59;
constexpr uint8_t kNextHdrDest = 60;

bool IsIpv6ExtHdr(uint8_t h) {
  return h == kNextHdrHop || h == kNextHdrRouting || h == kNextHdrFragment || h == kNextHdrAuth ||
         h == kNextHdrNone || h == kNextHdrDest;
}

// The layer-4 offset of an IPv4 datagram of which `len` bytes are readable; -1 when the header
// is unreadable, the packet is a non-first fragment, or the IHL points past the end. IHL is not
// checked against 5 here (ip_rcv_core did that for outer headers; embedded ones are taken as
// they are).
int Ipv4L4Offset(const uint8_t* data, uint32_t len, uint8_t* protonum) {
  if (len < 20) return -1;
  if (Load16(data + 6) & 0x1fff) return -1;
  const uint32_t dataoff = (data[0] & 0x0f) * 4u;
  if (dataoff > len) return -1;
  *protonum = data[9];
  return static_cast<int>(dataoff);
}

// Mirrors ipv6_skip_exthdr(), net/ipv6/exthdrs_core.c, plus the fragment check of
// ipv6_get_l4proto(). The fixed header itself is not required to be readable here: only its
// next-header byte is read (the tuple code then needs the addresses).
int Ipv6L4Offset(const uint8_t* data, uint32_t len, uint8_t* protonum, bool* saw_frag = nullptr) {
  if (len < 7) return -1;
  uint8_t nexthdr = data[6];
  uint32_t start = 40;
  uint16_t frag_off = 0;
  while (IsIpv6ExtHdr(nexthdr)) {
    if (nexthdr == kNextHdrNone) return -1;
    if (start > len || len - start < 2) return -1;
    uint32_t hdrlen;
    if (nexthdr == kNextHdrFragment) {
      if (saw_frag != nullptr) *saw_frag = true;
      if (len - start < 4) return -1;
      frag_off = Load16(data + start + 2);
      if (frag_off & ~0x7) break;  // non-first fragment: the chain ends here
      hdrlen = 8;
    } else if (nexthdr == kNextHdrAuth) {
      hdrlen = (data[start + 1] + 2u) * 4;
    } else {
      hdrlen = (data[start + 1] + 1u) * 8;
    }
    nexthdr = data[start];
    start += hdrlen;
  }
  if (frag_off & ~0x7) return -1;
  *protonum = nexthdr;
  // The last header may claim more bytes than there are. The kernel then has an offset past the
  // end, where every layer-4 read fails; clamping to the end gives the same outcomes and keeps
  // the ParsedPacket invariant l4_off <= len.
  return static_cast<int>(start > len ? len : start);
}

// The layer-4 part of nf_ct_get_tuple(): `l4`/`avail` are the readable bytes from the layer-4
// header on. ids[0] is the tuple's src_id, ids[1] its dst_id; both stay 0 where the protocol
// has none. Inlined so that the ids stay in registers (see StoreTuple).
[[gnu::always_inline]] inline bool L4Ids(uint8_t protonum, const uint8_t* l4, uint32_t avail,
                                         uint16_t ids[2]) {
  switch (protonum) {
    case kProtoIcmp:
    case kProtoIcmpv6:
      if (avail < 8) return false;
      ids[0] = Load16(l4 + 4);  // identifier, whatever the type
      ids[1] = Load16(l4);      // type << 8 | code
      return true;
    case kProtoTcp:
    case kProtoUdp:
    case kProtoUdplite:
    case kProtoSctp:
      if (avail < 4) return false;
      ids[0] = Load16(l4);
      ids[1] = Load16(l4 + 2);
      return true;
    case kProtoGre:
      // Mirrors gre_pkt_to_tuple(): anything but a readable version-1 (PPTP) header is keyed
      // 0/0 like a generic protocol; a short v1 header too. A v1 header must carry PPP. The
      // source key would come from the PPTP helper's keymap, which is never set here.
      if (avail < 4 || (Load16(l4) & 0x7) != 1) return true;
      if (avail < 8) return true;
      if (Load16(l4 + 2) != 0x880b) return false;
      ids[1] = Load16(l4 + 6);  // call id
      return true;
    default:
      return true;  // generic: zero ids
  }
}

// Writes the whole tuple as five 8-byte words, each stored once. Table::Hash reads the tuple
// back right away in 8-byte loads, and a load cannot take its data from several smaller stores:
// a tuple built field by field (memset, 4-byte addresses, 2-byte ids) stalled the hash on store
// forwarding for every packet. `l3` must hold at least the fixed header's address fields.
[[gnu::always_inline]] inline void StoreTuple(const uint8_t* l3, uint8_t l3num, uint8_t protonum,
                                              uint16_t zone, const uint16_t ids[2], Tuple* out) {
  static_assert(offsetof(Tuple, dst) == 16 && offsetof(Tuple, src_id) == 32 && sizeof(Tuple) == 40);
  auto store = [out](size_t off, uint64_t v) {
    std::memcpy(reinterpret_cast<uint8_t*>(out) + off, &v, sizeof(v));
  };
  if (l3num == kAfInet) {
    // An IPv4 address fills the first 4 bytes of its 16, the rest are zero. Built in a register
    // (an array on the stack took the same partial-store penalty).
    uint32_t a;
    const auto widen = [](uint32_t v) {
      return std::endian::native == std::endian::little ? uint64_t{v} : uint64_t{v} << 32;
    };
    std::memcpy(&a, l3 + 12, 4);
    store(0, widen(a));
    store(8, 0);
    std::memcpy(&a, l3 + 16, 4);
    store(16, widen(a));
    store(24, 0);
  } else {
    std::memcpy(out->src, l3 + 8, 32);  // source then destination, as in the tuple
  }
  struct Tail {
    uint16_t src_id, dst_id;
    uint8_t l3num, protonum;
    uint16_t zone;
  } tail = {ids[0], ids[1], l3num, protonum, zone};
  static_assert(sizeof(Tail) == sizeof(uint64_t));
  uint64_t w;
  std::memcpy(&w, &tail, sizeof(w));
  store(32, w);
}

}  // namespace

L3Parse ParseL3(const uint8_t* data, uint32_t len, ParsedPacket* out, bool* fragment) {
  bool frag = false;
  if (fragment == nullptr) fragment = &frag;
  *fragment = false;
  if (data == nullptr || len < 1) return L3Parse::kInvalid;
  const uint8_t version = data[0] >> 4;
  uint8_t protonum = 0;
  int off;
  uint8_t l3num;
  if (version == 4) {
    *fragment = len >= 20 && (Load16(data + 6) & 0x3fff) != 0;  // MF or an offset
    off = Ipv4L4Offset(data, len, &protonum);
    l3num = kAfInet;
  } else if (version == 6) {
    if (len < 40) return L3Parse::kInvalid;
    off = Ipv6L4Offset(data, len, &protonum, fragment);
    l3num = kAfInet6;
  } else {
    return L3Parse::kInvalid;
  }
  if (off < 0) return L3Parse::kInvalid;
  out->l3 = data;
  out->len = len;
  out->l4_off = static_cast<uint32_t>(off);
  out->l3num = l3num;
  out->protonum = protonum;
  return L3Parse::kOk;
}

bool GetTuple(const ParsedPacket& pkt, uint16_t zone, Tuple* out) {
  if (pkt.l3 == nullptr || pkt.l4_off > pkt.len) return false;
  uint16_t ids[2] = {0, 0};
  if (!L4Ids(pkt.protonum, pkt.l4(), pkt.l4_len(), ids)) return false;
  StoreTuple(pkt.l3, pkt.l3num, pkt.protonum, zone, ids, out);
  return true;
}

bool GetInnerTuple(const uint8_t* data, uint32_t len, uint8_t outer_l3num, uint16_t zone,
                   Tuple* out) {
  if (data == nullptr) return false;
  // The embedded header is read as the outer family (the kernel passes the hook's family and
  // never looks at the embedded version nibble).
  uint8_t protonum = 0;
  int off;
  if (outer_l3num == kAfInet) {
    off = Ipv4L4Offset(data, len, &protonum);  // needs 20 bytes: addresses included
  } else if (outer_l3num == kAfInet6) {
    off = Ipv6L4Offset(data, len, &protonum);
    if (off >= 0 && len < 40) return false;  // ipv6_pkt_to_tuple: addresses unreadable
  } else {
    return false;
  }
  // Offsets are relative to the embedded header here; the kernel's are absolute (always > 0),
  // so an embedded IHL of 0 is not rejected.
  if (off < 0) return false;
  const uint32_t l4_off = static_cast<uint32_t>(off);
  uint16_t ids[2] = {0, 0};
  if (!L4Ids(protonum, data + l4_off, len - l4_off, ids)) return false;
  StoreTuple(data, outer_l3num, protonum, zone, ids, out);
  return true;
}

}  // namespace ctrack
