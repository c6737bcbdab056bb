// Test packet builder. Independent of the library's parsing code on purpose (its own checksum
// and CRC32c code), so that tests of the parser do not check the parser against itself.
#include "testing/packet_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>

#include "parse/bytes.h"

namespace ctrack::testing {
namespace {

enum class L4Kind : uint8_t { kNone, kTcp, kUdp, kUdpLite, kIcmp, kIcmpv6, kSctp, kGre, kRaw };

void Put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void Put32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void Append16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void Append32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (24 - 8 * i)));
}

uint32_t Sum16(const uint8_t* p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}
uint16_t Finish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Written independently of src/parse/checksum.cc on purpose: packets built here test the
// library's verification, so they must not share its code.
uint32_t Crc32c(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

// Total length in bytes of an IPv6 extension header with the given body, and its length byte.
void ExtHeaderLayout(uint8_t type, size_t body, size_t* total, uint8_t* len_field) {
  if (type == 44) {  // fragment header: fixed 8 bytes
    *total = 8;
    *len_field = 0;
  } else if (type == 51) {  // AH: length in 4-byte units minus 2; IPv6 wants 8-byte multiples
    *total = (2 + body + 7) / 8 * 8;
    if (*total < 8) *total = 8;
    *len_field = static_cast<uint8_t>(*total / 4 - 2);
  } else {  // hop-by-hop, routing, destination options...: 8-byte units minus 1
    *total = (2 + body + 7) / 8 * 8;
    *len_field = static_cast<uint8_t>(*total / 8 - 1);
  }
}

}  // namespace

struct PacketBuilder::State {
  uint8_t version = 4;
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t ip_id = 0;
  uint16_t frag_field = 0;  // IPv4 flags + offset (host order)
  Bytes ipv4_opts;
  std::vector<std::pair<uint8_t, Bytes>> ext_headers;
  bool bad_ip_csum = false;
  std::optional<uint16_t> total_len;
  std::optional<uint8_t> force_version;
  std::optional<uint8_t> force_ihl;

  L4Kind kind = L4Kind::kNone;
  uint8_t protonum = 253;
  uint16_t sport = 0, dport = 0;
  uint16_t udplite_cov = 0;
  uint8_t icmp_type = 0, icmp_code = 0;
  uint16_t icmp_id = 0, icmp_seq = 0;
  uint32_t vtag = 0;
  Bytes sctp_chunks;
  uint16_t gre_flags = 0, gre_proto = 0;
  Bytes gre_rest;

  uint8_t flags = 0;
  uint32_t seq = 0, ack = 0;
  uint16_t win = 65535;
  Bytes tcp_opts;
  std::optional<uint8_t> doff;

  Bytes payload;
  std::optional<uint16_t> l4_csum;
  bool bad_l4_csum = false;
};

PacketBuilder::PacketBuilder() : s_(std::make_shared<State>()) {}

PacketBuilder::State& PacketBuilder::Mut() {
  if (s_.use_count() > 1) s_ = std::make_shared<State>(*s_);
  return *s_;
}

PacketBuilder& PacketBuilder::Ipv4(const std::string& src, const std::string& dst) {
  State& s = Mut();
  s.version = 4;
  s.src.fill(0);
  s.dst.fill(0);
  if (inet_pton(AF_INET, src.c_str(), s.src.data()) != 1 ||
      inet_pton(AF_INET, dst.c_str(), s.dst.data()) != 1) {
    std::fprintf(stderr, "PacketBuilder: bad IPv4 address %s / %s\n", src.c_str(), dst.c_str());
  }
  return *this;
}

PacketBuilder& PacketBuilder::Ipv6(const std::string& src, const std::string& dst) {
  State& s = Mut();
  s.version = 6;
  if (inet_pton(AF_INET6, src.c_str(), s.src.data()) != 1 ||
      inet_pton(AF_INET6, dst.c_str(), s.dst.data()) != 1) {
    std::fprintf(stderr, "PacketBuilder: bad IPv6 address %s / %s\n", src.c_str(), dst.c_str());
  }
  return *this;
}

