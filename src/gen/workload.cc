#include "gen/workload.h"

#include <ctrack/sharded.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <span>
#include <thread>

#include "core/prefetch.h"
#include "gen/pcap_writer.h"
#include "gen/traffic.h"
#include "io/capture.h"

namespace ctrack::bench {
namespace {

constexpr Timestamp kUs = 1000;

double NowSec() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long RssKb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * 4;
}

// Frames of an in-memory capture written by PcapWriter, read by the one capture loader.
void AddPcapFrames(const std::vector<uint8_t>& b, FrameArena* out) {
  LoadedCapture cap;
  LoadCaptureMemory(b.data(), b.size(), "generated", &cap);
  for (const Frame& f : cap.frames) out->Add(f.data, f.caplen, f.ts);
}

// A UDP datagram for flow i of a client/server population (the clients' addresses and ports
// vary, the server is one DNS address).
FrameSynth::View UdpFlow(FrameSynth& fs, uint32_t i, bool reply, bool v6 = false) {
  static const uint8_t kPayload[64] = {};
  static const uint8_t kP6a[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0};
  static const uint8_t kP6b[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0};
  Endpoint c = v6 ? V6(kP6a, i >> 4, static_cast<uint16_t>(1024 + (i & 15) * 4000))
                  : V4(0x0a000000u | (i >> 4), static_cast<uint16_t>(1024 + (i & 15) * 4000));
  Endpoint s = v6 ? V6(kP6b, 1, 53) : V4(0xc6336401u, 53);
  return reply ? fs.Udp(s, c, kPayload, 64) : fs.Udp(c, s, kPayload, 64);
}

// The SYN opening TCP flow i (distinct 5-tuples for i < 2^28).
FrameSynth::View SynFlow(FrameSynth& fs, uint32_t i) {
  static const uint8_t kMss[4] = {2, 4, 5, 0xb4};
  return fs.Tcp(V4(0x0a000000u | (i >> 4), static_cast<uint16_t>(1024 + (i & 15))),
                V4(0xc6336401u, 443), i * 7919u, 0, 0x02, 64240, kMss, 4, nullptr, 0);
}

void Add(FrameArena* a, FrameSynth::View v, Timestamp ts) { a->Add(v.data, v.len, ts); }

// Replays frames in batches; returns the results' verdict histogram into `verdicts` if non-null.
void Replay(Conntrack& ct, uint32_t linktype, std::span<const Frame> frames, size_t batch,
            uint64_t* verdicts) {
  std::vector<PacketResult> out(batch);
  for (size_t i = 0; i < frames.size(); i += batch) {
    size_t n = std::min(batch, frames.size() - i);
    ct.ProcessBatch(linktype, frames.subspan(i, n), std::span<PacketResult>(out.data(), n));
    if (verdicts) {
      for (size_t k = 0; k < n; ++k) ++verdicts[static_cast<int>(out[k].verdict) % 7];
    }
  }
}

// With CTRACK_PERF_CTL naming the control FIFO of `perf record -D -1 --control fifo:PATH`, the
// profile covers only the timed passes (docs/performance.md); without it, nothing happens.
void PerfControl(const char* command) {
  static std::FILE* ctl = [] {
    const char* path = std::getenv("CTRACK_PERF_CTL");
    if (path == nullptr) return static_cast<std::FILE*>(nullptr);
    std::FILE* f = std::fopen(path, "w");
    if (f == nullptr) std::fprintf(stderr, "ctrack bench: cannot open CTRACK_PERF_CTL %s\n", path);
    return f;
  }();
  if (ctl == nullptr) return;
  std::fprintf(ctl, "%s\n", command);
  std::fflush(ctl);
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// W1: a capture as given, else generated TCP connections.
void MakeW1(const WorkloadOptions& opt, Workload* w, const std::vector<Frame>* frames,
            uint32_t linktype) {
  if (frames != nullptr) {
    w->what = "a capture, in order";
    w->linktype = linktype;
    for (const Frame& f : *frames) w->timed.Add(f.data, f.caplen, f.ts);
  } else {
    uint32_t n = opt.conns ? opt.conns : 100000;
    w->what = "W1: " + std::to_string(n) +
              " TCP connections of 10 packets, 1000 open at a time, in capture order";
    PcapWriter pw;
    pw.OpenMemory(kLinkEthernet);
    GenerateW1(&pw, n, 1000);
    w->timed.Reserve(static_cast<size_t>(n) * 10, pw.buffer().size());
    AddPcapFrames(pw.buffer(), &w->timed);
  }
}

// W2: one UDP flow, the same datagram over and over.
void MakeW2(FrameSynth& fs, Workload* w) {
  w->what = "one UDP flow: the same datagram, batches of 32";
  Add(&w->setup, UdpFlow(fs, 1, false), 0);
  Add(&w->setup, UdpFlow(fs, 1, true), kUs);
  const uint32_t kFrames = 2048;
  for (uint32_t i = 0; i < kFrames; ++i) Add(&w->timed, UdpFlow(fs, 1, false), 2 * kUs + i * 10);
  w->passes = 3125;  // 6.4 M packets
  w->pass_dt = kFrames * 10;
}

// W3: new UDP connections into a table already holding 10,000.
void MakeW3(FrameSynth& fs, Workload* w) {
  w->what = "new UDP connections 10,000..50,000 committed into the table, in order";
  for (uint32_t i = 0; i < 10000; ++i) Add(&w->setup, UdpFlow(fs, i, false), i * kUs);
  for (uint32_t i = 10000; i < 50000; ++i) Add(&w->timed, UdpFlow(fs, i, false), i * kUs);
}

// W4: lookups of existing UDP connections in shuffled order.
void MakeW4(FrameSynth& fs, Workload* w) {
  w->what = "lookups of 50,000 existing UDP connections, shuffled order, 10 passes";
  const uint32_t kN = 50000;
  for (uint32_t i = 0; i < kN; ++i) Add(&w->setup, UdpFlow(fs, i, false), i * kUs);
  std::vector<uint32_t> order(kN);
  for (uint32_t i = 0; i < kN; ++i) order[i] = i;
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  for (uint32_t i = 0; i < kN; ++i) Add(&w->timed, UdpFlow(fs, order[i], false), (kN + i) * kUs);
  w->passes = 10;
  w->pass_dt = kN * kUs;
}

// lookup1m: random packets of a million replied UDP connections.
void MakeLookup1m(const WorkloadOptions& opt, FrameSynth& fs, Workload* w) {
  uint32_t n = opt.conns ? opt.conns : 1000000;
  w->what = std::to_string(n) +
            " replied UDP connections (1 in 4 IPv6); packets of random connections, "
            "either direction";
  w->cfg.nf_conntrack_max = n + 16;
  w->cfg.nf_conntrack_buckets = n;
  w->setup.Reserve(2 * static_cast<size_t>(n), 2 * static_cast<size_t>(n) * 120);
  Timestamp t = 0;
  for (uint32_t i = 0; i < n; ++i) {
    bool v6 = (i % 4) == 3;
    Add(&w->setup, UdpFlow(fs, i, false, v6), t += 100);
    Add(&w->setup, UdpFlow(fs, i, true, v6), t += 100);
  }
  const uint32_t kPool = 1u << 20;
  w->timed.Reserve(kPool, static_cast<size_t>(kPool) * 140);
  std::mt19937 rng(11);
  for (uint32_t i = 0; i < kPool; ++i) {
    uint32_t f = rng() % n;
    Add(&w->timed, UdpFlow(fs, f, (i & 1) != 0, (f % 4) == 3), t += 100);
  }
  w->passes = 3;
  w->pass_dt = static_cast<Timestamp>(kPool) * 100;
}

// new / new-steady: distinct SYNs into an empty table, or into one at its steady state.
void MakeNewSyns(const std::string& name, const WorkloadOptions& opt, FrameSynth& fs, Workload* w) {
  uint32_t n = opt.conns ? opt.conns : 1000000;
  w->cfg.nf_conntrack_buckets = n;
  if (name == "new") {
    w->what = "first fill: SYNs of " + std::to_string(n) +
              " distinct TCP flows into an empty table (fresh memory)";
    w->cfg.nf_conntrack_max = n + 16;
    w->timed.Reserve(n, static_cast<size_t>(n) * 80);
    for (uint32_t i = 0; i < n; ++i) Add(&w->timed, SynFlow(fs, i), i * 100);
  } else {
    // Arrivals spread over the SYN_SENT timeout: while timing, every new connection arrives
    // as an older one expires, and the GC and walkers reap them (their cost is included).
    w->what = "steady state: a table holding " + std::to_string(n) +
              " SYN_SENT entries arriving over 120 s; the next " + std::to_string(n) +
              " distinct SYNs arrive as the oldest expire";
    w->cfg.nf_conntrack_max = 2 * n;
    Timestamp gap = 120 * kNsPerSec / n;
    w->setup.Reserve(n, static_cast<size_t>(n) * 80);
    w->timed.Reserve(n, static_cast<size_t>(n) * 80);
    for (uint32_t i = 0; i < n; ++i) Add(&w->setup, SynFlow(fs, i), i * gap);
    for (uint32_t i = 0; i < n; ++i) Add(&w->timed, SynFlow(fs, n + i), (n + i) * gap);
  }
}

// Flows 0..n-1 of UdpFlow, each a request and its reply 1 us apart from `t` on, then each request
// again 3 s after the last reply: more than the 2 s after which a replied UDP flow is a stream,
// so every entry is ASSURED. Returns the time of the last packet.
Timestamp AddAssuredUdpFlows(FrameSynth& fs, uint32_t n, FrameArena* a, Timestamp t) {
  for (uint32_t i = 0; i < n; ++i) {
    Add(a, UdpFlow(fs, i, false), t += kUs);
    Add(a, UdpFlow(fs, i, true), t += kUs);
  }
  t += 3 * kNsPerSec;
  for (uint32_t i = 0; i < n; ++i) Add(a, UdpFlow(fs, i, false), t += kUs);
  return t;
}

// full-assured: distinct SYNs into a table at max whose every entry is an ASSURED UDP flow, at
// the kernel's default ratio (max = buckets). Each SYN is refused: the reap of its own bucket and
// early drop's eight buckets find nothing to take (the "table full, dropping packet" of a table
// grown full of live connections).
void MakeFullAssured(const WorkloadOptions& opt, FrameSynth& fs, Workload* w) {
  uint32_t n = opt.conns ? opt.conns : 262144;
  constexpr uint32_t kSyns = 1000000;
  w->cfg.nf_conntrack_max = n;
  w->cfg.nf_conntrack_buckets = n;
  w->what = "table full: " + std::to_string(n) +
            " ASSURED UDP flows (max = buckets = " + std::to_string(n) + "); " +
            std::to_string(kSyns) + " SYNs of new flows, every one refused";
  w->setup.Reserve(3 * static_cast<size_t>(n), static_cast<size_t>(n) * 3 * 80);
  w->timed.Reserve(kSyns, static_cast<size_t>(kSyns) * 80);
  Timestamp t = AddAssuredUdpFlows(fs, n, &w->setup, 0);
  for (uint32_t i = 0; i < kSyns; ++i) Add(&w->timed, SynFlow(fs, i), t += kUs);
}

}  // namespace

void FrameArena::Add(const uint8_t* data, uint32_t len, Timestamp ts) {
  recs_.push_back(Rec{bytes_.size(), len, ts});
  bytes_.insert(bytes_.end(), data, data + len);
}

void FrameArena::Reserve(size_t frames, size_t bytes) {
  recs_.reserve(frames);
  bytes_.reserve(bytes);
}

void FrameArena::Seal() {
  frames_.clear();
  frames_.reserve(recs_.size());
  for (const Rec& r : recs_) frames_.push_back(Frame{&bytes_[r.off], r.len, r.len, r.ts});
}

uint64_t FrameArena::Digest() const {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  };
  for (const Frame& f : frames_) {
    uint64_t ts = static_cast<uint64_t>(f.ts);
    mix(&ts, sizeof(ts));
    mix(f.data, f.caplen);
  }
  return h;
}

