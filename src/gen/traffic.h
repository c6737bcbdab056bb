// The project's own traffic generator: deterministic captures for the demo, tests, benchmarks
// and the operator scenarios of `ctrack gen`.
#ifndef CTRACK_GEN_TRAFFIC_H_
#define CTRACK_GEN_TRAFFIC_H_

#include <ctrack/packet.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gen/pcap_writer.h"

namespace ctrack {

struct Endpoint {
  bool v6 = false;
  uint8_t addr[16] = {};
  uint16_t port = 0;
};
Endpoint V4(uint32_t host_order_addr, uint16_t port);
Endpoint V6(const uint8_t (&prefix)[8], uint64_t iid, uint16_t port);

// Builds Ethernet II frames with valid IPv4/IPv6 and TCP/UDP/ICMP checksums. The returned span
// refers to an internal buffer valid until the next call.
class FrameSynth {
 public:
  struct View {
    const uint8_t* data;
    uint32_t len;
  };
  View Tcp(const Endpoint& src, const Endpoint& dst, uint32_t seq, uint32_t ack, uint8_t flags,
           uint16_t win, const uint8_t* opts, uint32_t optlen, const uint8_t* payload,
           uint32_t plen);
  View Udp(const Endpoint& src, const Endpoint& dst, const uint8_t* payload, uint32_t plen);
  // ICMP echo (v4) / ICMPv6 echo; `reply` selects the reply type.
  View Echo(const Endpoint& src, const Endpoint& dst, bool reply, uint16_t id, uint16_t seq);
  // An ICMP port-unreachable from `src` quoting the datagram `quoted` (IPv4 only).
  View PortUnreachable(const Endpoint& src, const Endpoint& dst, const uint8_t* quoted,
                       uint32_t qlen);

  void set_client_mac_for(bool client_to_server) { c2s_ = client_to_server; }

 private:
  View Finish(const Endpoint& src, const Endpoint& dst, uint8_t proto, uint32_t l4len,
              int csum_off);
  std::vector<uint8_t> buf_;
  uint16_t ip_id_ = 0;
  bool c2s_ = true;
};

// The flood of `ctrack soak` and of its ctest (tests/unit/soak_test.cc): spoofed SYNs (with an MSS
// option) from 100.64.0.0/10 and 16-byte UDP datagrams, two to one, to 198.51.100.0/24 on random
// ports; with `fragments`, every 64th frame an unfinished IPv4 first fragment (MF set, 64 bytes of
// UDP) that the defragmenter queues and never completes. Deterministic for a seed.
class SoakFlood {
 public:
  SoakFlood(uint64_t seed, bool fragments) : rng_(seed), fragments_(fragments) {}
  // Frame `k` of the stream: k decides its kind, one draw of the generator its addresses. The
  // view is valid until the next call.
  FrameSynth::View Next(uint64_t k);

 private:
  FrameSynth synth_;
  std::mt19937_64 rng_;
  std::vector<uint8_t> frag_;
  bool fragments_;
};

struct GenOptions {
  uint64_t seed = 1;
  uint32_t conns = 0;       // scenario default when 0
  double duration_s = 0;    // scenario default when 0
  double rate = 0;          // packets (or connections) per second; scenario default when 0
  double ipv6_share = 0.1;  // share of IPv6 flows in mixed scenarios
  Timestamp start = 1700000000 * kNsPerSec;
};

// Scenario names for `ctrack gen`: web, synflood, udpflood, dns, portscan, flaky, w1.
std::vector<std::string> ScenarioNames();
const char* ScenarioHelp(const std::string& name);

// Writes the scenario's packets to `w` (opened by the caller with linktype Ethernet). Returns an
// error line for an unknown scenario, else empty.
std::string GenerateScenario(const std::string& name, const GenOptions& opt, PcapWriter* w);

// The reference W1 workload, byte for byte as ../shared/bench/gen_tcp_pcap.py writes it:
// n_conns 10-packet TCP connections, `window` open at a time, interleaved step by step.
void GenerateW1(PcapWriter* w, uint32_t n_conns, uint32_t window, uint32_t req_len = 100,
                uint32_t rsp_len = 1000);

}  // namespace ctrack

#endif  // CTRACK_GEN_TRAFFIC_H_