PacketBuilder& PacketBuilder::Ttl(uint8_t ttl) {
  Mut().ttl = ttl;
  return *this;
}
PacketBuilder& PacketBuilder::IpId(uint16_t id) {
  Mut().ip_id = id;
  return *this;
}
PacketBuilder& PacketBuilder::Ipv4Options(const Bytes& opts) {
  Bytes o = opts;
  while (o.size() % 4) o.push_back(0);  // EOL padding
  Mut().ipv4_opts = o;
  return *this;
}
PacketBuilder& PacketBuilder::Ipv6ExtHeader(uint8_t type, const Bytes& body) {
  Mut().ext_headers.emplace_back(type, body);
  return *this;
}
PacketBuilder& PacketBuilder::BadIpChecksum() {
  Mut().bad_ip_csum = true;
  return *this;
}
PacketBuilder& PacketBuilder::Tos(uint8_t tos) {
  Mut().tos = tos;
  return *this;
}
PacketBuilder& PacketBuilder::DontFragment() {
  Mut().frag_field |= 0x4000;
  return *this;
}
PacketBuilder& PacketBuilder::FragOffset(uint16_t offset_bytes, bool more) {
  State& s = Mut();
  s.frag_field = static_cast<uint16_t>((s.frag_field & 0x4000) | (more ? 0x2000 : 0) |
                                       ((offset_bytes / 8) & 0x1fff));
  return *this;
}
PacketBuilder& PacketBuilder::IpTotalLength(uint16_t len) {
  Mut().total_len = len;
  return *this;
}
PacketBuilder& PacketBuilder::IpVersion(uint8_t v) {
  Mut().force_version = v;
  return *this;
}
PacketBuilder& PacketBuilder::Ihl(uint8_t ihl) {
  Mut().force_ihl = ihl;
  return *this;
}

PacketBuilder& PacketBuilder::Tcp(uint16_t sport, uint16_t dport) {
  State& s = Mut();
  s.kind = L4Kind::kTcp;
  s.protonum = 6;
  s.sport = sport;
  s.dport = dport;
  return *this;
}
PacketBuilder& PacketBuilder::Udp(uint16_t sport, uint16_t dport) {
  State& s = Mut();
  s.kind = L4Kind::kUdp;
  s.protonum = 17;
  s.sport = sport;
  s.dport = dport;
  return *this;
}
PacketBuilder& PacketBuilder::UdpLite(uint16_t sport, uint16_t dport, uint16_t coverage) {
  State& s = Mut();
  s.kind = L4Kind::kUdpLite;
  s.protonum = 136;
  s.sport = sport;
  s.dport = dport;
  s.udplite_cov = coverage;
  return *this;
}
PacketBuilder& PacketBuilder::Icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
  State& s = Mut();
  s.kind = L4Kind::kIcmp;
  s.protonum = 1;
  s.icmp_type = type;
  s.icmp_code = code;
  s.icmp_id = id;
  s.icmp_seq = seq;
  return *this;
}
PacketBuilder& PacketBuilder::Icmpv6(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
  Icmp(type, code, id, seq);
  State& s = Mut();
  s.kind = L4Kind::kIcmpv6;
  s.protonum = 58;
  return *this;
}
PacketBuilder& PacketBuilder::Sctp(uint16_t sport, uint16_t dport, uint32_t vtag) {
  State& s = Mut();
  s.kind = L4Kind::kSctp;
  s.protonum = 132;
  s.sport = sport;
  s.dport = dport;
  s.vtag = vtag;
  return *this;
}
PacketBuilder& PacketBuilder::SctpChunk(uint8_t type, uint8_t flags, const Bytes& body) {
  State& s = Mut();
  Bytes& c = s.sctp_chunks;
  c.push_back(type);
  c.push_back(flags);
  Append16(c, static_cast<uint16_t>(4 + body.size()));
  c.insert(c.end(), body.begin(), body.end());
  while (c.size() % 4) c.push_back(0);
  return *this;
}
PacketBuilder& PacketBuilder::Gre(uint16_t flags_version, uint16_t proto, const Bytes& rest) {
  State& s = Mut();
  s.kind = L4Kind::kGre;
  s.protonum = 47;
  s.gre_flags = flags_version;
  s.gre_proto = proto;
  s.gre_rest = rest;
  return *this;
}
PacketBuilder& PacketBuilder::Proto(uint8_t protonum) {
  State& s = Mut();
  s.kind = L4Kind::kRaw;
  s.protonum = protonum;
  return *this;
}

