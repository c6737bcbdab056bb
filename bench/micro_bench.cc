// Google Benchmark microbenchmarks: hash, lookup hit/miss, insert, TCP window check, checksum,
// parse.
// Release builds only: cmake --preset release && build/release/bench/ctrack_bench
#include <benchmark/benchmark.h>
#include <ctrack/config.h>
#include <ctrack/conntrack.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/table.h"
#include "gen/traffic.h"
#include "parse/checksum.h"
#include "parse/l3.h"
#include "parse/link.h"

namespace ctrack {
namespace {

Tuple RandomTuple(std::mt19937_64& rng, bool v6) {
  Tuple t{};
  uint64_t a = rng(), b = rng();
  std::memcpy(t.src, &a, v6 ? 8 : 4);
  std::memcpy(t.dst, &b, v6 ? 8 : 4);
  t.src_id = static_cast<uint16_t>(rng());
  t.dst_id = 443;
  t.l3num = v6 ? kAfInet6 : kAfInet;
  t.protonum = kProtoTcp;
  return t;
}

void BM_Hash(benchmark::State& state) {
  Config cfg;
  Table table(cfg);
  std::mt19937_64 rng(1);
  std::vector<Tuple> keys;
  for (int i = 0; i < 1024; ++i) keys.push_back(RandomTuple(rng, i & 1));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Hash(keys[i++ & 1023]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Hash);

std::vector<uint8_t> UdpDatagram(FrameSynth& fs, uint32_t i, bool reply) {
  static const uint8_t kPayload[32] = {};
  Endpoint c = V4(0x0a000000u | i, 40000), s = V4(0xc6336401u, 53);
  FrameSynth::View v = reply ? fs.Udp(s, c, kPayload, 32) : fs.Udp(c, s, kPayload, 32);
  return std::vector<uint8_t>(v.data, v.data + v.len);
}

// Established lookup+update in a table of N replied UDP flows (random access), batched.
void BM_LookupHit(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  Config cfg;
  cfg.nf_conntrack_max = n + 64;
  cfg.nf_conntrack_buckets = n;
  Conntrack ct(cfg);
  FrameSynth fs;
  std::vector<std::vector<uint8_t>> store;
  for (uint32_t i = 0; i < n; ++i) {
    for (bool reply : {false, true}) {
      std::vector<uint8_t> f = UdpDatagram(fs, i, reply);
      ct.ProcessFrame(kLinkEthernet, f.data(), static_cast<uint32_t>(f.size()),
                      static_cast<uint32_t>(f.size()), 0);
    }
  }
  std::mt19937 rng(3);
  const uint32_t kPool = 1 << 16;
  std::vector<Frame> frames;
  for (uint32_t i = 0; i < kPool; ++i) {
    store.push_back(UdpDatagram(fs, rng() % n, false));
    frames.push_back(Frame{store.back().data(), static_cast<uint32_t>(store.back().size()),
                           static_cast<uint32_t>(store.back().size()), 0});
  }
  std::vector<PacketResult> out(32);
  size_t pos = 0;
  for (auto _ : state) {
    ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(&frames[pos], 32), out);
    pos = (pos + 32) % kPool;
  }
  state.SetItemsProcessed(state.iterations() * 32);
  state.SetLabel("load_factor=" + std::to_string(static_cast<double>(2 * n) / n));
}
BENCHMARK(BM_LookupHit)->Arg(10000)->Arg(100000)->Arg(1000000);

// Lookup miss + insert: new UDP flows into a table sized for all of them.
void BM_Insert(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  FrameSynth fs;
  std::vector<std::vector<uint8_t>> store;
  std::vector<Frame> frames;
  for (uint32_t i = 0; i < n; ++i) {
    store.push_back(UdpDatagram(fs, i, false));
    frames.push_back(Frame{store.back().data(), static_cast<uint32_t>(store.back().size()),
                           static_cast<uint32_t>(store.back().size()), 0});
  }
  std::vector<PacketResult> out(32);
  for (auto _ : state) {
    state.PauseTiming();
    Config cfg;
    cfg.nf_conntrack_max = n + 64;
    cfg.nf_conntrack_buckets = n;
    auto ct = std::make_unique<Conntrack>(cfg);
    state.ResumeTiming();
    for (size_t i = 0; i < frames.size(); i += 32) {
      size_t m = std::min<size_t>(32, frames.size() - i);
      ct->ProcessBatch(kLinkEthernet, std::span<const Frame>(&frames[i], m),
                       std::span<PacketResult>(out.data(), m));
    }
    state.PauseTiming();
    ct.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Insert)->Arg(10000)->Arg(100000);

// TCP: an established connection's data/ack exchange (window checks on every packet).
void BM_TcpWindow(benchmark::State& state) {
  FrameSynth fs;
  static const uint8_t kOpts[4] = {2, 4, 5, 0xb4};
  static const uint8_t kData[100] = {};
  Endpoint c = V4(0x0a000001u, 40000), s = V4(0xc6336401u, 80);
  Config cfg;
  Conntrack ct(cfg);
  auto send = [&](const FrameSynth::View& v) {
    return ct.ProcessFrame(kLinkEthernet, v.data, v.len, v.len, 0);
  };
  uint32_t cs = 1000, ss = 5000;
  send(fs.Tcp(c, s, cs, 0, 0x02, 64240, kOpts, 4, nullptr, 0));
  send(fs.Tcp(s, c, ss, cs + 1, 0x12, 65535, kOpts, 4, nullptr, 0));
  ++cs;
  ++ss;
  send(fs.Tcp(c, s, cs, ss, 0x10, 65535, nullptr, 0, nullptr, 0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(send(fs.Tcp(c, s, cs, ss, 0x18, 65535, nullptr, 0, kData, 100)));
    cs += 100;
    benchmark::DoNotOptimize(send(fs.Tcp(s, c, ss, cs, 0x10, 65535, nullptr, 0, nullptr, 0)));
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_TcpWindow);

// The one's-complement sum of an L4 segment of state.range(0) bytes (what checksum
// verification costs per packet beyond the pseudo-header).
void BM_Checksum(benchmark::State& state) {
  std::vector<uint8_t> seg(static_cast<size_t>(state.range(0)) + 1);
  std::mt19937 rng(3);
  for (uint8_t& b : seg) b = static_cast<uint8_t>(rng());
  for (auto _ : state) {
    benchmark::DoNotOptimize(CsumPartial(seg.data() + 1, static_cast<uint32_t>(state.range(0)), 0));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(40)->Arg(120)->Arg(1020)->Arg(1480);

void BM_ParseTuple(benchmark::State& state) {
  FrameSynth fs;
  std::vector<uint8_t> f = UdpDatagram(fs, 7, false);
  for (auto _ : state) {
    LinkResult l = DecodeLink(kLinkEthernet, f.data(), f.size());
    ParsedPacket p;
    ParseL3(l.l3, l.len, &p);
    Tuple t;
    benchmark::DoNotOptimize(GetTuple(p, 0, &t));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseTuple);

}  // namespace
}  // namespace ctrack

BENCHMARK_MAIN();
