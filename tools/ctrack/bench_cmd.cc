// `ctrack bench WORKLOAD [--pcap FILE] [--threads N] [--conns N] [--repeat N]`: tracking speed
// and memory on the project's own traffic (or a capture loaded into memory first). Only the
// tracking calls are timed. Ends with one line:
//   WORKLOAD ns_per_packet=N mpps=N bytes_per_conn=N peak_rss_mb=N threads=N
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/packet.h>
#include <ctrack/sharded.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ctrack/commands.h"
#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "io/pcap_reader.h"

namespace ctrack::cli {
namespace {

constexpr size_t kBatch = 32;

struct BenchOptions {
  std::string workload;
  std::string pcap;
  int threads = 1;
  uint32_t conns = 0;
  int repeat = 3;
};

double NowSec() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long RssKb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * 4;
}

long PeakRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// Frames of an in-memory pcap written by PcapWriter (classic, little endian).
std::vector<Frame> FramesOf(const std::vector<uint8_t>& b) {
  std::vector<Frame> frames;
  for (size_t off = 24; off + 16 <= b.size();) {
    uint32_t rec[4];
    std::memcpy(rec, &b[off], 16);
    if (off + 16 + rec[2] > b.size()) break;
    frames.push_back(Frame{&b[off + 16], rec[2], rec[3],
                           static_cast<Timestamp>(rec[0]) * kNsPerSec + rec[1] * 1000LL});
    off += 16 + rec[2];
  }
  return frames;
}

struct Result {
  double ns_per_packet = 0;
  double bytes_per_conn = 0;
  uint64_t packets = 0;
};

// Replays `frames` through a fresh table, in batches; returns seconds spent in tracking.
double Replay(Conntrack& ct, uint32_t linktype, const std::vector<Frame>& frames) {
  std::vector<PacketResult> out(kBatch);
  double t0 = NowSec();
  for (size_t i = 0; i < frames.size(); i += kBatch) {
    size_t n = std::min(kBatch, frames.size() - i);
    ct.ProcessBatch(linktype, std::span<const Frame>(&frames[i], n),
                    std::span<PacketResult>(out.data(), n));
  }
  return NowSec() - t0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A UDP datagram (Ethernet frame) for flow i of a client/server population.
std::vector<uint8_t> UdpFrame(FrameSynth& fs, uint32_t i, bool reply, bool v6 = false) {
  static const uint8_t kPayload[64] = {};
  static const uint8_t kP6a[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0};
  static const uint8_t kP6b[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0};
  Endpoint c = v6 ? V6(kP6a, i >> 4, static_cast<uint16_t>(1024 + (i & 15) * 4000))
                  : V4(0x0a000000u | (i >> 4), static_cast<uint16_t>(1024 + (i & 15) * 4000));
  Endpoint s = v6 ? V6(kP6b, 1, 53) : V4(0xc6336401u, 53);
  FrameSynth::View v = reply ? fs.Udp(s, c, kPayload, 64) : fs.Udp(c, s, kPayload, 64);
  return std::vector<uint8_t>(v.data, v.data + v.len);
}

struct FrameSet {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<Frame> frames;
  void Add(std::vector<uint8_t> b, Timestamp ts) {
    storage.push_back(std::move(b));
    const std::vector<uint8_t>& s = storage.back();
    frames.push_back(
        Frame{s.data(), static_cast<uint32_t>(s.size()), static_cast<uint32_t>(s.size()), ts});
  }
  void Reserve(size_t n) {
    storage.reserve(n);
    frames.reserve(n);
  }
};

Result RunW1(const BenchOptions& o) {
  std::vector<uint8_t> buf;
  uint32_t linktype = kLinkEthernet;
  std::vector<Frame> frames;
  LoadedCapture cap;
  if (!o.pcap.empty()) {
    std::string err = LoadCapture(o.pcap, &cap);
    if (!err.empty()) {
      std::fprintf(stderr, "ctrack bench: %s\n", err.c_str());
      std::exit(1);
    }
    frames = cap.frames;
    linktype = cap.linktype;
  } else {
    PcapWriter w;
    w.OpenMemory(kLinkEthernet);
    GenerateW1(&w, o.conns ? o.conns : (o.threads > 1 ? 1000000 : 100000), 1000);
    buf = w.buffer();
    frames = FramesOf(buf);
  }
  Config cfg;  // kernel defaults: checksums verified, max 262144
  std::vector<double> times;
  Result r;
  if (o.threads > 1) {
    // Sharded by the symmetric address hash; the dispatch (a NIC's symmetric RSS in a data
    // plane) is done before timing. One thread per shard, each on its own frames in order.
    uint32_t conns = o.conns ? o.conns : 1000000;
    cfg.nf_conntrack_max = std::max<uint32_t>(cfg.nf_conntrack_max, conns + 1024);
    cfg.nf_conntrack_buckets = cfg.nf_conntrack_max;
    std::vector<double> single, multi;
    for (int k = 0; k < o.repeat; ++k) {
      Conntrack one(cfg);
      single.push_back(Replay(one, linktype, frames));
      ShardedConntrack sh(cfg, static_cast<unsigned>(o.threads));
      std::vector<std::vector<Frame>> parts(static_cast<size_t>(o.threads));
      for (const Frame& f : frames) parts[sh.ShardOf(linktype, f.data, f.caplen)].push_back(f);
      std::atomic<int> ready{0};
      std::vector<std::thread> pool;
      double t0 = 0;
      std::vector<double> ends(parts.size());
      for (size_t t = 0; t < parts.size(); ++t) {
        pool.emplace_back([&, t] {
          ready.fetch_add(1);
          while (ready.load() < static_cast<int>(parts.size())) {
          }
          if (t == 0) t0 = NowSec();
          Replay(sh.shard(static_cast<unsigned>(t)), linktype, parts[t]);
          ends[t] = NowSec();
        });
      }
      for (std::thread& th : pool) th.join();
      multi.push_back(*std::max_element(ends.begin(), ends.end()) - t0);
      if (k == 0) {
        std::fprintf(stderr, "  shards:");
        for (const auto& p : parts) std::fprintf(stderr, " %zu", p.size());
        std::fprintf(stderr, " packets; entries %u\n", sh.count());
      }
    }
    double s1 = Median(single), sm = Median(multi);
    std::fprintf(stderr, "  1 thread %.1f ns/packet, %d threads %.1f ns/packet: %.2fx\n",
                 s1 * 1e9 / static_cast<double>(frames.size()), o.threads,
                 sm * 1e9 / static_cast<double>(frames.size()), s1 / sm);
    r.packets = frames.size();
    r.ns_per_packet = sm * 1e9 / static_cast<double>(frames.size());
    return r;
  }
  for (int k = 0; k < o.repeat; ++k) {
    Conntrack ct(cfg);
    times.push_back(Replay(ct, linktype, frames));
    if (k == 0) {
      std::fprintf(stderr, "  run: invalid=%llu entries=%u\n",
                   static_cast<unsigned long long>(ct.stats().invalid), ct.count());
    }
  }
  r.packets = frames.size();
  r.ns_per_packet = Median(times) * 1e9 / static_cast<double>(frames.size());
  return r;
}

// W2: one UDP flow, the same packet looked up and updated in a loop, batches of 32.
Result RunW2(const BenchOptions& o) {
  FrameSynth fs;
  FrameSet set;
  set.Add(UdpFrame(fs, 1, false), 0);
  set.Add(UdpFrame(fs, 1, true), 1);
  Config cfg;
  Conntrack ct(cfg);
  std::vector<PacketResult> out(kBatch);
  ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(set.frames.data(), 2),
                  std::span<PacketResult>(out.data(), 2));
  std::vector<Frame> batch(kBatch, set.frames[0]);
  const uint64_t kIters = 200000;
  std::vector<double> times;
  for (int k = 0; k < o.repeat; ++k) {
    double t0 = NowSec();
    for (uint64_t i = 0; i < kIters; ++i) {
      ct.ProcessBatch(kLinkEthernet, batch, out);
    }
    times.push_back(NowSec() - t0);
  }
  Result r;
  r.packets = kIters * kBatch;
  r.ns_per_packet = Median(times) * 1e9 / static_cast<double>(r.packets);
  return r;
}

// W3 (new connections committed one by one into a table of 10,000-50,000) and W4 (lookups of
// existing connections in that table), UDP.
Result RunW3W4(const BenchOptions& o, bool lookup) {
  const uint32_t kBase = 10000, kTop = 50000;
  FrameSynth fs;
  FrameSet set;
  set.Reserve(kTop);
  for (uint32_t i = 0; i < kTop; ++i) set.Add(UdpFrame(fs, i, false), 0);
  std::vector<double> times;
  Result r;
  for (int k = 0; k < o.repeat; ++k) {
    Config cfg;
    Conntrack ct(cfg);
    PacketResult res;
    for (uint32_t i = 0; i < kBase; ++i) {
      const Frame& f = set.frames[i];
      res = ct.ProcessFrame(kLinkEthernet, f.data, f.caplen, f.wirelen, 0);
    }
    if (!lookup) {
      double t0 = NowSec();
      for (uint32_t i = kBase; i < kTop; ++i) {
        const Frame& f = set.frames[i];
        res = ct.ProcessFrame(kLinkEthernet, f.data, f.caplen, f.wirelen, 0);
      }
      times.push_back(NowSec() - t0);
      r.packets = kTop - kBase;
    } else {
      for (uint32_t i = kBase; i < kTop; ++i) {
        const Frame& f = set.frames[i];
        res = ct.ProcessFrame(kLinkEthernet, f.data, f.caplen, f.wirelen, 0);
      }
      std::vector<Frame> order(set.frames);
      std::mt19937 rng(7);
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<PacketResult> out(kBatch);
      double t0 = NowSec();
      for (int rep = 0; rep < 10; ++rep) {
        for (size_t i = 0; i < order.size(); i += kBatch) {
          size_t n = std::min(kBatch, order.size() - i);
          ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(&order[i], n),
                          std::span<PacketResult>(out.data(), n));
        }
      }
      times.push_back(NowSec() - t0);
      r.packets = order.size() * 10;
    }
  }
  r.ns_per_packet = Median(times) * 1e9 / static_cast<double>(r.packets);
  return r;
}

