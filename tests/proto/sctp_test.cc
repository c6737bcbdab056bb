// SCTP packet sequences: the association life cycle (sctp_conntracks[][][] through
// nf_conntrack_sctp_packet()), verification tags (nf_conntrack_sctp_packet()'s vtag checks), chunk
// sanity (do_basic_checks()) and the rules for new entries (sctp_new()), all in
// net/netfilter/nf_conntrack_proto_sctp.c.
// Expectations checked with kernel-ct (Linux 6.18, --timing real); see seq_runner.h.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "proto/seq_runner.h"
#include "testing/packet_builder.h"

namespace ctrack::testing::seq {
namespace {

constexpr const char* kC = "10.0.5.1";
constexpr const char* kS = "10.0.5.2";

enum : uint8_t {
  kData = 0,
  kInit = 1,
  kInitAck = 2,
  kHeartbeat = 4,
  kAbort = 6,
  kShutdown = 7,
  kShutdownAck = 8,
  kCookieEcho = 10,
  kCookieAck = 11,
  kShutdownComplete = 14,
};

constexpr uint32_t kTagC = 0x11111111;  // the client's initiate tag (server packets carry it)
constexpr uint32_t kTagS = 0x22222222;  // the server's initiate tag (client packets carry it)

Bytes InitBody(uint32_t tag) {
  return {static_cast<uint8_t>(tag >> 24),
          static_cast<uint8_t>(tag >> 16),
          static_cast<uint8_t>(tag >> 8),
          static_cast<uint8_t>(tag),
          0,
          1,
          0,
          0,
          0,
          10,
          0,
          10,
          0,
          0,
          0,
          1};
}
const Bytes kDataBody = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 'h', 'i', '!', '!'};

// One packet with a single chunk.
Bytes Sctp(const char* src, const char* dst, uint16_t sp, uint16_t dp, uint32_t vtag, uint8_t type,
           const Bytes& body = {}, uint8_t flags = 0) {
  return PacketBuilder().Ipv4(src, dst).Sctp(sp, dp, vtag).SctpChunk(type, flags, body).Build();
}
Bytes C2S(uint16_t port, uint32_t vtag, uint8_t type, const Bytes& body = {}) {
  return Sctp(kC, kS, port, 2905, vtag, type, body);
}
Bytes S2C(uint16_t port, uint32_t vtag, uint8_t type, const Bytes& body = {}) {
  return Sctp(kS, kC, 2905, port, vtag, type, body);
}

std::vector<Case> Cases() {
  std::vector<Case> v;
  // sctp_conntracks through a whole association (INIT to SHUTDOWN_COMPLETE), plus DATA with the
  // right and a wrong tag (the packet-wide vtag check of nf_conntrack_sctp_packet()).
  v.push_back({"sctp_association",
               {},
               {
                   New(C2S(1000, 0, kInit, InitBody(kTagC)), 0.0, kConf, 10, 0, "CLOSED"),
                   Est(S2C(1000, kTagC, kInitAck, InitBody(kTagS)), 0.01, Dir::kReply,
                       kSeen | kConf, 3, 0, "COOKIE_WAIT"),
                   Est(C2S(1000, kTagS, kCookieEcho, {1, 2, 3, 4}), 0.02, Dir::kOriginal,
                       kSeen | kConf, 3, 0, "COOKIE_ECHOED"),
                   Est(S2C(1000, kTagC, kCookieAck), 0.03, Dir::kReply, kSeen | kAssd | kConf, 210,
                       0, "ESTABLISHED"),
                   Est(C2S(1000, kTagS, kData, kDataBody), 0.04, Dir::kOriginal,
                       kSeen | kAssd | kConf, 210, 0, "ESTABLISHED"),
                   Inv(C2S(1000, 0x12345678, kData, kDataBody), 0.05),
                   Inv(S2C(1000, kTagS, kData, kDataBody), 0.06),  // the other direction's tag
                   Est(C2S(1000, kTagS, kShutdown, {0, 0, 0, 1}), 0.07, Dir::kOriginal,
                       kSeen | kAssd | kConf, 3, 0, "SHUTDOWN_SENT"),
                   Est(S2C(1000, kTagC, kShutdownAck), 0.08, Dir::kReply, kSeen | kAssd | kConf, 3,
                       0, "SHUTDOWN_ACK_SENT"),
                   Est(C2S(1000, kTagS, kShutdownComplete), 0.09, Dir::kOriginal,
                       kSeen | kAssd | kConf, 10, 0, "CLOSED"),
               },
               2,
               0});
  // What may start an entry, and the chunk sanity rules.
  v.push_back(
      {"sctp_new_and_sanity",
       {},
       {
           Inv(C2S(2000, 0x1234, kData, kDataBody), 0.0),         // DATA first
           Inv(C2S(2001, 0x1234, kAbort), 0.01),                  // ABORT first
           Inv(C2S(2002, 0x1234, kInit, InitBody(kTagC)), 0.02),  // INIT with vtag != 0
           Inv(C2S(2003, 0x1234, kCookieAck), 0.03),              // COOKIE_ACK first
           Inv(C2S(2004, 0x1234, kShutdownComplete), 0.04),       // SHUTDOWN_COMPLETE
           Inv(PacketBuilder().Ipv4(kC, kS).Sctp(2005, 2905, 0).Build(), 0.05),  // no chunks
           Inv(PacketBuilder()  // INIT must be alone
                   .Ipv4(kC, kS)
                   .Sctp(2006, 2905, 0)
                   .SctpChunk(kInit, 0, InitBody(kTagC))
                   .SctpChunk(kData, 0, kDataBody)
                   .Build(),
               0.06),
           Inv(PacketBuilder()  // COOKIE_ECHO must come first
                   .Ipv4(kC, kS)
                   .Sctp(2007, 2905, 0x1234)
                   .SctpChunk(kData, 0, kDataBody)
                   .SctpChunk(kCookieEcho, 0, {1, 2, 3, 4})
                   .Build(),
               0.07),
           Inv(PacketBuilder()  // bad CRC32c
                   .Ipv4(kC, kS)
                   .Sctp(2008, 2905, 0)
                   .SctpChunk(kInit, 0, InitBody(kTagC))
                   .BadL4Checksum()
                   .Build(),
               0.08),
           Inv(PacketBuilder()
                   .Ipv4(kC, kS)
                   .Proto(132)
                   .Payload({0x07, 0xd9, 0x0b, 0x59, 0, 0, 0, 0})
                   .Build(),
               0.09),  // shorter than the common header
           // A HEARTBEAT or an out-of-the-blue SHUTDOWN_ACK may start an entry.
           New(C2S(2010, 0x4444, kHeartbeat, {0, 1, 0, 8, 1, 2, 3, 4}), 0.10, kConf, 30, 0,
               "HEARTBEAT_SENT"),
           New(C2S(2011, 0x5555, kShutdownAck), 0.11, kConf, 3, 1, "SHUTDOWN_ACK_SENT"),
           // COOKIE_ECHO first: its tag must equal the (zero) tag learnt for the original side.
           Inv(C2S(2012, 0x6666, kCookieEcho, {1, 2, 3, 4}), 0.12),
           New(C2S(2013, 0, kCookieEcho, {1, 2, 3, 4}), 0.13, kConf, 10, 2, "CLOSED"),
           // A new entry refuses every chunk that would leave it in NONE, DATA included, even
           // after a chunk that could start one.
           Inv(PacketBuilder()
                   .Ipv4(kC, kS)
                   .Sctp(2014, 2905, 0)
                   .SctpChunk(kCookieEcho, 0, {1, 2, 3, 4})
                   .SctpChunk(kData, 0, kDataBody)
                   .Build(),
               0.14),
       },
       12,
       0});
  // A retransmitted INIT in CLOSED is accepted without refreshing the timeout.
  v.push_back({"sctp_init_retransmit",
               {},
               {
                   New(C2S(3000, 0, kInit, InitBody(kTagC)), 0.0, kConf, 10, 0, "CLOSED"),
                   New(C2S(3000, 0, kInit, InitBody(kTagC)), 3.0, kConf, 7, 0, "CLOSED"),
               },
               0,
               0});
  // An INIT collision, then the client's INIT again: its tag is the one already expected from the
  // client, so it leaves the collision flags alone (kernel commit 576a5d2bad48) and the server's
  // INIT_ACK must still carry the tag of the server's own INIT. Found by the differential fuzzer;
  // every row matches the kernel.
  v.push_back({"sctp_init_collision_then_init_retransmit",
               {},
               {
                   New(C2S(3100, 0, kInit, InitBody(kTagC)), 0.0, kConf, 10, 0, "CLOSED"),
                   Est(S2C(3100, 0, kInit, InitBody(kTagS)), 1.0, Dir::kReply, kSeen | kConf, 9, 0,
                       "CLOSED"),
                   Est(C2S(3100, 0, kInit, InitBody(kTagC)), 2.0, Dir::kOriginal, kSeen | kConf, 8,
                       0, "CLOSED"),
                   Inv(S2C(3100, kTagC, kInitAck, InitBody(0x33333333)), 3.0),
                   Est(S2C(3100, kTagC, kInitAck, InitBody(kTagS)), 4.0, Dir::kReply, kSeen | kConf,
                       3, 0, "COOKIE_WAIT"),
               },
               1,
               0});
  // CRC32c is only verified with nf_conntrack_checksum=1.
  v.push_back({"sctp_checksum_off",
               {{"nf_conntrack_checksum", "0"}},
               {
                   New(PacketBuilder()
                           .Ipv4(kC, kS)
                           .Sctp(4000, 2905, 0)
                           .SctpChunk(kInit, 0, InitBody(kTagC))
                           .BadL4Checksum()
                           .Build(),
                       0.0, kConf, 10, 0, "CLOSED"),
               },
               0,
               0});
  return v;
}

class SctpSeqTest : public ::testing::TestWithParam<Case> {};

TEST_P(SctpSeqTest, MatchesKernel) { RunCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Sctp, SctpSeqTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace ctrack::testing::seq