std::vector<std::string> WorkloadNames() {
  return {"w1", "w2", "w3", "w4", "lookup1m", "new", "new-steady", "full-assured"};
}

std::string MakeWorkload(const std::string& name, const WorkloadOptions& opt, Workload* w,
                         const std::vector<Frame>* frames, uint32_t linktype) {
  w->name = name;
  w->cfg = Config{};  // the kernel's defaults: checksums verified, max 262144
  FrameSynth fs;
  if (name == "w1") {
    MakeW1(opt, w, frames, linktype);
  } else if (name == "w2") {
    MakeW2(fs, w);
  } else if (name == "w3") {
    MakeW3(fs, w);
  } else if (name == "w4") {
    MakeW4(fs, w);
  } else if (name == "lookup1m") {
    MakeLookup1m(opt, fs, w);
  } else if (name == "new" || name == "new-steady") {
    MakeNewSyns(name, opt, fs, w);
  } else if (name == "full-assured") {
    MakeFullAssured(opt, fs, w);
  } else {
    return "unknown workload '" + name + "'";
  }
  w->setup.Seal();
  w->timed.Seal();
  return "";
}

RunResult RunWorkload(const Workload& w) {
  RunResult r;
  std::vector<Frame> cur(w.timed.frames());
  long rss0 = RssKb();
  {
    Conntrack ct(w.cfg);
    Replay(ct, w.linktype, w.setup.frames(), w.batch, nullptr);
    r.peak_entries = ct.count();
    std::vector<PacketResult> out(w.batch);
    for (uint32_t p = 0; p < w.passes; ++p) {
      if (p > 0) {
        for (Frame& f : cur) f.ts += w.pass_dt;
      }
      PerfControl("enable");
      double t0 = NowSec();
      Replay(ct, w.linktype, cur, w.batch, r.verdicts);
      r.timed_s += NowSec() - t0;
      PerfControl("disable");
      r.peak_entries = std::max(r.peak_entries, ct.count());
    }
    r.packets = static_cast<uint64_t>(cur.size()) * w.passes;
    r.entries = ct.count();
    r.table_bytes = ct.memory_bytes();
    r.rss_growth_kb = RssKb() - rss0;
  }
  return r;
}