// lookup1m: 1,000,000 replied UDP connections (IPv4/IPv6 mix), then established packets of
// random connections. Also measures resident memory growth per connection.
Result RunLookup1m(const BenchOptions& o) {
  uint32_t n = o.conns ? o.conns : 1000000;
  FrameSynth fs;
  Config cfg;
  cfg.nf_conntrack_max = n + 16;
  cfg.nf_conntrack_buckets = n;
  long rss0 = RssKb();
  Conntrack ct(cfg);
  std::vector<uint8_t> a, b;
  for (uint32_t i = 0; i < n; ++i) {
    bool v6 = (i % 4) == 3;
    a = UdpFrame(fs, i, false, v6);
    b = UdpFrame(fs, i, true, v6);
    ct.ProcessFrame(kLinkEthernet, a.data(), static_cast<uint32_t>(a.size()),
                    static_cast<uint32_t>(a.size()), 0);
    ct.ProcessFrame(kLinkEthernet, b.data(), static_cast<uint32_t>(b.size()),
                    static_cast<uint32_t>(b.size()), 0);
  }
  long rss1 = RssKb();
  Result r;
  r.bytes_per_conn = static_cast<double>(rss1 - rss0) * 1024.0 / n;
  // Random-access lookups: a pool of frames of random flows.
  const uint32_t kPool = 1 << 20;
  FrameSet set;
  set.Reserve(kPool);
  std::mt19937 rng(11);
  for (uint32_t i = 0; i < kPool; ++i) {
    uint32_t f = rng() % n;
    set.Add(UdpFrame(fs, f, (i & 1) != 0, (f % 4) == 3), 0);
  }
  std::vector<double> times;
  std::vector<PacketResult> out(kBatch);
  for (int k = 0; k < o.repeat; ++k) {
    double t0 = NowSec();
    for (size_t i = 0; i < set.frames.size(); i += kBatch) {
      size_t m = std::min(kBatch, set.frames.size() - i);
      ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(&set.frames[i], m),
                      std::span<PacketResult>(out.data(), m));
    }
    times.push_back(NowSec() - t0);
  }
  r.packets = set.frames.size();
  r.ns_per_packet = Median(times) * 1e9 / static_cast<double>(r.packets);
  std::fprintf(stderr, "  table: %u entries, %.1f bytes/conn resident growth\n", ct.count(),
               r.bytes_per_conn);
  return r;
}

