// The IP layer's receive checks that run before PREROUTING (ip_rcv_core / ip6_rcv_core): a
// datagram they reject never reaches conntrack (verdict "none"). And the checks between
// PREROUTING and the last POSTROUTING hook on a forwarding host (ip_rcv_finish / ip_forward,
// ip6_rcv_finish / ip6_forward): a datagram they reject was classified but never reaches the
// confirm, so an entry it created is freed instead of inserted.
#ifndef CTRACK_PARSE_IP_INPUT_H_
#define CTRACK_PARSE_IP_INPUT_H_

#include <ctrack/tuple.h>

#include <cstdint>

namespace ctrack {

enum class IpInput : uint8_t {
  kOk,
  kDrop,  // rejected by the IP stack before PREROUTING
};

struct IpInputResult {
  IpInput status = IpInput::kDrop;
  uint32_t len = 0;  // datagram length after trimming to the IP total / payload length
};

// `data` holds `caplen` captured bytes starting at the IP header. A datagram whose total (IPv4) or
// payload (IPv6) length exceeds the captured bytes is dropped like a short skb, which is what a
// capture record cut short by its snaplen looks like.
IpInputResult Ipv4Input(const uint8_t* data, uint32_t caplen);
IpInputResult Ipv6Input(const uint8_t* data, uint32_t caplen);

// Whether an IPv4 datagram that conntrack has classified goes on to the last POSTROUTING hook of
// the oracle's host: forwarding on, source routing accepted, rp_filter off, a unicast route to
// the destination via a device of MTU 65535. Only the header's options can stop it there (see
// ip_input.cc). `data` holds the datagram conntrack saw (the reassembled one after
// defragmentation, whose header is the first fragment's), `len` bytes of it.
bool Ipv4Forwards(const uint8_t* data, uint32_t len);

// The same for IPv6: only a datagram larger than the egress MTU (65535) is stopped, unless it
// came out of conntrack's defragmentation (`from_defrag`, atomic fragments included), which
// marks it to be fragmented again on output.
bool Ipv6Forwards(uint32_t len, bool from_defrag);

// The oracle rewrites every packet's addresses (and TTL / hop limit to 64) at PREROUTING so that
// it is routed out, with an nftables payload write that also fixes the layer-4 checksum. That
// write gives up, and the rule rewrites nothing, when the checksum field of TCP, UDP-Lite or
// ICMPv6 lies beyond the datagram (nft_payload_l4csum_update()): `protonum` is the layer-4
// protocol, `l4_len` the bytes from its header on. Such packets are always invalid to conntrack.
inline bool OracleRewriteApplies(uint8_t protonum, uint32_t l4_len) {
  switch (protonum) {
    case kProtoTcp:  // TCP: checksum at offset 16
      return l4_len >= 18;
    case kProtoUdplite:  // UDP-Lite: checksum at offset 6, whatever the length
      return l4_len >= 8;
    case kProtoIcmpv6:  // ICMPv6: checksum at offset 2
      return l4_len >= 4;
    default:
      // UDP is only fixed up when its whole header is there with a non-zero checksum; other
      // protocols carry no pseudo-header checksum.
      return true;
  }
}
// The same for an IPv6 datagram (`data`, `len` bytes from the IPv6 header on), judged on the
// transport header as nftables finds it: ipv6_find_hdr() with IP6_FH_F_AUTH
// (nft_set_pktinfo_ipv6_validate()) stops at an AH header, which conntrack's own walk
// (ipv6_skip_exthdr()) passes over, and a chain it cannot walk or a later fragment leaves no
// layer-4 checksum to fix (nft_payload_l4csum_offset()). Either way the rewrite applies.
bool OracleRewriteAppliesIpv6(const uint8_t* data, uint32_t len);

// For a packet left as it came: whether the kernel forwards it on its own header, as the input
// route lookup (ip_route_input_slow() / ip6_route_input()) and ip_forward() / ip6_forward()
// judge it on the oracle's host (no local address but loopback, a default route out, no
// multicast forwarding). `data` holds at least the fixed IPv4 (20) or IPv6 (40) header.
bool Ipv4OwnHeaderForwards(const uint8_t* data);
bool Ipv6OwnHeaderForwards(const uint8_t* data);

}  // namespace ctrack

#endif  // CTRACK_PARSE_IP_INPUT_H_