PacketBuilder& PacketBuilder::Flags(uint8_t flags) {
  Mut().flags = flags;
  return *this;
}
PacketBuilder& PacketBuilder::Seq(uint32_t seq) {
  Mut().seq = seq;
  return *this;
}
PacketBuilder& PacketBuilder::Ack(uint32_t ack) {
  Mut().ack = ack;
  return *this;
}
PacketBuilder& PacketBuilder::Win(uint16_t win) {
  Mut().win = win;
  return *this;
}
PacketBuilder& PacketBuilder::Mss(uint16_t mss) {
  Bytes& o = Mut().tcp_opts;
  o.push_back(2);
  o.push_back(4);
  Append16(o, mss);
  return *this;
}
PacketBuilder& PacketBuilder::WScale(uint8_t shift) {
  Bytes& o = Mut().tcp_opts;
  o.insert(o.end(), {3, 3, shift});
  return *this;
}
PacketBuilder& PacketBuilder::SackPerm() {
  Bytes& o = Mut().tcp_opts;
  o.insert(o.end(), {4, 2});
  return *this;
}
PacketBuilder& PacketBuilder::Sack(const std::vector<std::pair<uint32_t, uint32_t>>& blocks) {
  Bytes& o = Mut().tcp_opts;
  o.push_back(5);
  o.push_back(static_cast<uint8_t>(2 + 8 * blocks.size()));
  for (const auto& [l, r] : blocks) {
    Append32(o, l);
    Append32(o, r);
  }
  return *this;
}
PacketBuilder& PacketBuilder::Timestamps(uint32_t val, uint32_t ecr) {
  Bytes& o = Mut().tcp_opts;
  o.push_back(8);
  o.push_back(10);
  Append32(o, val);
  Append32(o, ecr);
  return *this;
}
PacketBuilder& PacketBuilder::TcpOptionsRaw(const Bytes& opts) {
  Mut().tcp_opts = opts;
  return *this;
}
PacketBuilder& PacketBuilder::DataOffset(uint8_t doff) {
  Mut().doff = doff;
  return *this;
}

PacketBuilder& PacketBuilder::Payload(const Bytes& data) {
  Mut().payload = data;
  return *this;
}
PacketBuilder& PacketBuilder::Payload(size_t n, uint8_t fill) {
  Mut().payload.assign(n, fill);
  return *this;
}
PacketBuilder& PacketBuilder::L4Checksum(uint16_t csum) {
  Mut().l4_csum = csum;
  return *this;
}
PacketBuilder& PacketBuilder::BadL4Checksum() {
  Mut().bad_l4_csum = true;
  return *this;
}