// new: connection setup cost, SYNs of distinct flows into an empty table.
Result RunNew(const BenchOptions& o) {
  uint32_t n = o.conns ? o.conns : 1000000;
  FrameSynth fs;
  FrameSet set;
  set.Reserve(n);
  static const uint8_t kMss[4] = {2, 4, 5, 0xb4};
  for (uint32_t i = 0; i < n; ++i) {
    FrameSynth::View v =
        fs.Tcp(V4(0x0a000000u | (i >> 4), static_cast<uint16_t>(1024 + (i & 15))),
               V4(0xc6336401u, 443), i * 7919u, 0, 0x02, 64240, kMss, 4, nullptr, 0);
    set.Add(std::vector<uint8_t>(v.data, v.data + v.len), 0);
  }
  // Steady state: the table's memory has held entries before (as in a long-running data plane,
  // where freed entries are reused); the first fill, which also pays the kernel's page zeroing,
  // is reported separately.
  std::vector<double> cold, warm;
  for (int k = 0; k < o.repeat; ++k) {
    Config cfg;
    cfg.nf_conntrack_max = n + 16;
    cfg.nf_conntrack_buckets = n;
    Conntrack ct(cfg);
    cold.push_back(Replay(ct, kLinkEthernet, set.frames));
    ct.ExpireAll(1000 * kNsPerSec);  // SYN_SENT entries time out after 120 s
    for (Frame& f : set.frames) f.ts = 1000 * kNsPerSec;
    warm.push_back(Replay(ct, kLinkEthernet, set.frames));
    for (Frame& f : set.frames) f.ts = 0;
  }
  std::fprintf(stderr, "  first fill (fresh memory) %.1f ns/connection, steady state %.1f\n",
               Median(cold) * 1e9 / n, Median(warm) * 1e9 / n);
  Result r;
  r.packets = n;
  r.ns_per_packet = Median(warm) * 1e9 / n;
  return r;
}

