// TCP tracker: packet-sequence tables run through the public engine.
//
// Each case is a list of packets between a client 10.0.0.1:40000 and a server 10.0.0.2:80 (C() and
// S() below), with the verdict, the entry's state, status bits and remaining timeout expected right
// after each packet, and optionally the table expected at the end. Expected values were checked
// with the kernel oracle (/work/shared/oracle/kernel-ct, Linux 6.18.44):
// scripts/oracle_check_tcp.sh regenerates every case as a pcap (CTRACK_TCP_ORACLE_DIR, see the end
// of this file), replays it through the kernel and compares. Timeouts are written as this engine
// computes them (an exact refresh shows the full value); the kernel may show one second less.
//
// Each scenario names the part of net/netfilter/nf_conntrack_proto_tcp.c it exercises: tcp_error(),
// tcp_new(), the tcp_conntracks[][][] table, the cases of nf_conntrack_tcp_packet()'s switch on
// the new state, tcp_in_window(), tcp_options(), tcp_sack() and nf_tcp_handle_invalid().

#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "parse/l3.h"
#include "testing/packet_builder.h"

namespace ctrack {
namespace {

using testing::Bytes;
using testing::kAck;
using testing::kCwr;
using testing::kEce;
using testing::kFin;
using testing::kPsh;
using testing::kRst;
using testing::kSyn;
using testing::kUrg;
using testing::PacketBuilder;

constexpr int64_t kAny = -1;  // timeout not checked

// Client -> server (the original direction of most cases) and server -> client.
PacketBuilder C(uint16_t cport = 40000) {
  return PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(cport, 80);
}
PacketBuilder S(uint16_t cport = 40000) {
  return PacketBuilder().Ipv4("10.0.0.2", "10.0.0.1").Tcp(80, cport);
}

PacketBuilder C6() { return PacketBuilder().Ipv6("2001:db8::1", "2001:db8::2").Tcp(40000, 80); }
PacketBuilder S6() { return PacketBuilder().Ipv6("2001:db8::2", "2001:db8::1").Tcp(80, 40000); }

// The handshake used by most cases: client ISN 1000 (window 64240, wscale 7, SACK-permitted),
// server ISN 5000 (window 65160, wscale 7, SACK-permitted), then the client's ACK with window 502
// (64256 scaled).
PacketBuilder Syn(uint32_t seq = 1000) {
  return C().Flags(kSyn).Seq(seq).Win(64240).Mss(1460).SackPerm().WScale(7);
}
PacketBuilder SynAck(uint32_t seq = 5000, uint32_t ack = 1001) {
  return S().Flags(kSyn | kAck).Seq(seq).Ack(ack).Win(65160).Mss(1460).SackPerm().WScale(7);
}
PacketBuilder CAck(uint32_t seq = 1001, uint32_t ack = 5001, uint16_t win = 502) {
  return C().Flags(kAck).Seq(seq).Ack(ack).Win(win);
}
PacketBuilder SAck(uint32_t seq = 5001, uint32_t ack = 1001, uint16_t win = 509) {
  return S().Flags(kAck).Seq(seq).Ack(ack).Win(win);
}

constexpr const char* kC = "CONFIRMED";
constexpr const char* kRC = "SEEN_REPLY,CONFIRMED";
constexpr const char* kRAC = "SEEN_REPLY,ASSURED,CONFIRMED";

struct Step {
  PacketBuilder pkt;
  const char* verdict;     // new / established / invalid
  const char* state;       // state of the entry matching the packet's tuple afterwards; "-": none
  const char* status;      // its status bits; "-": none
  int64_t timeout;         // its remaining seconds; kAny: not checked
  int64_t advance_ms = 0;  // virtual time that passes before this packet
};

struct Final {
  const char* state;
  const char* status;
  int64_t timeout;
};

struct Case {
  std::string name;
  std::vector<Step> steps;
  std::vector<std::pair<std::string, std::string>> sysctls = {};
  std::vector<Final> final = {};  // the whole table at the end, when check_final
  bool check_final = false;
  bool real_timing = false;  // the oracle must replay with --timing real
};

std::vector<Step> Handshake() {
  return {
      {Syn(), "new", "SYN_SENT", kC, 120},
      {SynAck(), "established", "SYN_RECV", kRC, 60},
      {CAck(), "established", "ESTABLISHED", kRAC, 432000},
  };
}

Case Seq(std::string name, std::vector<Step> steps, bool with_handshake = true) {
  Case c;
  c.name = std::move(name);
  if (with_handshake) c.steps = Handshake();
  for (auto& s : steps) c.steps.push_back(std::move(s));
  return c;
}

Case With(Case c, std::vector<std::pair<std::string, std::string>> sysctls) {
  c.sysctls = std::move(sysctls);
  return c;
}
Case Final_(Case c, std::vector<Final> f) {
  c.final = std::move(f);
  c.check_final = true;
  return c;
}

// tcp_error()'s flag check, then tcp_new() and tcp_conntracks[0][index][sNO]: every FSRPAU
// combination as the first packet of a flow (one flow per combination).
Case AllFlagCombinations() {
  Case c;
  c.name = "first_packet_all_64_flag_combinations";
  for (uint8_t f = 0; f < 64; ++f) {
    uint8_t base = f & static_cast<uint8_t>(~kPsh);
    // Only SYN, SYN+URG (-> SYN_SENT) and ACK, ACK+URG (-> ESTABLISHED, loose pick-up) start an
    // entry; SYN+ACK, RST, FIN+ACK pass tcp_error() but are invalid as a first packet.
    const char* state = "-";
    int64_t t = kAny;
    if (base == kSyn || base == (kSyn | kUrg)) {
      state = "SYN_SENT";
      t = 120;
    } else if (base == kAck || base == (kAck | kUrg)) {
      state = "ESTABLISHED";
      t = 300;
    }
    bool ok = state[0] != '-';
    c.steps.push_back({C(static_cast<uint16_t>(41000 + f)).Flags(f).Seq(1000).Ack(f & kAck ? 1 : 0),
                       ok ? "new" : "invalid", state, ok ? kC : "-", t});
  }
  // ECE and CWR are ignored by the flag check too.
  c.steps.push_back({C(41100).Flags(kSyn | kEce | kCwr).Seq(7), "new", "SYN_SENT", kC, 120});
  c.steps.push_back({C(41101).Flags(kRst | kAck | kPsh).Seq(7).Ack(1), "invalid", "-", "-", kAny});
  return c;
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  cases.push_back(AllFlagCombinations());

  // tcp_conntracks through a whole connection, then nf_conntrack_tcp_packet()'s SYN_SENT case:
  // handshake, data, close, and a new SYN re-opening TIME_WAIT (the old entry is killed).
  cases.push_back(Seq("handshake_data_close_reopen",
                      {
                          {C().Flags(kPsh | kAck).Seq(1001).Ack(5001).Win(502).Payload(7),
                           "established", "ESTABLISHED", kRAC, 300},
                          {SAck(5001, 1008), "established", "ESTABLISHED", kRAC, 432000},
                          {C().Flags(kFin | kAck).Seq(1008).Ack(5001).Win(502), "established",
                           "FIN_WAIT", kRAC, 120},
                          {SAck(5001, 1009), "established", "CLOSE_WAIT", kRAC, 60},
                          {S().Flags(kFin | kAck).Seq(5001).Ack(1009).Win(509), "established",
                           "LAST_ACK", kRAC, 30},
                          {CAck(1009, 5002), "established", "TIME_WAIT", kRAC, 120},
                          {Syn(90000), "new", "SYN_SENT", kC, 120},
                      }));

  // tcp_error(): invalid flag combinations on an established entry change nothing.
  cases.push_back(
      Final_(Seq("invalid_flags_on_established",
                 {
                     {C().Flags(kSyn | kFin).Seq(1001), "invalid", "ESTABLISHED", kRAC, 432000},
                     {C().Flags(kFin).Seq(1001), "invalid", "ESTABLISHED", kRAC, 432000},
                     {C().Flags(0).Seq(1001), "invalid", "ESTABLISHED", kRAC, 432000},
                     {C().Flags(kSyn | kRst).Seq(1001), "invalid", "ESTABLISHED", kRAC, 432000},
                     {CAck().BadL4Checksum(), "invalid", "ESTABLISHED", kRAC, 432000},
                     {CAck().DataOffset(4), "invalid", "ESTABLISHED", kRAC, 432000},
                 }),
             {{"ESTABLISHED", kRAC, 432000}}));

  // nf_conntrack_tcp_packet(), before any reply: a SYN retransmission does not refresh the
  // SYN_SENT timer.
  {
    Case c = Seq("syn_retransmission_not_refreshed",
                 {
                     {Syn(), "new", "SYN_SENT", kC, 120},
                     {Syn(), "new", "SYN_SENT", kC, 118, 2000},
                     {SynAck(), "established", "SYN_RECV", kRC, 60, 1000},
                     {CAck(), "established", "ESTABLISHED", kRAC, 432000},
                 },
                 false);
    c.real_timing = true;
    cases.push_back(c);
  }

  // tcp_in_window(): a SYN retransmitted with a higher ISN re-initialises the sender; the SYN/ACK
  // may still ack the old ISN; a lower-ISN SYN in SYN_RECV is ignored.
  cases.push_back(Seq("syn_higher_isn_then_lower",
                      {
                          {Syn(1000), "new", "SYN_SENT", kC, 120},
                          {Syn(2000), "new", "SYN_SENT", kC, 120},
                          {SynAck(5000, 1001), "established", "SYN_RECV", kRC, 60},
                          {Syn(500), "established", "SYN_RECV", kRC, 60},
                          {CAck(2001, 5001), "established", "ESTABLISHED", kRAC, 432000},
                      },
                      false));

  // nf_conntrack_tcp_packet(), no reply seen yet: an RST answering the SYN deletes the entry;
  // so does the client's own RST.
  cases.push_back(Final_(
      Seq("rst_before_reply_kills_entry",
          {
              {Syn(), "new", "SYN_SENT", kC, 120},
              {S().Flags(kRst | kAck).Seq(0).Ack(1001).Win(0), "established", "-", "-", kAny},
              {Syn(3000), "new", "SYN_SENT", kC, 120},
              {C().Flags(kRst).Seq(3001), "new", "-", "-", kAny},
          },
          false),
      {}));

  // nf_conntrack_tcp_packet(), the CLOSE case: RST in ESTABLISHED (below td_maxack, exact).
  cases.push_back(Seq("rst_below_maxack_invalid_then_exact",
                      {
                          {C().Flags(kRst).Seq(900), "invalid", "ESTABLISHED", kRAC, 432000},
                          {C().Flags(kRst).Seq(1001), "established", "CLOSE", kRAC, 10},
                      }));
  cases.push_back(With(Seq("rst_below_maxack_invalid_even_liberal",
                           {
                               {C().Flags(kRst).Seq(900), "invalid", "ESTABLISHED", kRAC, 432000},
                               {C().Flags(kRst).Seq(1001), "established", "CLOSE", kRAC, 10},
                           }),
                       {{"nf_conntrack_tcp_be_liberal", "1"}}));
  cases.push_back(Seq("rst_in_window_inexact_keeps_state",
                      {
                          {S().Flags(kRst).Seq(5100), "established", "ESTABLISHED", kRAC, 10},
                          // The RST's seq moved the server's td_end: 5100 counts as unacked.
                          {CAck(), "established", "ESTABLISHED", kRAC, 300},
                          {CAck(1001, 5100), "established", "ESTABLISHED", kRAC, 432000},
                      }));
  cases.push_back(Seq("rst_train_after_own_data",
                      {
                          {S().Flags(kPsh | kAck).Seq(5001).Ack(1001).Win(509).Payload(10),
                           "established", "ESTABLISHED", kRAC, 300},
                          {S().Flags(kRst).Seq(5011), "established", "CLOSE", kRAC, 10},
                      }));
  cases.push_back(With(Seq("rst_below_maxack_ignore_invalid_rst",
                           {
                               {C().Flags(kRst).Seq(900), "established", "ESTABLISHED", kRAC, 10},
                               {CAck(), "established", "ESTABLISHED", kRAC, 432000},
                               {C().Flags(kRst).Seq(1001), "established", "CLOSE", kRAC, 10},
                           }),
                       {{"nf_conntrack_tcp_ignore_invalid_rst", "1"}}));

  // nf_conntrack_tcp_packet(), the CLOSE case: in closing states an RST is not window-checked.
  cases.push_back(Seq("rst_in_time_wait_any_seq",
                      {
                          {C().Flags(kFin | kAck).Seq(1001).Ack(5001).Win(502), "established",
                           "FIN_WAIT", kRAC, 120},
                          {S().Flags(kFin | kAck).Seq(5001).Ack(1002).Win(509), "established",
                           "LAST_ACK", kRAC, 30},
                          {CAck(1002, 5002), "established", "TIME_WAIT", kRAC, 120},
                          {S().Flags(kRst).Seq(12345678), "established", "CLOSE", kRAC, 10},
                      }));
  cases.push_back(Seq("rst_in_fin_wait_any_seq",
                      {
                          {C().Flags(kFin | kAck).Seq(1001).Ack(5001).Win(502), "established",
                           "FIN_WAIT", kRAC, 120},
                          {C().Flags(kRst).Seq(987654321), "established", "CLOSE", kRAC, 10},
                      }));

  // nf_conntrack_tcp_packet(), the IGNORE case: SYN on an established entry (ignored), then the
  // three ways it can go on.
  cases.push_back(Seq("syn_on_established_then_synack_resyncs",
                      {
                          {Syn(70000), "established", "ESTABLISHED", kRAC, 432000},
                          {SynAck(90000, 70001), "established", "SYN_RECV", kRAC, 60},
                          {CAck(70001, 90001), "established", "ESTABLISHED", kRAC, 432000},
                      }));
  cases.push_back(
      Seq("syn_on_established_then_rst_acking_it",
          {
              {Syn(70000), "established", "ESTABLISHED", kRAC, 432000},
              {S().Flags(kRst | kAck).Seq(0).Ack(70001).Win(0), "established", "CLOSE", kRAC, 10},
          }));
  cases.push_back(Seq("syn_on_established_challenge_ack_then_rst",
                      {
                          {Syn(70000), "established", "ESTABLISHED", kRAC, 432000},
                          {SAck(5001, 1001), "established", "ESTABLISHED", kRAC, 432000},
                          {C().Flags(kRst).Seq(1001), "established", "CLOSE", kRAC, 10},
                          {Syn(70000), "new", "SYN_SENT", kC, 120},
                      }));

  // nf_conntrack_tcp_packet(), the CLOSE case: an RST whose ack number equals last_end skips the
  // window check after a SYN only when it comes from the other side (kernel commit bed6e04be8e6).
  // The client's own RST after its ignored SYN goes through the window check: far out of window,
  // it is invalid.
  cases.push_back(
      Seq("syn_on_established_then_own_rst_acking_it",
          {
              {Syn(70000), "established", "ESTABLISHED", kRAC, 432000},
              {C().Flags(kRst).Seq(300000).Ack(70001), "invalid", "ESTABLISHED", kRAC, 432000},
          }));
  // A first SYN (last_end 0), a reply the window check ignores (it sets SEEN_REPLY only), then the
  // client's RST with ack field 0 beyond its window: ignored when the overshoot fits the server's
  // window, invalid when it does not; within the window it closes.
  cases.push_back(Seq("syn_ignored_reply_rst_then_own_rst_ack0",
                      {
                          {Syn(), "new", "SYN_SENT", kC, 120},
                          {S().Flags(kRst | kAck).Seq(0).Ack(1001 - 100000).Win(100), "established",
                           "SYN_SENT", kRC, 120},
                          {C().Flags(kRst).Seq(1030).Ack(0), "established", "SYN_SENT", kRC, 120},
                          {C().Flags(kRst).Seq(1001).Ack(0), "established", "CLOSE", kRC, 10},
                      },
                      false));
  cases.push_back(Seq("syn_ignored_reply_rst_zero_window_then_own_rst_ack0",
                      {
                          {Syn(), "new", "SYN_SENT", kC, 120},
                          {S().Flags(kRst | kAck).Seq(0).Ack(1001 - 100000).Win(0), "established",
                           "SYN_SENT", kRC, 120},
                          {C().Flags(kRst).Seq(1030).Ack(0), "invalid", "SYN_SENT", kRC, 120},
                      },
                      false));
  cases.push_back(
      Seq("syn_ignored_synack_then_own_rst_ack0",
          {
              {Syn(), "new", "SYN_SENT", kC, 120},
              {SynAck(5000, 1001 - 100000).Win(100), "established", "SYN_SENT", kRC, 120},
              {C().Flags(kRst).Seq(1030).Ack(0), "established", "SYN_SENT", kRC, 120},
          },
          false));

  // nf_conntrack_tcp_packet(), the IGNORE and TIME_WAIT cases: LAST_ACK + SYN + the peer's
  // challenge ACK keeps LAST_ACK.
  cases.push_back(
      Seq("last_ack_challenge_ack", {
                                        {C().Flags(kFin | kAck).Seq(1001).Ack(5001).Win(502),
                                         "established", "FIN_WAIT", kRAC, 120},
                                        {S().Flags(kFin | kAck).Seq(5001).Ack(1002).Win(509),
                                         "established", "LAST_ACK", kRAC, 30},
                                        {Syn(80000), "established", "LAST_ACK", kRAC, 30},
                                        {SAck(5002, 1002), "established", "LAST_ACK", kRAC, 30},
                                        {CAck(1002, 5002), "established", "TIME_WAIT", kRAC, 120},
                                    }));

  // tcp_conntracks (sSS -> sS2) and nf_conntrack_tcp_packet()'s SYN_SENT2 / SYN_RECV cases:
  // simultaneous open.
  cases.push_back(
      Seq("simultaneous_open",
          {
              {Syn(1000), "new", "SYN_SENT", kC, 120},
              {S().Flags(kSyn).Seq(5000).Win(65160).Mss(1460).WScale(7), "established", "SYN_SENT2",
               kRC, 120},
              {C().Flags(kSyn | kAck).Seq(1000).Ack(5001).Win(64240).Mss(1460).WScale(7),
               "established", "SYN_RECV", kRC, 60},
              {SynAck(5000, 1001), "established", "SYN_RECV", kRC, 60},
              {SAck(5001, 1001), "established", "ESTABLISHED", kRAC, 432000},
          },
          false));

  // nf_conntrack_tcp_packet(), the IGNORE and CLOSE cases: half-open; the server's ACK is ignored
  // (SEEN_REPLY set), the client's RST with seq = that ACK's ack number closes.
  cases.push_back(Seq("half_open_challenge_ack_then_rst",
                      {
                          {Syn(), "new", "SYN_SENT", kC, 120},
                          {SAck(5000, 1001), "established", "SYN_SENT", kRC, 120},
                          {C().Flags(kRst).Seq(1001), "established", "CLOSE", kRC, 10},
                      },
                      false));

  // nf_conntrack_tcp_packet(), the SYN_SENT case on TIME_WAIT / CLOSE: re-open rules.
  cases.push_back(Seq("time_wait_reply_syn_swaps_roles",
                      {
                          {C().Flags(kFin | kAck).Seq(1001).Ack(5001).Win(502), "established",
                           "FIN_WAIT", kRAC, 120},
                          {S().Flags(kFin | kAck).Seq(5001).Ack(1002).Win(509), "established",
                           "LAST_ACK", kRAC, 30},
                          {CAck(1002, 5002), "established", "TIME_WAIT", kRAC, 120},
                          {S().Flags(kSyn).Seq(99000).Win(65160), "new", "SYN_SENT", kC, 120},
                          {C().Flags(kSyn | kAck).Seq(3000).Ack(99001).Win(64240), "established",
                           "SYN_RECV", kRC, 60},
                      }));
  cases.push_back(Seq("close_by_own_rst_then_syn_reopens",
                      {
                          {C().Flags(kRst).Seq(1001), "established", "CLOSE", kRAC, 10},
                          {Syn(80000), "new", "SYN_SENT", kC, 120},
                      }));
  cases.push_back(Seq("close_by_own_rst_then_ack_then_syn_ignored",
                      {
                          {C().Flags(kRst).Seq(1001), "established", "CLOSE", kRAC, 10},
                          {CAck(), "established", "CLOSE", kRAC, 10},
                          {Syn(80000), "established", "CLOSE", kRAC, 10},
                      }));
  cases.push_back(Seq("close_by_peer_rst_then_syn_resyncs",
                      {
                          {S().Flags(kRst).Seq(5001), "established", "CLOSE", kRAC, 10},
                          {Syn(80000), "established", "CLOSE", kRAC, 10},
                          {SynAck(95000, 80001), "established", "SYN_RECV", kRAC, 60},
                          {CAck(80001, 95001), "established", "ESTABLISHED", kRAC, 432000},
                      }));

  // tcp_in_window(): window checks. The server's unacked data keeps the timeout at 300 s; the
  // ignored packets ack it, so a refresh would show 432000.
  cases.push_back(Seq("window_checks",
                      {
                          {S().Flags(kPsh | kAck).Seq(5001).Ack(1001).Win(509).Payload(10),
                           "established", "ESTABLISHED", kRAC, 300},
                          // II: acks data the server never sent.
                          {CAck(1001, 6000), "invalid", "ESTABLISHED", kRAC, 300},
                          // I: far beyond the window.
                          {C().Flags(kPsh | kAck).Seq(201001).Ack(5011).Win(502).Payload(10),
                           "invalid", "ESTABLISHED", kRAC, 300},
                          // III: old data far below the window (ignored).
                          {C().Flags(kPsh | kAck).Seq(1001 - 70000).Ack(5011).Win(502).Payload(10),
                           "established", "ESTABLISHED", kRAC, 300},
                          // IV: very old ack (ignored).
                          {CAck(1001, 5011 - 100000), "established", "ESTABLISHED", kRAC, 300},
                          // I fails by a little: ignored, but td_end moves so its ack is valid.
                          {C().Flags(kPsh | kAck).Seq(66162).Ack(5011).Win(502).Payload(100),
                           "established", "ESTABLISHED", kRAC, 300},
                          {SAck(5011, 66262), "established", "ESTABLISHED", kRAC, 300},
                          {CAck(66262, 5011), "established", "ESTABLISHED", kRAC, 432000},
                      }));

  // tcp_in_window() with time passing: ignored and invalid packets do not refresh.
  {
    Case c = Seq("ignored_packets_do_not_refresh",
                 {
                     {C().Flags(kPsh | kAck).Seq(1001 - 70000).Ack(5001).Win(502).Payload(10),
                      "established", "ESTABLISHED", kRAC, 431998, 2000},
                     {CAck(1001, 6000), "invalid", "ESTABLISHED", kRAC, 431997, 1000},
                     {Syn(70000), "established", "ESTABLISHED", kRAC, 431996, 1000},
                     {CAck(), "established", "ESTABLISHED", kRAC, 432000, 1000},
                 });
    c.real_timing = true;
    cases.push_back(c);
  }

  // tcp_options() and tcp_in_window(): window scaling is used only when both SYNs carry the
  // option.
  cases.push_back(
      Seq("wscale_both_sides", {
                                   {S().Flags(kPsh | kAck).Seq(5600).Ack(1001).Win(509).Payload(10),
                                    "established", "ESTABLISHED", kRAC, 300},
                               }));
  cases.push_back(Seq("wscale_client_only_disables_scaling",
                      {
                          {Syn(), "new", "SYN_SENT", kC, 120},
                          {S().Flags(kSyn | kAck).Seq(5000).Ack(1001).Win(65160).Mss(1460),
                           "established", "SYN_RECV", kRC, 60},
                          {CAck(), "established", "ESTABLISHED", kRAC, 432000},
                          // Window 502 unscaled: 5600 is beyond 5001 + 502, a small overshoot.
                          {S().Flags(kPsh | kAck).Seq(5600).Ack(1001).Win(509).Payload(10),
                           "established", "ESTABLISHED", kRAC, 432000},
                          {S().Flags(kPsh | kAck).Seq(5001).Ack(1001).Win(509).Payload(10),
                           "established", "ESTABLISHED", kRAC, 300},
                      },
                      false));
  cases.push_back(Seq("wscale_synack_without_options",
                      {
                          {Syn(), "new", "SYN_SENT", kC, 120},
                          {S().Flags(kSyn | kAck).Seq(5000).Ack(1001).Win(65160), "established",
                           "SYN_RECV", kRC, 60},
                          {CAck(), "established", "ESTABLISHED", kRAC, 432000},
                          {S().Flags(kPsh | kAck).Seq(5600).Ack(1001).Win(509).Payload(10),
                           "established", "ESTABLISHED", kRAC, 432000},
                      },
                      false));
  cases.push_back(
      Seq("wscale_15_clamped_to_14",
          {
              {C().Flags(kSyn).Seq(1000).Win(64240).WScale(15), "new", "SYN_SENT", kC, 120},
              {SynAck(), "established", "SYN_RECV", kRC, 60},
              // Window 1 << 14 = 16384: the server may send up to 21385.
              {CAck(1001, 5001, 1), "established", "ESTABLISHED", kRAC, 432000},
              {S().Flags(kPsh | kAck).Seq(25001).Ack(1001).Win(509).Payload(10), "established",
               "ESTABLISHED", kRAC, 432000},
              {S().Flags(kPsh | kAck).Seq(21000).Ack(1001).Win(509).Payload(10), "established",
               "ESTABLISHED", kRAC, 300},
          },
          false));

  // tcp_sack() in tcp_in_window(): SACK right edges bound the ack only when the receiver
  // allowed SACK.
  cases.push_back(
      Seq("sack_beyond_ack_with_sack_perm",
          {
              {S().Flags(kPsh | kAck).Seq(5001).Ack(1001).Win(509).Payload(100), "established",
               "ESTABLISHED", kRAC, 300},
              {CAck().Sack({{5051, 5101}}), "established", "ESTABLISHED", kRAC, 300},
              {CAck().Sack({{5101, 5201}}), "invalid", "ESTABLISHED", kRAC, 300},
              {CAck().Sack({{5051, 5061}, {5101, 5201}}), "invalid", "ESTABLISHED", kRAC, 300},
          }));
  cases.push_back(Seq("sack_beyond_ack_without_sack_perm",
                      {
                          {Syn(), "new", "SYN_SENT", kC, 120},
                          {S().Flags(kSyn | kAck).Seq(5000).Ack(1001).Win(65160).WScale(7),
                           "established", "SYN_RECV", kRC, 60},
                          {CAck(), "established", "ESTABLISHED", kRAC, 432000},
                          {S().Flags(kPsh | kAck).Seq(5001).Ack(1001).Win(509).Payload(100),
                           "established", "ESTABLISHED", kRAC, 300},
                          {CAck().Sack({{5101, 5201}}), "established", "ESTABLISHED", kRAC, 300},
                      },
                      false));

  // nf_conntrack_tcp_packet()'s timeout choice: the max_retrans and zero-window clamps.
  cases.push_back(Seq("duplicate_acks_retrans_clamp",
                      {
                          {CAck(), "established", "ESTABLISHED", kRAC, 432000},
                          {CAck(), "established", "ESTABLISHED", kRAC, 432000},
                          {CAck(), "established", "ESTABLISHED", kRAC, 300},
                          {CAck(1001, 5001, 503), "established", "ESTABLISHED", kRAC, 432000},
                      }));
  cases.push_back(Seq("zero_window_clamp",
                      {
                          {CAck(1001, 5001, 0), "established", "ESTABLISHED", kRAC, 300},
                          {CAck(1001, 5001, 502), "established", "ESTABLISHED", kRAC, 432000},
                      }));
  cases.push_back(Seq("pickup_unreplied_then_assured",
                      {
                          {CAck(1001, 5001), "new", "ESTABLISHED", kC, 300},
                          {C().Flags(kPsh | kAck).Seq(1001).Ack(5001).Win(502).Payload(10), "new",
                           "ESTABLISHED", kC, 300},
                          {SAck(5001, 1011), "established", "ESTABLISHED", kRC, 300},
                          // The liberal accept of the data above skipped the window updates, so
                          // the client's td_end moves only now: unacked again.
                          {CAck(1011, 5001), "established", "ESTABLISHED", kRAC, 300},
                          {SAck(5001, 1011), "established", "ESTABLISHED", kRAC, 432000},
                      },
                      false));

  // tcp_new() with nf_conntrack_tcp_loose, and tcp_in_window() on a picked-up entry: loose pick-up;
  // out-of-window packets on a picked-up connection are accepted.
  cases.push_back(Final_(With(Seq("pickup_loose0_invalid",
                                  {
                                      {CAck(1001, 5001), "invalid", "-", "-", kAny},
                                      {SAck(5001, 1001), "invalid", "-", "-", kAny},
                                      {Syn(), "new", "SYN_SENT", kC, 120},
                                  },
                                  false),
                              {{"nf_conntrack_tcp_loose", "0"}}),
                         {{"SYN_SENT", kC, 120}}));
  cases.push_back(Seq("pickup_loose1_liberal_windows",
                      {
                          {CAck(1001, 5001), "new", "ESTABLISHED", kC, 300},
                          {SAck(5001, 1001), "established", "ESTABLISHED", kRC, 300},
                          {C().Flags(kPsh | kAck).Seq(50000000).Ack(777).Win(502).Payload(10),
                           "established", "ESTABLISHED", kRAC, 432000},
                          {SAck(123456789, 1001), "established", "ESTABLISHED", kRAC, 432000},
                      },
                      false));
  cases.push_back(With(Seq("be_liberal_accepts_out_of_window",
                           {
                               {C().Flags(kPsh | kAck).Seq(201001).Ack(5001).Win(502).Payload(10),
                                "established", "ESTABLISHED", kRAC, 432000},
                               {CAck(1001, 9000), "established", "ESTABLISHED", kRAC, 432000},
                           }),
                       {{"nf_conntrack_tcp_be_liberal", "1"}}));

  // nf_tcp_handle_invalid(): two out-of-window FINs from opposite directions cut the timeout to
  // 300 s.
  cases.push_back(Final_(Seq("out_of_window_fins_shrink_timeout",
                             {
                                 {C().Flags(kFin | kAck).Seq(201001).Ack(5001).Win(502), "invalid",
                                  "ESTABLISHED", kRAC, 432000},
                                 {S().Flags(kFin | kAck).Seq(205001).Ack(1001).Win(509), "invalid",
                                  "ESTABLISHED", kRAC, 300},
                             }),
                         {{"ESTABLISHED", kRAC, 300}}));

  // SYN_SENT2 has no sysctl of its own: it keeps 120 s when the SYN_SENT timeout changes. The
  // initiator's SYN retransmitted in SYN_SENT2 refreshes (SEEN_REPLY is set by then).
  cases.push_back(
      With(Seq("simultaneous_open_syn_sent2_timeout",
               {
                   {Syn(1000), "new", "SYN_SENT", kC, 50},
                   {S().Flags(kSyn).Seq(5000).Win(65160), "established", "SYN_SENT2", kRC, 50},
                   {Syn(1000), "established", "SYN_SENT2", kRC, 120},
               },
               false),
           {{"nf_conntrack_tcp_timeout_syn_sent", "50"}}));

  // The same handshake over IPv6, with a destination-options header before TCP.
  cases.push_back(
      Seq("ipv6_handshake_with_ext_header",
          {
              {C6().Flags(kSyn).Seq(1000).Win(64240).Mss(1440).SackPerm().WScale(7), "new",
               "SYN_SENT", kC, 120},
              {S6().Flags(kSyn | kAck).Seq(5000).Ack(1001).Win(65160).WScale(7), "established",
               "SYN_RECV", kRC, 60},
              {C6().Flags(kAck).Seq(1001).Ack(5001).Win(502).Ipv6ExtHeader(60, Bytes(6, 0)),
               "established", "ESTABLISHED", kRAC, 432000},
              {C6().Flags(kAck).Seq(1001).Ack(5001).Win(502).BadL4Checksum(), "invalid",
               "ESTABLISHED", kRAC, 432000},
              {C6().Flags(kFin | kAck).Seq(1001).Ack(5001).Win(502), "established", "FIN_WAIT",
               kRAC, 120},
          },
          false));

  // Payload on a SYN counts in td_end.
  cases.push_back(
      Seq("syn_with_data_counts_in_end",
          {
              {C().Flags(kSyn).Seq(1000).Win(64240).Payload(20), "new", "SYN_SENT", kC, 120},
              {SynAck(5000, 1021), "established", "SYN_RECV", kRC, 60},
              {CAck(1021, 5001), "established", "ESTABLISHED", kRAC, 432000},
          },
          false));
  return cases;
}

// The tuple of a built datagram, read by the engine's own layer-3 parser (what a test reads of
// the bytes is what the tracker read). False when the datagram has none (a non-first fragment).
bool FlowOf(const Bytes& b, Tuple* t) {
  ParsedPacket p;
  return ParseL3(b.data(), static_cast<uint32_t>(b.size()), &p) == L3Parse::kOk &&
         GetTuple(p, 0, t);
}
// An entry's tuple is the packet's flow, zone aside.
bool Matches(const Tuple& entry, const Tuple& flow) {
  return std::equal(flow.src, flow.src + 16, entry.src) &&
         std::equal(flow.dst, flow.dst + 16, entry.dst) && entry.src_id == flow.src_id &&
         entry.dst_id == flow.dst_id && entry.protonum == kProtoTcp;
}

struct Observed {
  std::string state = "-";
  std::string status = "-";
  int64_t timeout = kAny;
};

constexpr Timestamp kStart = 1700000000 * kNsPerSec;

// Keeps gtest from dumping the case's bytes on failure.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class TcpSequenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(TcpSequenceTest, MatchesKernel) {
  const Case& c = GetParam();
  Config cfg;
  for (const auto& [name, value] : c.sysctls) ASSERT_EQ(cfg.Set(name, value), "") << name;
  Conntrack engine(cfg);
  Timestamp now = kStart;
  std::vector<testing::PcapRecord> records;
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    now += s.advance_ms * 1000000;
    Bytes b = s.pkt.Build();
    records.push_back({now, b});
    PacketResult r = engine.ProcessIp(b.data(), static_cast<uint32_t>(b.size()), now);
    EXPECT_STREQ(VerdictName(r.verdict), s.verdict);
    Tuple f;
    const bool has_flow = FlowOf(b, &f);
    Observed o;
    int found = 0;
    engine.ForEach(now, [&](const ConnInfo& info) {
      if (!has_flow || (!Matches(info.orig, f) && !Matches(info.reply, f))) return;
      ++found;
      o.state = StateName(kProtoTcp, info.state);
      o.status = StatusNames(info.status);
      o.timeout = info.timeout_s;
    });
    EXPECT_LE(found, 1);
    EXPECT_EQ(o.state, s.state);
    EXPECT_EQ(o.status, s.status);
    if (s.timeout != kAny) {
      EXPECT_EQ(o.timeout, s.timeout);
    }
  }
  if (c.check_final) {
    std::vector<std::string> names;
    engine.ForEach(now, [&](const ConnInfo& info) {
      names.push_back(std::string(StateName(kProtoTcp, info.state)) + "|" +
                      StatusNames(info.status) + "|" + std::to_string(info.timeout_s));
    });
    std::vector<std::string> want;
    for (const Final& f : c.final) {
      want.push_back(std::string(f.state) + "|" + f.status + "|" + std::to_string(f.timeout));
    }
    std::sort(names.begin(), names.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(names, want);
  }

  // Oracle mode: write the case for scripts/oracle_check_tcp.sh.
  if (const char* dir = std::getenv("CTRACK_TCP_ORACLE_DIR")) {
    std::string base = std::string(dir) + "/" + c.name;
    ASSERT_TRUE(testing::WritePcap(base + ".pcap", 101, records));
    std::ofstream args(base + ".args");
    if (c.real_timing) args << "--timing real ";
    for (const auto& [name, value] : c.sysctls) args << "--sysctl " << name << "=" << value << " ";
    args << "\n";
    std::ofstream exp(base + ".expect.tsv");
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      exp << i << "\t" << s.verdict << "\t" << s.state << "\t" << s.status << "\t" << s.timeout
          << "\n";
    }
    if (c.check_final) exp << "F\t-\t-\t-\t" << c.final.size() << "\n";
    for (const Final& f : c.final) {
      exp << "E\t-\t" << f.state << "\t" << f.status << "\t" << f.timeout << "\n";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tcp, TcpSequenceTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

}  // namespace
}  // namespace ctrack