std::string ExportWorkload(const Workload& w, const std::string& dir) {
  auto write = [&](const FrameArena& a, const std::string& path) -> std::string {
    PcapWriter pw;
    std::string err = pw.Open(path, w.linktype, /*nanosecond=*/true);
    if (!err.empty()) return err;
    for (const Frame& f : a.frames()) pw.Write(f.ts, f.data, f.caplen);
    return pw.Close();
  };
  std::string base = dir + "/" + w.name;
  if (std::string e = write(w.setup, base + ".setup.pcap"); !e.empty()) return e;
  if (std::string e = write(w.timed, base + ".timed.pcap"); !e.empty()) return e;
  std::FILE* m = std::fopen((base + ".meta").c_str(), "w");
  if (m == nullptr) return "cannot write " + base + ".meta";
  std::fprintf(m,
               "name=%s\npasses=%u\npass_dt_ns=%lld\nbatch=%zu\nmax=%u\nbuckets=%u\n"
               "setup_frames=%zu\ntimed_frames=%zu\nsetup_digest=%016llx\ntimed_digest=%016llx\n"
               "what=%s\n",
               w.name.c_str(), w.passes, static_cast<long long>(w.pass_dt), w.batch,
               w.cfg.nf_conntrack_max, w.cfg.nf_conntrack_buckets, w.setup.size(), w.timed.size(),
               static_cast<unsigned long long>(w.setup.Digest()),
               static_cast<unsigned long long>(w.timed.Digest()), w.what.c_str());
  return std::fclose(m) == 0 ? "" : "cannot write " + base + ".meta";
}