// flood: a SYN flood keeps a 100,000-entry table full while established UDP flows keep
// talking; reports the established packets' cost with and without the flood.
Result RunFlood(const BenchOptions& o) {
  const uint32_t kMax = 100000, kFlows = 20000;
  FrameSynth fs;
  FrameSet est, mixed;
  est.Reserve(kFlows * 2);
  for (uint32_t i = 0; i < kFlows; ++i) {
    est.Add(UdpFrame(fs, i, false), 0);
    est.Add(UdpFrame(fs, i, true), 0);
  }
  static const uint8_t kMss[4] = {2, 4, 5, 0xb4};
  std::mt19937 rng(5);
  FrameSet syn;
  syn.Reserve(kMax * 4);
  for (uint32_t i = 0; i < kMax * 4; ++i) {
    FrameSynth::View v = fs.Tcp(V4(0x64400000u | (rng() & 0x3fffff), static_cast<uint16_t>(rng())),
                                V4(0xc633640au, 443), rng(), 0, 0x02, 1024, kMss, 4, nullptr, 0);
    syn.Add(std::vector<uint8_t>(v.data, v.data + v.len), 0);
  }
  auto run = [&](bool flood) {
    Config cfg;
    cfg.nf_conntrack_max = kMax;
    cfg.nf_conntrack_buckets = kMax / 4;
    Conntrack ct(cfg);
    std::vector<PacketResult> out(kBatch);
    Replay(ct, kLinkEthernet, est.frames);  // establish (and assure after 2 s below)
    for (Frame f : est.frames) {
      f.ts = 3 * kNsPerSec;
      ct.ProcessFrame(kLinkEthernet, f.data, f.caplen, f.wirelen, f.ts);
    }
    if (flood)
      Replay(ct, kLinkEthernet, std::vector<Frame>(syn.frames.begin(), syn.frames.begin() + kMax));
    // Timed: established packets interleaved 1:1 with flood SYNs (or alone).
    double spent = 0;
    size_t si = kMax;
    for (int rep = 0; rep < 5; ++rep) {
      for (size_t i = 0; i < est.frames.size(); i += kBatch) {
        size_t m = std::min(kBatch, est.frames.size() - i);
        double t0 = NowSec();
        ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(&est.frames[i], m),
                        std::span<PacketResult>(out.data(), m));
        spent += NowSec() - t0;
        if (flood) {
          size_t k = std::min(m, syn.frames.size() - si);
          ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(&syn.frames[si], k),
                          std::span<PacketResult>(out.data(), k));
          si = si + k >= syn.frames.size() ? kMax : si + k;
        }
      }
    }
    return spent * 1e9 / (5.0 * static_cast<double>(est.frames.size()));
  };
  double base = run(false), loaded = run(true);
  std::fprintf(stderr,
               "  established: %.1f ns/packet unloaded, %.1f ns/packet under flood (%.0f%%)\n",
               base, loaded, 100.0 * base / loaded);
  Result r;
  r.ns_per_packet = loaded;
  r.packets = est.frames.size() * 5;
  (void)o;
  return r;
}

