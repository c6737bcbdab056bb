// Link-layer decoding: a captured frame to the IP datagram it carries.
#ifndef CTRACK_PARSE_LINK_H_
#define CTRACK_PARSE_LINK_H_

#include <ctrack/decode.h>
#include <ctrack/packet.h>

#include <cstddef>
#include <cstdint>

namespace ctrack {

// Result of link decoding. `l3` points into the frame; `len` is the number of captured bytes
// from l3 on. ip_version is 4 or 6, or 0 when the frame carries no IP datagram (ARP, MPLS, ...);
// not_ip and not_ip_value then say why (see FrameFacts).
struct LinkResult {
  const uint8_t* l3 = nullptr;
  uint32_t len = 0;
  uint8_t ip_version = 0;
  bool vlan = false;  // one or more 802.1Q/802.1ad tags were stripped
  NotIp not_ip = NotIp::kNo;
  uint32_t not_ip_value = 0;
};

// Never reads past data + caplen.
LinkResult DecodeLink(uint32_t linktype, const uint8_t* data, size_t caplen);

}  // namespace ctrack

#endif  // CTRACK_PARSE_LINK_H_