namespace {

// Each thread prefetches the header of the frame this many ahead of the one it filters.
constexpr size_t kFilterAhead = 8;
// A thread's own frames are read whole (the checksums) a batch after the filter picks them,
// and, with every other frame skipped, not as a stream the hardware prefetcher would follow:
// the filter prefetches up to this many lines of each it keeps.
constexpr size_t kFilterLines = 24;

// The CPUs this process may run on, in order.
std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

// Thread t runs on the t-th allowed CPU (modulo their number), as a data plane gives each
// shard a core, so that the scheduler cannot move a worker onto the other's CPU. A failure
// leaves the thread unpinned.
void PinToCpu(const std::vector<int>& cpus, unsigned t) {
  if (cpus.size() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[t % cpus.size()], &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

}  // namespace

// W1 on `threads` shards, one thread each, the split included. Every thread reads the whole
// capture, as cores reading one shared ring would: it picks its own frames by
// ShardedConntrack::ShardOf(frame), which for most frames reads only the link header and the
// addresses, and tracks them in batches, in capture order, with ProcessBatch, which decodes them
// once. Nothing passes between the threads, so neither waits for the other. An earlier design
// decoded each frame once, on either thread, and handed the decode to its shard's thread through
// a ring of chunks; it was no faster (docs/performance.md) and a slow thread held the other back
// whenever the ring was full.
double RunSharded(const Workload& w1, ShardedConntrack& sh, std::vector<uint64_t>* counts) {
  const unsigned threads = sh.shards();
  const std::vector<Frame>& frames = w1.timed.frames();
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> ends(threads);
  counts->assign(threads, 0);
  const std::vector<int> allowed = AllowedCpus();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<Frame> mine;
      mine.reserve(w1.batch);
      std::vector<PacketResult> out(w1.batch);
      Conntrack& ct = sh.shard(t);
      PinToCpu(allowed, t);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      uint64_t total = 0;
      auto flush = [&] {
        ct.ProcessBatch(w1.linktype, mine, std::span<PacketResult>(out.data(), mine.size()));
        total += mine.size();
        mine.clear();
      };
      for (size_t i = 0; i < frames.size(); ++i) {
        // The capture's bytes are cold; the filter starts with a load from them.
        if (i + kFilterAhead < frames.size()) PrefetchLine(frames[i + kFilterAhead].data);
        const Frame& f = frames[i];
        if (sh.ShardOf(w1.linktype, f.data, f.caplen) != t) continue;
        PrefetchRestOf(f.data, f.caplen, kFilterLines);
        mine.push_back(f);
        if (mine.size() == w1.batch) flush();
      }
      if (!mine.empty()) flush();
      ends[t] = NowSec();
      (*counts)[t] = total;
    });
  }
  while (ready.load() < threads) {
  }
  const double t0 = NowSec();
  go.store(true, std::memory_order_release);
  for (std::thread& th : pool) th.join();
  return *std::max_element(ends.begin(), ends.end()) - t0;
}

