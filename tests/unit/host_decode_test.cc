// The ctnetlink decoder (src/host/ctnl_decode.cc) on messages laid out as the kernel writes them
// (tests/fuzz/make_netlink_corpus.py follows ctnetlink_fill_info()), every truncation of them,
// and the malformed variants of the corpus; and the bounded counter of the streaming breakdown.
// The live layout is checked against the kernel itself in host_netns_test.cc.
#include <ctrack/host.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "format/conntrack_format.h"
#include "sim/breakdown.h"

namespace ctrack {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> Corpus(const std::string& name) {
  std::ifstream in(fs::path(CTRACK_FUZZ_CORPUS) / "netlink" / name, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(HostDecode, TcpEntryAllFields) {
  std::vector<uint8_t> m = Corpus("ok_tcp");
  ASSERT_FALSE(m.empty());
  ConnInfo ci;
  ASSERT_EQ(DecodeConntrackMessage(m.data(), m.size(), &ci), "");
  EXPECT_EQ(ci.orig.l3num, kAfInet);
  EXPECT_EQ(ci.orig.protonum, kProtoTcp);
  EXPECT_EQ(ci.orig.src_id, 40000);
  EXPECT_EQ(ci.orig.dst_id, 80);
  EXPECT_EQ(ci.reply.src_id, 80);
  EXPECT_EQ(ci.state, static_cast<uint8_t>(TcpState::kEstablished));
  EXPECT_EQ(ci.tcp_wscale[0], 7);
  EXPECT_EQ(ci.tcp_flags[1], 0x23);
  EXPECT_EQ(ci.status, 0xe);
  EXPECT_EQ(ci.timeout_s, 431999);
  EXPECT_EQ(ci.mark, 9u);
  EXPECT_EQ(ci.orig.zone, 4);
  EXPECT_EQ(ci.reply.zone, 4);
  EXPECT_EQ(ci.id, 0xdeadbeefu);
  EXPECT_TRUE(ci.has_acct);
  EXPECT_EQ(ci.packets[0], 10u);
  EXPECT_EQ(ci.bytes[1], 2000u);
  EXPECT_TRUE(ci.has_timestamp);
  EXPECT_TRUE(ci.has_labels);
  EXPECT_EQ(ci.labels[0], 1);
  EXPECT_EQ(FormatConntrackLine(ci, false).substr(0, 45),
            "tcp      6 431999 ESTABLISHED src=10.0.0.1 ds");
}

TEST(HostDecode, Ipv6HelperSecctxIcmpNat) {
  ConnInfo ci;
  std::vector<uint8_t> m = Corpus("ok_udp6");
  ASSERT_EQ(DecodeConntrackMessage(m.data(), m.size(), &ci), "");
  EXPECT_EQ(ci.orig.l3num, kAfInet6);
  EXPECT_EQ(ci.helper, "ftp");
  EXPECT_EQ(ci.secctx, "system_u:object_r:x");
  EXPECT_NE(FormatConntrackLine(ci, true).find("secctx=system_u:object_r:x helper=ftp use=1"),
            std::string::npos);
  m = Corpus("ok_icmp");
  ASSERT_EQ(DecodeConntrackMessage(m.data(), m.size(), &ci), "");
  EXPECT_EQ(ci.orig.icmp_type(), 8);
  EXPECT_EQ(ci.reply.icmp_type(), 0);
  EXPECT_EQ(ci.orig.src_id, 77);
  m = Corpus("ok_nat");
  ASSERT_EQ(DecodeConntrackMessage(m.data(), m.size(), &ci), "");
  EXPECT_EQ(ci.reply.src[3], 5);  // the real reply tuple, not the inverse
  EXPECT_EQ(ci.tuple_zone[0], 2);
  EXPECT_EQ(ci.tuple_zone[1], 3);
  EXPECT_NE(FormatConntrackLine(ci, true).find("dport=80 zone-orig=2 src=10.244.1.5"),
            std::string::npos);
}

TEST(HostDecode, CpuStatsAndBatches) {
  std::vector<uint8_t> m = Corpus("ok_cpu1");
  CpuStats cs;
  ASSERT_EQ(DecodeCpuStatsMessage(m.data(), m.size(), &cs), "");
  EXPECT_EQ(cs.cpu, 1u);
  EXPECT_EQ(cs.st.found, 2u * 3 + 1);  // CTA_STATS_FOUND = 2
  EXPECT_EQ(cs.st.drop, 10u * 3 + 1);  // CTA_STATS_DROP = 10
  std::vector<uint8_t> b = Corpus("ok_batch");
  int entries = 0;
  EXPECT_EQ(ForEachNetlinkMessage(b.data(), b.size(),
                                  [&](const uint8_t* p, size_t n) {
                                    ConnInfo ci;
                                    if (DecodeConntrackMessage(p, n, &ci).empty()) ++entries;
                                    return true;
                                  }),
            "");
  EXPECT_EQ(entries, 8);
  std::vector<uint8_t> cut = Corpus("cut_batch");
  EXPECT_NE(
      ForEachNetlinkMessage(cut.data(), cut.size(), [](const uint8_t*, size_t) { return true; }),
      "");
}

// Every prefix of a valid message is refused (its nlmsg_len no longer fits), and every
// malformed corpus variant is refused with a reason.
TEST(HostDecode, TruncatedAndMalformedAreErrors) {
  for (const char* name : {"ok_tcp", "ok_udp6", "ok_icmp", "ok_nat"}) {
    std::vector<uint8_t> m = Corpus(name);
    for (size_t n = 0; n < m.size(); ++n) {
      std::vector<uint8_t> p(m.begin(), m.begin() + static_cast<long>(n));
      ConnInfo ci;
      EXPECT_NE(DecodeConntrackMessage(p.data(), p.size(), &ci), "") << name << " cut at " << n;
    }
  }
  for (const char* name :
       {"bad_nest_len", "bad_inner_len", "bad_nlmsg_len", "no_tuples", "short_status", "cut_40"}) {
    std::vector<uint8_t> m = Corpus(name);
    ConnInfo ci;
    EXPECT_NE(DecodeConntrackMessage(m.data(), m.size(), &ci), "") << name;
  }
  // Random byte flips never crash (the sanitizer build checks the reads).
  std::mt19937 rng(7);
  std::vector<uint8_t> m = Corpus("ok_tcp");
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> p = m;
    for (int k = 0; k < 3; ++k) p[rng() % p.size()] = static_cast<uint8_t>(rng());
    ConnInfo ci;
    (void)DecodeConntrackMessage(p.data(), p.size(), &ci);
  }
}

TEST(BoundedCounter, ExactUnderCapacityHeavyHittersKeptAbove) {
  BoundedCounter c(16);
  auto key = [](int i) {
    BreakdownKey k{};
    k.b[0] = static_cast<uint8_t>(i);
    k.b[1] = static_cast<uint8_t>(i >> 8);
    return k;
  };
  for (int i = 0; i < 10; ++i) {
    for (int j = 0; j <= i; ++j) c.Add(key(i));
  }
  EXPECT_TRUE(c.exact());
  EXPECT_EQ(c.Get(key(9)), 10u);
  // 5000 distinct singletons plus one key with 40 % of the stream.
  BoundedCounter h(64);
  for (int i = 0; i < 5000; ++i) {
    h.Add(key(1000 + i));
    if (i % 3 == 0) h.Add(key(7));
    if (i % 3 == 1) h.Add(key(7));
  }
  EXPECT_FALSE(h.exact());
  ASSERT_GT(h.Get(key(7)), 0u);
  uint64_t est = h.Get(key(7));
  EXPECT_LE(est, 3334u);
  EXPECT_GE(est + h.max_error(), 3334u);
  EXPECT_LE(h.size(), 64u);
}

}  // namespace
}  // namespace ctrack
