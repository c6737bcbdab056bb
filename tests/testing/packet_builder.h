// Builds packets for tests: PacketBuilder().Ipv4(a, b).Tcp(sp, dp).Flags(kSyn).Seq(1000).Build()
// gives a valid IPv4/TCP datagram with correct checksums (unless overridden).
#ifndef CTRACK_TESTING_PACKET_BUILDER_H_
#define CTRACK_TESTING_PACKET_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ctrack::testing {

using Bytes = std::vector<uint8_t>;

// TCP flag bits as in the header byte.
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10,
                         kUrg = 0x20, kEce = 0x40, kCwr = 0x80;

class PacketBuilder {
 public:
  // Layer 3. Addresses in text form ("10.0.0.1", "2001:db8::1").
  PacketBuilder& Ipv4(const std::string& src, const std::string& dst);
  PacketBuilder& Ipv6(const std::string& src, const std::string& dst);
  PacketBuilder& Ttl(uint8_t ttl);
  PacketBuilder& IpId(uint16_t id);
  PacketBuilder& Ipv4Options(const Bytes& opts);                  // padded to 4 bytes
  PacketBuilder& Ipv6ExtHeader(uint8_t type, const Bytes& body);  // appended in order
  PacketBuilder& BadIpChecksum();
  // Additions (packet-parsing owner): raw IP header fields for crafting odd datagrams.
  PacketBuilder& Tos(uint8_t tos);                              // IPv4 TOS / IPv6 traffic class
  PacketBuilder& DontFragment();                                // IPv4 DF bit
  PacketBuilder& FragOffset(uint16_t offset_bytes, bool more);  // IPv4 offset (multiple of 8) + MF
  PacketBuilder& IpTotalLength(uint16_t len);  // force IPv4 total / IPv6 payload length field
  PacketBuilder& IpVersion(uint8_t version);   // force the version nibble
  PacketBuilder& Ihl(uint8_t ihl);             // force the IPv4 IHL field (words)

  // Layer 4 (one of them).
  PacketBuilder& Tcp(uint16_t sport, uint16_t dport);
  PacketBuilder& Udp(uint16_t sport, uint16_t dport);
  PacketBuilder& UdpLite(uint16_t sport, uint16_t dport, uint16_t coverage = 0);
  PacketBuilder& Icmp(uint8_t type, uint8_t code, uint16_t id = 0, uint16_t seq = 0);
  PacketBuilder& Icmpv6(uint8_t type, uint8_t code, uint16_t id = 0, uint16_t seq = 0);
  PacketBuilder& Sctp(uint16_t sport, uint16_t dport, uint32_t vtag);
  PacketBuilder& SctpChunk(uint8_t type, uint8_t flags, const Bytes& body);
  PacketBuilder& Gre(uint16_t flags_version, uint16_t proto, const Bytes& rest = {});
  PacketBuilder& Proto(uint8_t protonum);  // raw payload under any protocol number

  // TCP fields.
  PacketBuilder& Flags(uint8_t flags);
  PacketBuilder& Seq(uint32_t seq);
  PacketBuilder& Ack(uint32_t ack);
  PacketBuilder& Win(uint16_t win);
  PacketBuilder& Mss(uint16_t mss);
  PacketBuilder& WScale(uint8_t shift);
  PacketBuilder& SackPerm();
  PacketBuilder& Sack(const std::vector<std::pair<uint32_t, uint32_t>>& blocks);
  PacketBuilder& Timestamps(uint32_t val, uint32_t ecr);
  PacketBuilder& TcpOptionsRaw(const Bytes& opts);  // replaces the options built so far
  PacketBuilder& DataOffset(uint8_t doff);          // force the header length field

  PacketBuilder& Payload(const Bytes& data);
  PacketBuilder& Payload(size_t n, uint8_t fill = 'x');
  PacketBuilder& L4Checksum(uint16_t csum);  // force a value (0 means "no checksum" for UDP)
  PacketBuilder& BadL4Checksum();

  // The IP datagram.
  Bytes Build() const;
  // The datagram in an Ethernet II frame (optionally with 802.1Q tags).
  Bytes BuildEthernet(const std::vector<uint16_t>& vlans = {}) const;

 private:
  struct State;
  // Copy-on-write: copies of a builder share state until one of them is modified.
  State& Mut();
  std::shared_ptr<State> s_;

 public:
  PacketBuilder();
};

// Linux cooked v1 (SLL, linktype 113) and v2 (SLL2, linktype 276) framing of an IP datagram.
Bytes WrapSll(const Bytes& datagram);
Bytes WrapSll2(const Bytes& datagram);

// Splits an IPv4 datagram into fragments of at most `mtu` bytes of IP packet each.
std::vector<Bytes> FragmentIpv4(const Bytes& datagram, uint32_t mtu);
// Splits an IPv6 datagram (inserting a fragment header) into fragments.
std::vector<Bytes> FragmentIpv6(const Bytes& datagram, uint32_t mtu, uint32_t ident);

// Writes a classic pcap (microsecond, little endian) of raw-IP (linktype 101) or Ethernet frames.
struct PcapRecord {
  int64_t ts_ns;
  Bytes data;
  uint32_t wirelen = 0;  // 0: same as data.size()
};
bool WritePcap(const std::string& path, uint32_t linktype, const std::vector<PcapRecord>& recs);

}  // namespace ctrack::testing

#endif  // CTRACK_TESTING_PACKET_BUILDER_H_