Bytes PacketBuilder::Build() const {
  const State& s = *s_;

  // Layer 4 segment; `csum_off` is where its checksum goes (npos: none).
  Bytes l4;
  size_t csum_off = SIZE_MAX;
  switch (s.kind) {
    case L4Kind::kTcp: {
      Bytes opts = s.tcp_opts;
      while (opts.size() % 4) opts.push_back(0);  // EOL padding to a 4-byte boundary
      l4.resize(20);
      Put16(l4, 0, s.sport);
      Put16(l4, 2, s.dport);
      Put32(l4, 4, s.seq);
      Put32(l4, 8, s.ack);
      uint8_t doff = s.doff ? *s.doff : static_cast<uint8_t>((20 + opts.size()) / 4);
      l4[12] = static_cast<uint8_t>(doff << 4);
      l4[13] = s.flags;
      Put16(l4, 14, s.win);
      l4.insert(l4.end(), opts.begin(), opts.end());
      csum_off = 16;
      break;
    }
    case L4Kind::kUdp:
    case L4Kind::kUdpLite:
      l4.resize(8);
      Put16(l4, 0, s.sport);
      Put16(l4, 2, s.dport);
      csum_off = 6;
      break;
    case L4Kind::kIcmp:
    case L4Kind::kIcmpv6:
      l4 = {s.icmp_type, s.icmp_code, 0, 0};
      Append16(l4, s.icmp_id);
      Append16(l4, s.icmp_seq);
      csum_off = 2;
      break;
    case L4Kind::kSctp:
      l4.resize(12);
      Put16(l4, 0, s.sport);
      Put16(l4, 2, s.dport);
      Put32(l4, 4, s.vtag);
      l4.insert(l4.end(), s.sctp_chunks.begin(), s.sctp_chunks.end());
      csum_off = 8;
      break;
    case L4Kind::kGre:
      Append16(l4, s.gre_flags);
      Append16(l4, s.gre_proto);
      l4.insert(l4.end(), s.gre_rest.begin(), s.gre_rest.end());
      break;
    case L4Kind::kNone:
    case L4Kind::kRaw:
      break;
  }
  l4.insert(l4.end(), s.payload.begin(), s.payload.end());
  if (s.kind == L4Kind::kUdp) Put16(l4, 4, static_cast<uint16_t>(l4.size()));
  if (s.kind == L4Kind::kUdpLite) Put16(l4, 4, s.udplite_cov);

  // Pseudo-header sum (IPv4: 12 bytes, IPv6: 40 bytes).
  auto pseudo = [&](uint8_t proto, uint32_t len) {
    uint32_t sum = 0;
    size_t alen = s.version == 6 ? 16 : 4;
    sum = Sum16(s.src.data(), alen, sum);
    sum = Sum16(s.dst.data(), alen, sum);
    sum += len >> 16;
    sum += len & 0xffff;
    sum += proto;
    return sum;
  };
  if (csum_off != SIZE_MAX) {
    uint16_t c = 0;
    switch (s.kind) {
      case L4Kind::kTcp:
        c = Finish(Sum16(l4.data(), l4.size(), pseudo(6, static_cast<uint32_t>(l4.size()))));
        break;
      case L4Kind::kUdp:
        c = Finish(Sum16(l4.data(), l4.size(), pseudo(17, static_cast<uint32_t>(l4.size()))));
        if (c == 0) c = 0xffff;
        break;
      case L4Kind::kUdpLite: {
        // The checksum the kernel accepts: pseudo-header with protocol 17 (as udplite_error()
        // verifies it, nf_conntrack_proto_udp.c); coverage 0 means the whole segment. Use
        // L4Checksum() for RFC-correct values.
        size_t cov = s.udplite_cov == 0 ? l4.size() : std::min<size_t>(s.udplite_cov, l4.size());
        c = Finish(Sum16(l4.data(), cov, pseudo(17, static_cast<uint32_t>(l4.size()))));
        if (c == 0) c = 0xffff;
        break;
      }
      case L4Kind::kIcmp:
        c = Finish(Sum16(l4.data(), l4.size(), 0));
        break;
      case L4Kind::kIcmpv6:
        c = Finish(Sum16(l4.data(), l4.size(), pseudo(58, static_cast<uint32_t>(l4.size()))));
        break;
      case L4Kind::kSctp: {
        uint32_t crc = Crc32c(l4.data(), l4.size());
        // Stored little-endian, as the kernel's sctp_compute_cksum() does.
        for (int i = 0; i < 4; ++i) l4[csum_off + i] = static_cast<uint8_t>(crc >> (8 * i));
        break;
      }
      default:
        break;
    }
    if (s.kind != L4Kind::kSctp) {
      if (s.bad_l4_csum) {
        c ^= 0x00ff;
        if (c == 0) c = 0x1234;
      }
      if (s.l4_csum) c = *s.l4_csum;
      Put16(l4, csum_off, c);
    } else {
      if (s.bad_l4_csum) l4[csum_off] ^= 0xff;
      if (s.l4_csum) Put16(l4, csum_off, *s.l4_csum);
    }
  }

  Bytes out;
  if (s.version == 4) {
    size_t hlen = 20 + s.ipv4_opts.size();
    out.resize(hlen);
    uint8_t ihl = s.force_ihl ? *s.force_ihl : static_cast<uint8_t>(hlen / 4);
    uint8_t ver = s.force_version ? *s.force_version : 4;
    out[0] = static_cast<uint8_t>(ver << 4 | (ihl & 0xf));
    out[1] = s.tos;
    Put16(out, 2, s.total_len ? *s.total_len : static_cast<uint16_t>(hlen + l4.size()));
    Put16(out, 4, s.ip_id);
    Put16(out, 6, s.frag_field);
    out[8] = s.ttl;
    out[9] = s.protonum;
    std::memcpy(&out[12], s.src.data(), 4);
    std::memcpy(&out[16], s.dst.data(), 4);
    std::copy(s.ipv4_opts.begin(), s.ipv4_opts.end(), out.begin() + 20);
    uint16_t c = Finish(Sum16(out.data(), hlen, 0));
    if (s.bad_ip_csum) c ^= 0x0f0f;
    Put16(out, 10, c);
    out.insert(out.end(), l4.begin(), l4.end());
    return out;
  }

  // IPv6: fixed header, extension headers chained in order, then the L4 segment.
  Bytes ext;
  for (size_t i = 0; i < s.ext_headers.size(); ++i) {
    const auto& [type, body] = s.ext_headers[i];
    uint8_t next = i + 1 < s.ext_headers.size() ? s.ext_headers[i + 1].first : s.protonum;
    size_t total;
    uint8_t len_field;
    ExtHeaderLayout(type, body.size(), &total, &len_field);
    size_t start = ext.size();
    ext.resize(start + total, 0);
    ext[start] = next;
    ext[start + 1] = len_field;
    std::copy_n(body.begin(), std::min(body.size(), total - 2),
                ext.begin() + static_cast<long>(start + 2));
  }
  out.resize(40);
  uint8_t ver = s.force_version ? *s.force_version : 6;
  out[0] = static_cast<uint8_t>(ver << 4 | s.tos >> 4);
  out[1] = static_cast<uint8_t>(s.tos << 4);
  Put16(out, 4, s.total_len ? *s.total_len : static_cast<uint16_t>(ext.size() + l4.size()));
  out[6] = s.ext_headers.empty() ? s.protonum : s.ext_headers[0].first;
  out[7] = s.ttl;
  std::memcpy(&out[8], s.src.data(), 16);
  std::memcpy(&out[24], s.dst.data(), 16);
  out.insert(out.end(), ext.begin(), ext.end());
  out.insert(out.end(), l4.begin(), l4.end());
  return out;
}