ThreadsResult RunThreads(const Workload& w1, unsigned threads, int repeat) {
  ThreadsResult r;
  const std::vector<Frame>& frames = w1.timed.frames();
  r.packets = frames.size();
  for (int k = 0; k < repeat; ++k) {
    {
      Conntrack one(w1.cfg);
      double t0 = NowSec();
      Replay(one, w1.linktype, frames, w1.batch, nullptr);
      r.single_s.push_back(NowSec() - t0);
    }
    {
      // The split's work alone, on one thread: choosing every frame's shard, which each thread
      // does for the whole capture.
      ShardedConntrack probe(w1.cfg, threads);
      uint64_t sink = 0;
      double t0 = NowSec();
      for (size_t i = 0; i < frames.size(); ++i) {
        if (i + kFilterAhead < frames.size()) PrefetchLine(frames[i + kFilterAhead].data);
        sink += probe.ShardOf(w1.linktype, frames[i].data, frames[i].caplen);
      }
      r.split_s.push_back(NowSec() - t0);
      if (sink == ~0ull) std::fputs("", stderr);  // keeps the loop
    }
    ShardedConntrack sh(w1.cfg, threads);
    r.multi_s.push_back(RunSharded(w1, sh, &r.shard_packets));
    r.entries = sh.count();
    r.table_bytes = 0;
    for (unsigned t = 0; t < threads; ++t) r.table_bytes += sh.shard(t).memory_bytes();
  }
  return r;
}