void Usage(std::FILE* f) {
  std::fprintf(f,
               "usage: ctrack bench WORKLOAD [--pcap FILE] [--threads N] [--conns N] "
               "[--repeat N]\n"
               "Workloads: w1 w2 w3 w4 lookup1m new flood\n"
               "  w1        the W1 TCP workload (or --pcap FILE), checksums verified\n"
               "  w2        one UDP flow, the same packet in batches of 32\n"
               "  w3        new UDP connections committed into a 10k-50k table\n"
               "  w4        lookups of existing UDP connections in a 50k table\n"
               "  lookup1m  random established lookups in a 1,000,000-connection table\n"
               "  new       TCP connection setup (SYN of a new flow)\n"
               "  flood     established traffic while a SYN flood keeps the table full\n");
}

}  // namespace

int BenchMain(int argc, char** argv) {
  BenchOptions o;
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    auto need = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ctrack bench: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (a == "--pcap") {
      o.pcap = need();
    } else if (a == "--threads") {
      o.threads = std::atoi(need());
    } else if (a == "--conns") {
      o.conns = static_cast<uint32_t>(std::atol(need()));
    } else if (a == "--repeat") {
      o.repeat = std::max(1, std::atoi(need()));
    } else if (o.workload.empty() && a[0] != '-') {
      o.workload = argv[i];
    } else {
      std::fprintf(stderr, "ctrack bench: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (o.workload.empty()) {
    Usage(stderr);
    return 2;
  }
  Result r;
  if (o.workload == "w1") {
    r = RunW1(o);
  } else if (o.workload == "w2") {
    r = RunW2(o);
  } else if (o.workload == "w3") {
    r = RunW3W4(o, false);
  } else if (o.workload == "w4") {
    r = RunW3W4(o, true);
  } else if (o.workload == "lookup1m") {
    r = RunLookup1m(o);
  } else if (o.workload == "new") {
    r = RunNew(o);
  } else if (o.workload == "flood") {
    r = RunFlood(o);
  } else {
    std::fprintf(stderr, "ctrack bench: unknown workload '%s'\n", o.workload.c_str());
    return 2;
  }
  std::printf("%s ns_per_packet=%.1f mpps=%.2f bytes_per_conn=%.0f peak_rss_mb=%.0f threads=%d\n",
              o.workload.c_str(), r.ns_per_packet, 1000.0 / r.ns_per_packet, r.bytes_per_conn,
              PeakRssKb() / 1024.0, o.threads);
  return 0;
}

}  // namespace ctrack::cli
