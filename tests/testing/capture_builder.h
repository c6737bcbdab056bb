// Writes pcap and pcapng files byte by byte, in either byte order, including shapes real tools
// produce and malformed ones (tests of src/io/capture.h, crafted oracle cases, fuzz seeds).
//
//   PcapngBuilder ng;                                  // section header, little endian
//   ng.Interface(kLinkEthernet).Interface(kLinkRaw, 0, 9);   // if_tsresol 9: nanoseconds
//   ng.Epb(0, ts_us, eth_frame).Spb(eth_frame).Epb(1, ts_ns, ip_packet);
//   std::string file = ng.bytes();
#ifndef CTRACK_TESTING_CAPTURE_BUILDER_H_
#define CTRACK_TESTING_CAPTURE_BUILDER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "testing/packet_builder.h"

namespace ctrack::testing {

class PcapngBuilder {
 public:
  explicit PcapngBuilder(bool big_endian = false) { Section(big_endian); }

  // A section header block (version 1.0); interfaces restart at 0 and the byte order changes.
  PcapngBuilder& Section(bool big_endian);
  // An interface description block; `tsresol` is the if_tsresol byte, `tsoffset` if_tsoffset.
  PcapngBuilder& Interface(uint16_t linktype, uint32_t snaplen = 0,
                           std::optional<uint8_t> tsresol = std::nullopt,
                           std::optional<int64_t> tsoffset = std::nullopt);
  // Enhanced packet block; `origlen` 0 means the frame's size. `caplen` overrides the field.
  PcapngBuilder& Epb(uint32_t ifid, uint64_t ts, const Bytes& frame, uint32_t origlen = 0,
                     std::optional<uint32_t> caplen = std::nullopt);
  // Obsolete packet block (interface id and drops count on 16 bits each).
  PcapngBuilder& Opb(uint16_t ifid, uint64_t ts, const Bytes& frame, uint32_t origlen = 0);
  // Simple packet block: the frame as stored, `origlen` the original length (0: frame size).
  PcapngBuilder& Spb(const Bytes& frame, uint32_t origlen = 0);
  // Any block with this type and body (padded to 4 bytes), e.g. name resolution (4),
  // interface statistics (5), custom (0x40000bad).
  PcapngBuilder& Block(uint32_t type, const Bytes& body);
  // Bytes as they are (malformed blocks).
  PcapngBuilder& Raw(const std::string& bytes);

  const std::string& bytes() const { return out_; }
  std::string U32(uint32_t v) const;

 private:
  std::string U16(uint16_t v) const;
  std::string U64(uint64_t v) const;
  void Put(uint32_t type, const std::string& body);

  bool big_ = false;
  std::string out_;
};

// A classic pcap file: any magic (µs or ns, either byte order), snaplen and link type; records
// with any declared caplen and original length.
class PcapBuilder {
 public:
  PcapBuilder(uint32_t linktype, uint32_t snaplen = 65535, bool nano = false,
              bool big_endian = false);
  // `origlen` 0 means data.size(); `caplen` overrides the declared captured length.
  PcapBuilder& Record(uint32_t sec, uint32_t frac, const Bytes& data, uint32_t origlen = 0,
                      std::optional<uint32_t> caplen = std::nullopt);
  const std::string& bytes() const { return out_; }

 private:
  std::string U32(uint32_t v) const;
  bool big_;
  std::string out_;
};

// Link-layer framings of an IP packet for the link types the oracle reads.
Bytes EthernetFrame(const Bytes& ip, std::optional<uint16_t> vlan = std::nullopt);
Bytes SllFrame(const Bytes& ip);   // Linux cooked v1 (113)
Bytes Sll2Frame(const Bytes& ip);  // Linux cooked v2 (276)
Bytes NullFrame(const Bytes& ip);  // BSD loopback (0), family in little-endian host order

}  // namespace ctrack::testing

#endif  // CTRACK_TESTING_CAPTURE_BUILDER_H_
