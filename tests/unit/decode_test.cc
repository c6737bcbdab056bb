// DecodeFrame(): the facts of one decode, which every later stage reads instead of the bytes.
// Each row states what the link header, ip_rcv_core() / ip6_rcv_core() and ipv4_get_l4proto() /
// ipv6_get_l4proto() make of a frame; the differential test below checks that the engine fed
// with the facts gives the verdicts it gives when it decodes the frame itself.
#include <ctrack/conntrack.h>
#include <ctrack/decode.h>
#include <ctrack/sharded.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "format/verdicts.h"
#include "parse/decode_impl.h"
#include "testing/facts.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using testing::Bytes;
using testing::PacketBuilder;

Bytes Prefixed(Bytes prefix, const Bytes& ip) {
  prefix.insert(prefix.end(), ip.begin(), ip.end());
  return prefix;
}

struct Case {
  const char* name;
  uint32_t linktype;
  Bytes frame;
  uint8_t version;
  NotIp not_ip;
  uint32_t not_ip_value;
  bool ip_ok;
  bool fragment;
  bool parsed;
  uint8_t protonum;
  uint32_t l4_off;
  uint32_t inner_off;
  const char* link_notes;  // DescribeFrame's link notes (kernel-ct's words)
};

std::vector<Case> Cases() {
  const PacketBuilder u4 = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1000, 53).Payload(8);
  const PacketBuilder u6 =
      PacketBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(1000, 53).Payload(8);
  const Bytes quoted4 = u4.Build();
  const Bytes quoted6 = u6.Build();
  Bytes arp = u4.BuildEthernet();
  arp[12] = 0x08;
  arp[13] = 0x06;
  Bytes llc = u4.BuildEthernet({5});
  llc[16] = 0x00;
  llc[17] = 0x40;  // an 802.3 length under a VLAN tag
  // Builders are copied before each change (their setters modify them in place).
  const Bytes big6 = PacketBuilder(u6).Payload(200).Build();
  const Bytes big4 = PacketBuilder(u4).Payload(200).Build();
  const Bytes v6_frag = testing::FragmentIpv6(big6, 120, 7)[0];
  const Bytes v6_frag2 = testing::FragmentIpv6(big6, 120, 7)[1];
  const Bytes v4_frag = testing::FragmentIpv4(big4, 100)[0];
  const Bytes v4_frag2 = testing::FragmentIpv4(big4, 100)[1];
  const Bytes dst_opts = PacketBuilder()
                             .Ipv6("2001:db8::1", "2001:db8::2")
                             .Ipv6ExtHeader(60, Bytes(6, 0))
                             .Tcp(1, 2)
                             .Build();
  const Bytes unreach4 =
      PacketBuilder().Ipv4("10.0.0.2", "10.0.0.1").Icmp(3, 3).Payload(quoted4).Build();
  const Bytes echo4 = PacketBuilder().Ipv4("10.0.0.2", "10.0.0.1").Icmp(8, 0, 1, 1).Build();
  const Bytes unreach4_short =
      PacketBuilder().Ipv4("10.0.0.2", "10.0.0.1").Icmp(3, 3).Payload(Bytes(12, 0)).Build();
  const Bytes unreach6 =
      PacketBuilder().Ipv6("2001:db8::2", "2001:db8::1").Icmpv6(1, 4).Payload(quoted6).Build();
  const Bytes echo6 = PacketBuilder().Ipv6("2001:db8::2", "2001:db8::1").Icmpv6(128, 0).Build();
  return {
      {"eth udp", kLinkEthernet, u4.BuildEthernet(), 4, NotIp::kNo, 0, true, false, true, kProtoUdp,
       20, 0, ""},
      {"eth vlan udp6", kLinkEthernet, u6.BuildEthernet({9}), 6, NotIp::kNo, 0, true, false, true,
       kProtoUdp, 40, 0, "vlan-stripped"},
      {"arp", kLinkEthernet, arp, 0, NotIp::kEtherType, 0x0806, false, false, false, 0, 0, 0,
       "non-ip-ethertype-0x0806"},
      {"802.3 under a tag", kLinkEthernet, llc, 0, NotIp::kEtherType, 0x40, false, false, false, 0,
       0, 0, "vlan-stripped,non-ip-802.3"},
      {"short ethernet", kLinkEthernet, Bytes(10), 0, NotIp::kShortFrame, 0, false, false, false, 0,
       0, 0, "short-frame"},
      {"raw empty", kLinkRaw, Bytes(), 0, NotIp::kEmpty, 0, false, false, false, 0, 0, 0, "empty"},
      {"raw v5", kLinkRaw, Bytes{0x50, 0, 0, 0}, 0, NotIp::kRawNotIp, 0, false, false, false, 0, 0,
       0, "raw-not-ip"},
      {"null family 7", kLinkNull, Prefixed({7, 0, 0, 0}, quoted4), 0, NotIp::kFamily, 7, false,
       false, false, 0, 0, 0, "loopback-family-7"},
      {"unsupported link", 147, quoted4, 0, NotIp::kLinkType, 147, false, false, false, 0, 0, 0,
       "unsupported-linktype-147"},
      {"bad ip checksum", kLinkRaw, PacketBuilder(u4).BadIpChecksum().Build(), 4, NotIp::kNo, 0,
       false, false, false, 0, 0, 0, ""},
      {"v4 first fragment", kLinkRaw, v4_frag, 4, NotIp::kNo, 0, true, true, true, kProtoUdp, 20, 0,
       ""},
      {"v4 later fragment", kLinkRaw, v4_frag2, 4, NotIp::kNo, 0, true, true, false, 0, 0, 0, ""},
      {"v6 first fragment", kLinkRaw, v6_frag, 6, NotIp::kNo, 0, true, true, true, kProtoUdp, 48, 0,
       ""},
      {"v6 later fragment", kLinkRaw, v6_frag2, 6, NotIp::kNo, 0, true, true, false, 0, 0, 0, ""},
      {"v6 destination options", kLinkRaw, dst_opts, 6, NotIp::kNo, 0, true, false, true, kProtoTcp,
       48, 0, ""},
      {"icmp unreachable", kLinkRaw, unreach4, 4, NotIp::kNo, 0, true, false, true, kProtoIcmp, 20,
       28, ""},
      {"icmp echo", kLinkRaw, echo4, 4, NotIp::kNo, 0, true, false, true, kProtoIcmp, 20, 0, ""},
      {"icmp error quoting 12 bytes", kLinkRaw, unreach4_short, 4, NotIp::kNo, 0, true, false, true,
       kProtoIcmp, 20, 0, ""},
      {"icmpv6 unreachable", kLinkRaw, unreach6, 6, NotIp::kNo, 0, true, false, true, kProtoIcmpv6,
       40, 48, ""},
      {"icmpv6 echo", kLinkRaw, echo6, 6, NotIp::kNo, 0, true, false, true, kProtoIcmpv6, 40, 0,
       ""},
  };
}