Bytes PacketBuilder::BuildEthernet(const std::vector<uint16_t>& vlans) const {
  Bytes ip = Build();
  Bytes f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  for (uint16_t v : vlans) {
    Append16(f, 0x8100);
    Append16(f, v);
  }
  Append16(f, s_->version == 6 ? 0x86dd : 0x0800);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

Bytes WrapSll(const Bytes& datagram) {
  Bytes f(16, 0);
  Put16(f, 0, 0);  // packet type: to us
  Put16(f, 2, 1);  // ARPHRD_ETHER
  Put16(f, 4, 6);  // address length
  f[6] = 0x02;
  f[11] = 0x01;
  bool v6 = !datagram.empty() && (datagram[0] >> 4) == 6;
  Put16(f, 14, v6 ? 0x86dd : 0x0800);
  f.insert(f.end(), datagram.begin(), datagram.end());
  return f;
}

Bytes WrapSll2(const Bytes& datagram) {
  Bytes f(20, 0);
  bool v6 = !datagram.empty() && (datagram[0] >> 4) == 6;
  Put16(f, 0, v6 ? 0x86dd : 0x0800);
  Put32(f, 4, 1);  // interface index
  Put16(f, 8, 1);  // ARPHRD_ETHER
  f[10] = 0;       // packet type
  f[11] = 6;       // address length
  f[12] = 0x02;
  f[17] = 0x01;
  f.insert(f.end(), datagram.begin(), datagram.end());
  return f;
}

std::vector<Bytes> FragmentIpv4(const Bytes& datagram, uint32_t mtu) {
  std::vector<Bytes> out;
  if (datagram.size() < 20) return {datagram};
  size_t hlen = (datagram[0] & 0xf) * 4u;
  size_t total = std::min<size_t>(Load16(datagram.data() + 2), datagram.size());
  if (hlen < 20 || hlen > total || mtu < hlen + 8) return {datagram};
  uint16_t orig = Load16(datagram.data() + 6);
  size_t base = (orig & 0x1fff) * 8u;
  bool orig_mf = orig & 0x2000;
  size_t chunk = (mtu - hlen) / 8 * 8;
  size_t data_len = total - hlen;
  // Later fragments keep only options with the "copied" bit; the others become NOPs.
  Bytes later_hdr(datagram.begin(), datagram.begin() + hlen);
  for (size_t i = 20; i < hlen;) {
    uint8_t t = later_hdr[i];
    if (t == 0) break;
    if (t == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= hlen) break;
    size_t ol = later_hdr[i + 1];
    if (ol < 2 || i + ol > hlen) break;
    if (!(t & 0x80)) std::memset(&later_hdr[i], 1, ol);
    i += ol;
  }
  for (size_t off = 0; off < data_len || (off == 0 && data_len == 0); off += chunk) {
    size_t n = std::min(chunk, data_len - off);
    Bytes f(off == 0 ? datagram.begin() : later_hdr.begin(),
            off == 0 ? datagram.begin() + hlen : later_hdr.end());
    f.insert(f.end(), datagram.begin() + hlen + off, datagram.begin() + hlen + off + n);
    bool last = off + n >= data_len;
    Put16(f, 2, static_cast<uint16_t>(f.size()));
    uint16_t field = static_cast<uint16_t>((orig & 0x4000) | ((base + off) / 8));
    if (!last || orig_mf) field |= 0x2000;
    Put16(f, 6, field);
    Put16(f, 10, 0);
    Put16(f, 10, Finish(Sum16(f.data(), hlen, 0)));
    out.push_back(std::move(f));
    if (data_len == 0) break;
  }
  return out;
}

std::vector<Bytes> FragmentIpv6(const Bytes& datagram, uint32_t mtu, uint32_t ident) {
  if (datagram.size() < 40) return {datagram};
  size_t total = std::min<size_t>(40 + Load16(datagram.data() + 4), datagram.size());
  // The unfragmentable part: the fixed header plus hop-by-hop and routing headers (and
  // destination options that precede a routing header).
  size_t unfrag = 40;
  size_t next_off = 6;  // where the "next header" byte of the last unfragmentable header is
  uint8_t next = datagram[6];
  size_t pos = 40;
  while (next == 0 || next == 43 || next == 60) {
    if (pos + 2 > total) break;
    size_t len = (datagram[pos + 1] + 1u) * 8;
    if (next == 60) {  // keep it only when a routing header follows
      if (datagram[pos] != 43) break;
    }
    if (pos + len > total) break;
    next_off = pos;
    next = datagram[pos];
    pos += len;
    unfrag = pos;
  }
  std::vector<Bytes> out;
  if (mtu < unfrag + 16) return {datagram};
  size_t chunk = (mtu - unfrag - 8) / 8 * 8;
  size_t data_len = total - unfrag;
  for (size_t off = 0; off < data_len || off == 0; off += chunk) {
    size_t n = std::min(chunk, data_len - off);
    Bytes f(datagram.begin(), datagram.begin() + unfrag);
    f[next_off] = 44;
    bool last = off + n >= data_len;
    f.push_back(next);
    f.push_back(0);
    Append16(f, static_cast<uint16_t>(off | (last ? 0 : 1)));
    Append32(f, ident);
    f.insert(f.end(), datagram.begin() + unfrag + off, datagram.begin() + unfrag + off + n);
    Put16(f, 4, static_cast<uint16_t>(f.size() - 40));
    out.push_back(std::move(f));
    if (last) break;
  }
  return out;
}

bool WritePcap(const std::string& path, uint32_t linktype, const std::vector<PcapRecord>& recs) {
  FILE* fp = std::fopen(path.c_str(), "wb");
  if (!fp) return false;
  auto le32 = [](Bytes& b, uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  Bytes h;
  le32(h, 0xa1b2c3d4);
  h.insert(h.end(), {2, 0, 4, 0});  // version 2.4
  le32(h, 0);
  le32(h, 0);
  le32(h, 262144);
  le32(h, linktype);
  bool ok = std::fwrite(h.data(), 1, h.size(), fp) == h.size();
  for (const PcapRecord& r : recs) {
    Bytes rh;
    int64_t sec = r.ts_ns / 1000000000;
    int64_t usec = (r.ts_ns % 1000000000) / 1000;
    le32(rh, static_cast<uint32_t>(sec));
    le32(rh, static_cast<uint32_t>(usec));
    le32(rh, static_cast<uint32_t>(r.data.size()));
    le32(rh, r.wirelen ? r.wirelen : static_cast<uint32_t>(r.data.size()));
    ok = ok && std::fwrite(rh.data(), 1, rh.size(), fp) == rh.size();
    ok = ok && std::fwrite(r.data.data(), 1, r.data.size(), fp) == r.data.size();
  }
  return std::fclose(fp) == 0 && ok;
}

}  // namespace ctrack::testing
