#include "testing/capture_builder.h"

namespace ctrack::testing {
namespace {

std::string Encode(uint64_t v, int n, bool big) {
  std::string s(static_cast<size_t>(n), '\0');
  for (int i = 0; i < n; ++i) {
    int shift = 8 * (big ? n - 1 - i : i);
    s[static_cast<size_t>(i)] = static_cast<char>(v >> shift);
  }
  return s;
}

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string Pad4(std::string s) {
  while (s.size() % 4 != 0) s += '\0';
  return s;
}

uint16_t EtherTypeOf(const Bytes& ip) { return !ip.empty() && (ip[0] >> 4) == 6 ? 0x86dd : 0x0800; }

}  // namespace

std::string PcapngBuilder::U16(uint16_t v) const { return Encode(v, 2, big_); }
std::string PcapngBuilder::U32(uint32_t v) const { return Encode(v, 4, big_); }
std::string PcapngBuilder::U64(uint64_t v) const { return Encode(v, 8, big_); }

void PcapngBuilder::Put(uint32_t type, const std::string& body) {
  std::string b = Pad4(body);
  uint32_t len = static_cast<uint32_t>(b.size() + 12);
  out_ += U32(type) + U32(len) + b + U32(len);
}

PcapngBuilder& PcapngBuilder::Section(bool big_endian) {
  big_ = big_endian;
  // Byte-order magic, version 1.0, section length unknown (-1), no options.
  Put(0x0a0d0d0a, U32(0x1a2b3c4d) + U16(1) + U16(0) + U64(~uint64_t{0}));
  return *this;
}

PcapngBuilder& PcapngBuilder::Interface(uint16_t linktype, uint32_t snaplen,
                                        std::optional<uint8_t> tsresol,
                                        std::optional<int64_t> tsoffset) {
  std::string body = U16(linktype) + U16(0) + U32(snaplen);
  // A comment first, so that options are walked rather than found at a fixed place.
  body += U16(1) + U16(5) + Pad4("ctrk!");
  if (tsresol) body += U16(9) + U16(1) + Pad4(std::string(1, static_cast<char>(*tsresol)));
  if (tsoffset) body += U16(14) + U16(8) + U64(static_cast<uint64_t>(*tsoffset));
  body += U16(0) + U16(0);
  Put(1, body);
  return *this;
}

PcapngBuilder& PcapngBuilder::Epb(uint32_t ifid, uint64_t ts, const Bytes& frame, uint32_t origlen,
                                  std::optional<uint32_t> caplen) {
  uint32_t cap = caplen ? *caplen : static_cast<uint32_t>(frame.size());
  uint32_t orig = origlen ? origlen : static_cast<uint32_t>(frame.size());
  Put(6, U32(ifid) + U32(static_cast<uint32_t>(ts >> 32)) + U32(static_cast<uint32_t>(ts)) +
             U32(cap) + U32(orig) + Pad4(Str(frame)));
  return *this;
}

PcapngBuilder& PcapngBuilder::Opb(uint16_t ifid, uint64_t ts, const Bytes& frame,
                                  uint32_t origlen) {
  uint32_t orig = origlen ? origlen : static_cast<uint32_t>(frame.size());
  Put(2, U16(ifid) + U16(0) + U32(static_cast<uint32_t>(ts >> 32)) +
             U32(static_cast<uint32_t>(ts)) + U32(static_cast<uint32_t>(frame.size())) + U32(orig) +
             Pad4(Str(frame)));
  return *this;
}

PcapngBuilder& PcapngBuilder::Spb(const Bytes& frame, uint32_t origlen) {
  uint32_t orig = origlen ? origlen : static_cast<uint32_t>(frame.size());
  Put(3, U32(orig) + Pad4(Str(frame)));
  return *this;
}

PcapngBuilder& PcapngBuilder::Block(uint32_t type, const Bytes& body) {
  Put(type, Str(body));
  return *this;
}

PcapngBuilder& PcapngBuilder::Raw(const std::string& bytes) {
  out_ += bytes;
  return *this;
}

PcapBuilder::PcapBuilder(uint32_t linktype, uint32_t snaplen, bool nano, bool big_endian)
    : big_(big_endian) {
  out_ = U32(nano ? 0xa1b23c4d : 0xa1b2c3d4) + Encode(2, 2, big_) + Encode(4, 2, big_) + U32(0) +
         U32(0) + U32(snaplen) + U32(linktype);
}

std::string PcapBuilder::U32(uint32_t v) const { return Encode(v, 4, big_); }

PcapBuilder& PcapBuilder::Record(uint32_t sec, uint32_t frac, const Bytes& data, uint32_t origlen,
                                 std::optional<uint32_t> caplen) {
  uint32_t cap = caplen ? *caplen : static_cast<uint32_t>(data.size());
  uint32_t orig = origlen ? origlen : static_cast<uint32_t>(data.size());
  out_ += U32(sec) + U32(frac) + U32(cap) + U32(orig) + Str(data);
  return *this;
}

Bytes EthernetFrame(const Bytes& ip, std::optional<uint16_t> vlan) {
  Bytes f = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
  if (vlan) {
    for (uint8_t v : {uint8_t{0x81}, uint8_t{0x00}, static_cast<uint8_t>(*vlan >> 8),
                      static_cast<uint8_t>(*vlan)}) {
      f.push_back(v);
    }
  }
  uint16_t et = EtherTypeOf(ip);
  f.push_back(static_cast<uint8_t>(et >> 8));
  f.push_back(static_cast<uint8_t>(et));
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

Bytes SllFrame(const Bytes& ip) {
  // Packet type 0 (to us), ARPHRD_ETHER, address length 6, address (8 bytes), protocol.
  Bytes f = {0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0};
  uint16_t et = EtherTypeOf(ip);
  f.push_back(static_cast<uint8_t>(et >> 8));
  f.push_back(static_cast<uint8_t>(et));
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

Bytes Sll2Frame(const Bytes& ip) {
  // Protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address.
  uint16_t et = EtherTypeOf(ip);
  Bytes f = {static_cast<uint8_t>(et >> 8),
             static_cast<uint8_t>(et),
             0,
             0,
             0,
             0,
             0,
             2,
             0,
             1,
             0,
             6,
             0x02,
             0,
             0,
             0,
             0,
             1,
             0,
             0};
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

Bytes NullFrame(const Bytes& ip) {
  Bytes f = {static_cast<uint8_t>(EtherTypeOf(ip) == 0x86dd ? 10 : 2), 0, 0, 0};
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

}  // namespace ctrack::testing