TEST(DecodeFrameTest, FactsOfEachFrame) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const uint32_t n = static_cast<uint32_t>(c.frame.size());
    const FrameFacts f = DecodeFrame(c.linktype, c.frame.data(), n, n + 1);
    EXPECT_TRUE(f.truncated);
    EXPECT_EQ(f.ip_version, c.version);
    EXPECT_EQ(f.not_ip, c.not_ip);
    EXPECT_EQ(f.not_ip_value, c.not_ip_value);
    EXPECT_EQ(f.ip_ok, c.ip_ok);
    EXPECT_EQ(f.fragment, c.fragment);
    EXPECT_EQ(f.parsed, c.parsed);
    if (c.parsed) {
      EXPECT_EQ(f.pkt.l3, f.l3);
      EXPECT_EQ(f.pkt.len, f.ip_len);
      EXPECT_EQ(f.pkt.protonum, c.protonum);
      EXPECT_EQ(f.pkt.l4_off, c.l4_off);
    }
    EXPECT_EQ(f.icmp_inner_off, c.inner_off);
    const FrameInfo fi = DescribeFrame(f);
    EXPECT_EQ(fi.link_notes, c.link_notes);
    EXPECT_EQ(fi.ip, c.version != 0);
  }
}

// The facts-fed entry point and the shard choice agree with decoding from the bytes: the same
// frames through Process(DecodeFrame()) and ProcessFrame() give the same results, and an ICMP
// error goes to the shard of the flow it quotes.
TEST(DecodeFrameTest, ProcessFromFactsMatchesProcessFrame) {
  Config cfg;
  cfg.nf_conntrack_max = 4;
  Conntrack a(cfg), b(cfg);
  Timestamp now = kNsPerSec;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const uint32_t n = static_cast<uint32_t>(c.frame.size());
    const PacketResult ra = a.ProcessFrame(c.linktype, c.frame.data(), n, n, now);
    const PacketResult rb = b.Process(DecodeFrame(c.linktype, c.frame.data(), n, n), now);
    EXPECT_EQ(ra.verdict, rb.verdict);
    EXPECT_EQ(ra.entry, rb.entry);
    EXPECT_EQ(ra.notes, rb.notes);
    EXPECT_EQ(ra.forwarded, rb.forwarded);
    now += kNsPerSec;
  }
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.stats().invalid, b.stats().invalid);
  EXPECT_EQ(a.counters().not_ip, b.counters().not_ip);
}

