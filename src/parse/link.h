// Link-layer decoding: a captured frame to the IP datagram it carries.
#ifndef CTRACK_PARSE_LINK_H_
#define CTRACK_PARSE_LINK_H_

#include <ctrack/packet.h>

#include <cstddef>
#include <cstdint>

namespace ctrack {

// Result of link decoding. `l3` points into the frame; `len` is the number of captured bytes
// from l3 on. ip_version is 4 or 6, or 0 when the frame carries no IP datagram (ARP, MPLS, ...).
struct LinkResult {
  const uint8_t* l3 = nullptr;
  uint32_t len = 0;
  uint8_t ip_version = 0;
  bool vlan = false;  // one or more 802.1Q/802.1ad tags were stripped
};

// Never reads past data + caplen.
LinkResult DecodeLink(uint32_t linktype, const uint8_t* data, size_t caplen);

}  // namespace ctrack

#endif  // CTRACK_PARSE_LINK_H_
