// The IP layer's receive checks that run before PREROUTING (ip_rcv_core / ip6_rcv_core): a
// datagram they reject never reaches conntrack (verdict "none").
#ifndef CTRACK_PARSE_IP_INPUT_H_
#define CTRACK_PARSE_IP_INPUT_H_

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

}  // namespace ctrack

#endif  // CTRACK_PARSE_IP_INPUT_H_
