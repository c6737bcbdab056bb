// Link-layer decoding for the capture link types the oracle accepts. What counts as "an IP
// datagram" follows how the oracle injects frames into its TUN device: the EtherType (or link
// type) picks IPv4 or IPv6, and the IP input checks then judge the bytes.
#include "parse/link.h"

namespace ctrack {

bool LinkTypeSupported(uint32_t linktype) {
  switch (linktype) {
    case kLinkNull:
    case kLinkEthernet:
    case kLinkRaw:
    case kLinkLoop:
    case kLinkSll:
    case kLinkIpv4:
    case kLinkIpv6:
    case kLinkSll2:
    case kLinkRawAlt:
    case kLinkRawAlt2:
      return true;
    default:
      return false;
  }
}

const char* LinkTypeName(uint32_t linktype) {
  switch (linktype) {
    case kLinkNull:
      return "null";
    case kLinkEthernet:
      return "ethernet";
    case kLinkRaw:
      return "raw";
    case kLinkLoop:
      return "loop";
    case kLinkSll:
      return "linux-sll";
    case kLinkIpv4:
      return "ipv4";
    case kLinkIpv6:
      return "ipv6";
    case kLinkSll2:
      return "linux-sll2";
    case kLinkRawAlt:
      return "raw";
    case kLinkRawAlt2:
      return "raw";
    default:
      return "unknown";
  }
}

}  // namespace ctrack
