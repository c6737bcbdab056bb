// ICMP and ICMPv6 packet sequences: echo-style entries, the error handler (RELATED /
// RELATED_REPLY, unknown flows, outer-destination check, truncation, errors quoting errors),
// untracked ND/MLD, the ICMPv6 redirect, and family mismatches (nf_conntrack_icmp_packet(),
// nf_conntrack_icmpv4_error(), nf_conntrack_inet_error(), nf_conntrack_icmpv6_error() and
// nf_conntrack_handle_icmp(), in net/netfilter/nf_conntrack_proto_icmp.c,
// nf_conntrack_proto_icmpv6.c, nf_conntrack_core.c). Expectations checked with kernel-ct
// (Linux 6.18, --timing real).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "proto/seq_runner.h"
#include "testing/packet_builder.h"

namespace ctrack::testing::seq {
namespace {

constexpr const char* kC = "10.0.2.1";
constexpr const char* kS = "10.0.2.2";
constexpr const char* kRouter = "10.0.2.254";
constexpr const char* kC6 = "2001:db8:2::1";
constexpr const char* kS6 = "2001:db8:2::2";

Bytes Icmp(const char* src, const char* dst, uint8_t type, uint8_t code, uint16_t id) {
  return PacketBuilder().Ipv4(src, dst).Icmp(type, code, id, 1).Payload(8).Build();
}
Bytes Icmp6(const char* src, const char* dst, uint8_t type, uint8_t code, uint16_t id = 0) {
  return PacketBuilder().Ipv6(src, dst).Icmpv6(type, code, id, 1).Payload(8).Build();
}

// The start of a datagram, as an ICMP error quotes it.
Bytes Head(Bytes p, size_t n) {
  if (p.size() > n) p.resize(n);
  return p;
}

Bytes IcmpErr(const char* src, const char* dst, uint8_t type, uint8_t code, const Bytes& inner) {
  return PacketBuilder().Ipv4(src, dst).Icmp(type, code).Payload(inner).Build();
}
Bytes Icmp6Err(const char* src, const char* dst, uint8_t type, uint8_t code, const Bytes& inner) {
  return PacketBuilder().Ipv6(src, dst).Icmpv6(type, code).Payload(inner).Build();
}

Bytes UdpPkt(const char* src, const char* dst, uint16_t sp, uint16_t dp) {
  return PacketBuilder().Ipv4(src, dst).Udp(sp, dp).Payload(12).Build();
}
Bytes Udp6Pkt(const char* src, const char* dst, uint16_t sp, uint16_t dp) {
  return PacketBuilder().Ipv6(src, dst).Udp(sp, dp).Payload(12).Build();
}

// An ICMPv6 redirect (type 137): reserved word, target, destination, then `options`.
Bytes Redirect(const char* src, const char* dst, uint8_t code, uint8_t hop_limit,
               const Bytes& options) {
  Bytes body(32, 0);
  body[0] = 0xfe;  // target fe80::1
  body[1] = 0x80;
  body[15] = 1;
  body[16] = 0x20;  // destination 2001:db8:2::2
  body[17] = 0x01;
  body[18] = 0x0d;
  body[19] = 0xb8;
  body[21] = 0x02;
  body[31] = 0x02;
  for (uint8_t b : options) body.push_back(b);  // insert() trips a GCC 12 -Warray-bounds bug
  return PacketBuilder().Ipv6(src, dst).Ttl(hop_limit).Icmpv6(137, code).Payload(body).Build();
}
// Redirected Header option (type 4) quoting `inner`, padded to 8-byte units.
Bytes RedirectedHeader(Bytes inner, uint8_t type = 4) {
  while (inner.size() % 8) inner.push_back(0);
  Bytes opt = {type, static_cast<uint8_t>(1 + inner.size() / 8), 0, 0, 0, 0, 0, 0};
  for (uint8_t b : inner) opt.push_back(b);
  return opt;
}

std::vector<Case> Cases() {
  std::vector<Case> v;
  // nf_conntrack_icmp_packet(): echo request / reply entries.
  v.push_back({"icmp_echo",
               {},
               {
                   // The code is part of the tuple; the reply must carry the same id and code.
                   New(Icmp(kC, kS, 8, 5, 7), 0.0, kConf, 30, 0),
                   Inv(Icmp(kS, kC, 0, 0, 7), 0.01),
                   Inv(Icmp(kS, kC, 0, 5, 8), 0.02),
                   Est(Icmp(kS, kC, 0, 5, 7), 0.03, Dir::kReply, kSeen | kConf, 30, 0),
                   // Not deleted by the reply: a duplicate still matches; never ASSURED.
                   Est(Icmp(kS, kC, 0, 5, 7), 0.04, Dir::kReply, kSeen | kConf, 30, 0),
                   Est(Icmp(kC, kS, 8, 5, 7), 0.05, Dir::kOriginal, kSeen | kConf, 30, 0),
                   // Unsolicited replies and types without a reply type: invalid.
                   Inv(Icmp(kS, kC, 0, 0, 99), 0.06),
                   Inv(Icmp(kS, kC, 14, 0, 99), 0.07),
                   Inv(Icmp(kS, kC, 9, 0, 0), 0.08),
                   Inv(Icmp(kS, kC, 10, 0, 0), 0.09),
                   Inv(Icmp(kS, kC, 6, 0, 0), 0.10),
                   // Types above 18 are rejected by the error handler: `error`, not `invalid`.
                   Inv(Icmp(kS, kC, 19, 0, 0), 0.11),
                   // The other request types create entries.
                   New(Icmp(kC, kS, 13, 0, 1), 0.12, kConf, 30, 1),
                   New(Icmp(kC, kS, 15, 0, 1), 0.13, kConf, 30, 2),
                   New(Icmp(kC, kS, 17, 0, 1), 0.14, kConf, 30, 3),
                   Est(Icmp(kS, kC, 18, 0, 1), 0.15, Dir::kReply, kSeen | kConf, 30, 3),
                   // Short header and bad checksum: `error`.
                   Inv(PacketBuilder().Ipv4(kC, kS).Proto(1).Payload({8, 0, 0, 0}).Build(), 0.16),
                   Inv(PacketBuilder().Ipv4(kC, kS).Icmp(8, 0, 2, 1).BadL4Checksum().Build(), 0.17),
               },
               7,
               3});
  // nf_conntrack_icmpv4_error() -> nf_conntrack_inet_error(): errors quoting a flow's (truncated)
  // header.
  Bytes c2s = Head(UdpPkt(kC, kS, 5000, 161), 28);
  Bytes s2c = Head(UdpPkt(kS, kC, 161, 5000), 28);
  v.push_back(
      {"icmp_errors",
       {},
       {
           New(UdpPkt(kC, kS, 5000, 161), 0.0, kConf, 30, 0),
           // Each error type from the server about the client's packet: RELATED, reply side.
           Rel(IcmpErr(kS, kC, 3, 3, c2s), 0.01, Dir::kReply, kConf, 0),
           Rel(IcmpErr(kS, kC, 4, 0, c2s), 0.02, Dir::kReply, kConf, 0),
           Rel(IcmpErr(kS, kC, 5, 1, c2s), 0.03, Dir::kReply, kConf, 0),
           Rel(IcmpErr(kS, kC, 11, 0, c2s), 0.04, Dir::kReply, kConf, 0),
           Rel(IcmpErr(kS, kC, 12, 0, c2s), 0.05, Dir::kReply, kConf, 0),
           // From a router on the path: only the outer destination is checked.
           Rel(IcmpErr(kRouter, kC, 11, 0, c2s), 0.06, Dir::kReply, kConf, 0),
           // Sent by the client about a server packet: RELATED, original side.
           Rel(IcmpErr(kC, kS, 3, 3, s2c), 0.07, Dir::kOriginal, kConf, 0),
           // Related packets leave SEEN_REPLY alone: the first real reply sets it.
           Est(UdpPkt(kS, kC, 161, 5000), 0.08, Dir::kReply, kSeen | kConf, 30, 0),
           // Unknown flow, outer destination not the flow's, quote cut after the IP header, a
           // quoted error (cannot be inverted): all `error`.
           Inv(IcmpErr(kS, kC, 3, 3, Head(UdpPkt(kC, kS, 5001, 161), 28)), 0.09),
           Inv(IcmpErr(kS, "10.0.2.99", 3, 3, c2s), 0.10),
           Inv(IcmpErr(kS, kC, 3, 3, Head(UdpPkt(kC, kS, 5000, 161), 20)), 0.11),
           Inv(IcmpErr(kS, kC, 3, 3, Head(IcmpErr(kC, kS, 3, 3, s2c), 28)), 0.12),
           // A TCP flow quoted with 8 bytes of TCP header.
           New(PacketBuilder().Ipv4(kC, kS).Tcp(40000, 80).Flags(kSyn).Seq(100).Build(), 0.13,
               kConf, 120, 1, "SYN_SENT"),
           Rel(IcmpErr(
                   kS, kC, 3, 4,
                   Head(PacketBuilder().Ipv4(kC, kS).Tcp(40000, 80).Flags(kSyn).Seq(100).Build(),
                        28)),
               0.14, Dir::kReply, kConf, 1, "SYN_SENT"),
           // Echo entry quoted by an error.
           New(Icmp(kC, kS, 8, 0, 77), 0.15, kConf, 30, 2),
           Rel(IcmpErr(kS, kC, 12, 0, Head(Icmp(kC, kS, 8, 0, 77), 28)), 0.16, Dir::kReply, kConf,
               2),
       },
       0,
       4});
  // nf_conntrack_icmpv6_error() (ND/MLD untracked) and nf_conntrack_icmpv6_packet().
  Bytes c2s6 = Head(Udp6Pkt(kC6, kS6, 6000, 53), 48);
  v.push_back(
      {"icmpv6",
       {},
       {
           // Neighbour discovery and MLD: untracked.
           Untr(Icmp6("fe80::1", "ff02::1", 130, 0), 0.0),
           Untr(Icmp6("fe80::1", "ff02::2", 133, 0), 0.01),
           Untr(Icmp6("fe80::1", "ff02::1", 134, 0), 0.02),
           Untr(Icmp6(kC6, kS6, 135, 0), 0.03),
           Untr(Icmp6(kS6, kC6, 136, 0), 0.04),
           Untr(Icmp6("fe80::1", "ff02::16", 143, 0), 0.05),
           New(Udp6Pkt(kC6, kS6, 6000, 53), 0.06, kConf, 30, 0),
           // Every type below 128 is an error message, assigned or not.
           Rel(Icmp6Err(kS6, kC6, 100, 0, c2s6), 0.07, Dir::kReply, kConf, 0),
           Rel(Icmp6Err(kS6, kC6, 2, 0, c2s6), 0.08, Dir::kReply, kConf, 0),
           Rel(Icmp6Err(kS6, kC6, 1, 4, c2s6), 0.09, Dir::kReply, kConf, 0),
           Inv(Icmp6Err(kS6, kC6, 1, 4, Head(Udp6Pkt(kC6, kS6, 6001, 53), 48)), 0.10),
           // Echo and node information.
           Inv(Icmp6(kS6, kC6, 129, 0, 5), 0.11),
           New(Icmp6(kC6, kS6, 128, 0, 5), 0.12, kConf, 30, 1),
           Est(Icmp6(kS6, kC6, 129, 0, 5), 0.13, Dir::kReply, kSeen | kConf, 30, 1),
           New(Icmp6(kC6, kS6, 139, 0, 6), 0.14, kConf, 30, 2),
           Est(Icmp6(kS6, kC6, 140, 0, 6), 0.15, Dir::kReply, kSeen | kConf, 30, 2),
           Inv(Icmp6(kS6, kC6, 140, 0, 9), 0.16),
           // Other informational types cannot be inverted.
           Inv(Icmp6(kC6, kS6, 200, 0, 1), 0.17),
           // Bad checksum and short header: `error`.
           Inv(PacketBuilder().Ipv6(kC6, kS6).Icmpv6(128, 0, 3, 1).BadL4Checksum().Build(), 0.18),
           Inv(PacketBuilder().Ipv6(kC6, kS6).Proto(58).Payload({128, 0, 0, 0}).Build(), 0.19),
           // Multicast router advertisement / solicitation are untracked too; termination (153)
           // is an ordinary informational type that cannot be inverted.
           Untr(Icmp6("fe80::1", "ff02::6a", 151, 0), 0.20),
           Untr(Icmp6("fe80::1", "ff02::2", 152, 0), 0.21),
           Inv(Icmp6("fe80::1", "ff02::6a", 153, 0), 0.22),
       },
       4,
       3});
  v.push_back(
      {"icmpv6_redirect",
       {},
       {
           New(Udp6Pkt(kC6, kS6, 6100, 53), 0.0, kConf, 30, 0),
           // Code 1: normal processing, and 137 cannot be inverted: `invalid`.
           Inv(Redirect("fe80::1", kC6, 1, 255,
                        RedirectedHeader(Head(Udp6Pkt(kC6, kS6, 6100, 53), 48))),
               0.01),
           // Hop limit not 255, source not link-local: `error`.
           Inv(Redirect("fe80::1", kC6, 0, 64,
                        RedirectedHeader(Head(Udp6Pkt(kC6, kS6, 6100, 53), 48))),
               0.02),
           Inv(Redirect(kS6, kC6, 0, 255, RedirectedHeader(Head(Udp6Pkt(kC6, kS6, 6100, 53), 48))),
               0.03),
           // No option, or a zero-length first option: `error`.
           Inv(Redirect("fe80::1", kC6, 0, 255, {}), 0.04),
           Inv(Redirect("fe80::1", kC6, 0, 255, {4, 0, 0, 0, 0, 0, 0, 0}), 0.05),
           // First option not a Redirected Header: normal processing: `invalid`.
           Inv(Redirect("fe80::1", kC6, 0, 255, {1, 1, 0, 0, 0, 0, 0, 0}), 0.06),
           // A valid redirect quoting the flow: RELATED.
           Rel(Redirect("fe80::1", kC6, 0, 255,
                        RedirectedHeader(Head(Udp6Pkt(kC6, kS6, 6100, 53), 48))),
               0.07, Dir::kReply, kConf, 0),
           // Shorter than the fixed redirect message: `error`.
           Inv(PacketBuilder().Ipv6("fe80::1", kC6).Ttl(255).Icmpv6(137, 0).Payload(8).Build(),
               0.08),
       },
       2,
       5});
  // nf_conntrack_handle_icmp(): the family decides, not only the protocol number.
  v.push_back(
      {"icmp_family_mismatch",
       {},
       {
           Inv(PacketBuilder().Ipv4(kC, kS).Proto(58).Payload({128, 0, 0, 0, 0, 1, 0, 1}).Build(),
               0.0),
           Inv(PacketBuilder().Ipv6(kC6, kS6).Proto(1).Payload({8, 0, 0, 0, 0, 1, 0, 1}).Build(),
               0.01),
           Inv(PacketBuilder().Ipv6(kC6, kS6).Proto(1).Payload({3, 0, 0, 0, 0, 0, 0, 0}).Build(),
               0.02),
       },
       3,
       0});
  return v;
}

class IcmpSeqTest : public ::testing::TestWithParam<Case> {};

TEST_P(IcmpSeqTest, MatchesKernel) { RunCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Icmp, IcmpSeqTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace ctrack::testing::seq