// The IPv4 fast branch of the decode (decode_detail::Ipv4Fast: 20-byte headers) against the
// general path (Ipv4Input, then ParseL3) on headers changed at random: every field of the facts
// must agree. Half the changed headers get their checksum recomputed so that they reach the
// checks after it; the captured length is cut short now and then.
void FixIpv4Checksum(uint8_t* ip) {
  ip[10] = ip[11] = 0;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = static_cast<uint8_t>(~sum >> 8);
  ip[11] = static_cast<uint8_t>(~sum);
}

TEST(DecodeFrameTest, Ipv4FastBranchMatchesTheGeneralPath) {
  const PacketBuilder u4 = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1000, 53).Payload(8);
  const Bytes quoted = u4.Build();
  std::vector<Bytes> bases = {
      u4.BuildEthernet(),
      PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2).Payload(40).BuildEthernet(),
      PacketBuilder().Ipv4("10.0.0.2", "10.0.0.1").Icmp(3, 3).Payload(quoted).BuildEthernet(),
      PacketBuilder().Ipv4("10.0.0.2", "10.0.0.1").Icmp(8, 0, 1, 1).BuildEthernet(),
      PacketBuilder(u4).FragOffset(64, true).BuildEthernet(),
      PacketBuilder(u4).FragOffset(0, true).BuildEthernet(),
      PacketBuilder(u4).Ipv4Options(Bytes{1, 1, 1, 1}).BuildEthernet(),
  };
  std::mt19937 rng(20261203);
  int fast = 0, parsed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes frame = bases[iter % bases.size()];
    uint8_t* ip = frame.data() + 14;
    const int changes = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < changes; ++k) {
      const uint32_t at = rng() % 24;
      switch (rng() % 4) {
        case 0:
          ip[at] = static_cast<uint8_t>(rng());
          break;
        case 1:
          ip[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 2: {  // total length near the datagram's own
          const uint32_t len = static_cast<uint32_t>(frame.size() - 14) + (rng() % 9) - 4;
          ip[2] = static_cast<uint8_t>(len >> 8);
          ip[3] = static_cast<uint8_t>(len);
          break;
        }
        default:
          break;  // the header as it was
      }
    }
    if (rng() % 2) FixIpv4Checksum(ip);
    uint32_t caplen = static_cast<uint32_t>(frame.size());
    if (rng() % 8 == 0) caplen = 14 + rng() % (caplen - 13);
    fast += ip[0] == 0x45 && caplen >= 34;
    FrameFacts a, b;
    DecodeFrameInline(kLinkEthernet, frame.data(), caplen, caplen, &a);
    DecodeFrameInline(kLinkEthernet, frame.data(), caplen, caplen, &b, /*general=*/true);
    parsed += a.parsed;
    ASSERT_EQ(testing::FactsDiffer(a, b), "") << "frame " << iter;
  }
  // Both branches were exercised, and the fast one also on headers that go on to parse.
  EXPECT_GT(fast, 5000);
  EXPECT_GT(parsed, 2000);
}

TEST(DecodeFrameTest, IcmpErrorsShardWithTheQuotedFlow) {
  Config cfg;
  ShardedConntrack sh(cfg, 8);
  for (int i = 0; i < 64; ++i) {
    const std::string a = "10.1." + std::to_string(i) + ".1";
    const std::string b = "10.2." + std::to_string(i * 3) + ".9";
    const Bytes flow = PacketBuilder().Ipv4(a, b).Udp(1000, 53).Payload(8).Build();
    const Bytes err = PacketBuilder().Ipv4("192.0.2.1", a).Icmp(11, 0).Payload(flow).Build();
    const FrameFacts ff = DecodeIp(flow.data(), static_cast<uint32_t>(flow.size()));
    const FrameFacts fe = DecodeIp(err.data(), static_cast<uint32_t>(err.size()));
    ASSERT_NE(fe.icmp_inner_off, 0u);
    EXPECT_EQ(sh.ShardOf(ff), sh.ShardOf(fe)) << i;
  }
}

}  // namespace
}  // namespace ctrack