namespace {

// The flood benchmark's table limit, its established flows, the rounds over their packets and
// the batch size.
constexpr uint32_t kFloodMax = 100000, kFloodFlows = 20000, kFloodReps = 5;
constexpr size_t kFloodBatch = 32;

// One attack SYN from a random source in 100.64.0.0/10 to 198.51.100.10:443.
void AddAttackSyn(FrameSynth& fs, std::mt19937& rng, FrameArena* a, Timestamp ts) {
  static const uint8_t kMss[4] = {2, 4, 5, 0xb4};
  FrameSynth::View v = fs.Tcp(V4(0x64400000u | (rng() & 0x3fffff), static_cast<uint16_t>(rng())),
                              V4(0xc633640au, 443), rng(), 0, 0x02, 1024, kMss, 4, nullptr, 0);
  a->Add(v.data, v.len, ts);
}

// Setup: the flows talk both ways, then again after 2 s (UDP becomes ASSURED), then the flood
// fills the table. Returns the time of its last packet.
Timestamp BuildFloodSetup(FrameSynth& fs, std::mt19937& rng, FrameArena* setup) {
  setup->Reserve(3 * kFloodFlows + kFloodMax, (3 * kFloodFlows + kFloodMax) * 110);
  Timestamp t = AddAssuredUdpFlows(fs, kFloodFlows, setup, 0);
  for (uint32_t i = 0; i < kFloodMax; ++i) AddAttackSyn(fs, rng, setup, t += kUs);
  setup->Seal();
  return t;
}

// Timed: kFloodReps rounds over the flows' packets (both directions), each batch of 32 followed
// by 32 attack SYNs; one packet per microsecond of virtual time from t on.
void BuildFloodTimed(FrameSynth& fs, std::mt19937& rng, Timestamp t, FrameArena* est,
                     FrameArena* syn) {
  est->Reserve(2 * kFloodFlows * kFloodReps, 2 * kFloodFlows * kFloodReps * 110);
  syn->Reserve(2 * kFloodFlows * kFloodReps, 2 * kFloodFlows * kFloodReps * 80);
  for (uint32_t rep = 0; rep < kFloodReps; ++rep) {
    for (uint32_t i = 0; i < 2 * kFloodFlows; i += kFloodBatch) {
      for (uint32_t k = i; k < i + kFloodBatch && k < 2 * kFloodFlows; ++k) {
        Add(est, UdpFlow(fs, k / 2, (k & 1) != 0), t += kUs);
      }
      for (size_t k = 0; k < kFloodBatch; ++k) AddAttackSyn(fs, rng, syn, t += kUs);
    }
  }
  est->Seal();
  syn->Seal();
}

}  // namespace

FloodResult RunFlood(int repeat) {
  const size_t kB = kFloodBatch;
  FrameSynth fs;
  Config cfg;
  cfg.nf_conntrack_max = kFloodMax;
  cfg.nf_conntrack_buckets = kFloodMax / 4;
  std::mt19937 rng(5);
  FrameArena setup, est, syn;
  Timestamp t = BuildFloodSetup(fs, rng, &setup);
  BuildFloodTimed(fs, rng, t, &est, &syn);
  const std::vector<Frame>& ef = est.frames();
  const std::vector<Frame>& sf = syn.frames();
  FloodResult res;
  std::vector<double> unloaded, loaded, syn_t, mix;
  std::vector<PacketResult> out(kB);
  for (int k = 0; k < repeat; ++k) {
    for (int flood = 0; flood < 2; ++flood) {
      Conntrack ct(cfg);
      // Unloaded: the table holds only the flows (the flood part of the setup is left out).
      Replay(ct, kLinkEthernet,
             std::span<const Frame>(setup.frames()).first(flood ? setup.size() : 3 * kFloodFlows),
             kB, nullptr);
      uint64_t drops0 = ct.stats().drop, ed0 = ct.stats().early_drop;
      double est_s = 0, syn_s = 0;
      uint64_t bad = 0;
      for (size_t i = 0, j = 0; i < ef.size(); i += kB, j += kB) {
        size_t m = std::min(kB, ef.size() - i);
        double t0 = NowSec();
        ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(&ef[i], m),
                        std::span<PacketResult>(out.data(), m));
        double t1 = NowSec();
        est_s += t1 - t0;
        for (size_t q = 0; q < m; ++q) bad += out[q].verdict != Verdict::kEstablished;
        if (flood) {
          ct.ProcessBatch(kLinkEthernet, std::span<const Frame>(&sf[j], kB),
                          std::span<PacketResult>(out.data(), kB));
          syn_s += NowSec() - t1;
        }
      }
      if (flood) {
        loaded.push_back(est_s * 1e9 / static_cast<double>(ef.size()));
        syn_t.push_back(syn_s * 1e9 / static_cast<double>(sf.size()));
        mix.push_back((est_s + syn_s) * 1e9 / static_cast<double>(ef.size() + sf.size()));
        res.early_drops = ct.stats().early_drop - ed0;
        res.drops = ct.stats().drop - drops0;
        res.entries = ct.count();
        res.table_bytes = ct.memory_bytes();
        res.est_not_established = bad;
      } else {
        unloaded.push_back(est_s * 1e9 / static_cast<double>(ef.size()));
      }
    }
  }
  res.est_unloaded_ns = Median(unloaded);
  res.est_loaded_ns = Median(loaded);
  res.syn_ns = Median(syn_t);
  res.mix_ns = Median(mix);
  res.est_packets = ef.size();
  res.syn_packets = sf.size();
  return res;
}

}  // namespace ctrack::bench
