#include "gen/traffic.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace ctrack {
namespace {

constexpr uint8_t kMacClient[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint8_t kMacServer[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

uint32_t SumWords(const uint8_t* p, uint32_t n, uint32_t sum = 0) {
  for (uint32_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}

uint16_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

// xoshiro256** seeded through splitmix64: fast, deterministic across platforms.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& w : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      w = z ^ (z >> 31);
    }
  }
  uint64_t Next() {
    uint64_t r = Rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return r;
  }
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>((Next() >> 32) * n >> 32); }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// A frame due at a time; scenarios collect these and emit them sorted by time.
struct Pending {
  Timestamp ts;
  uint64_t seq;  // tie-break: generation order
  std::vector<uint8_t> bytes;
};

class Timeline {
 public:
  void Add(Timestamp ts, FrameSynth::View v) {
    frames_.push_back(Pending{ts, seq_++, std::vector<uint8_t>(v.data, v.data + v.len)});
  }
  void Emit(PcapWriter* w) {
    std::sort(frames_.begin(), frames_.end(), [](const Pending& a, const Pending& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq;
    });
    for (const Pending& p : frames_) {
      w->Write(p.ts, p.bytes.data(), static_cast<uint32_t>(p.bytes.size()));
    }
    frames_.clear();
  }

 private:
  std::vector<Pending> frames_;
  uint64_t seq_ = 0;
};

Timestamp Sec(double s) { return static_cast<Timestamp>(s * 1e9); }

// One TCP conversation between a client and a server, with consistent sequence numbers.
class TcpConv {
 public:
  TcpConv(FrameSynth* fs, Timeline* tl, Endpoint c, Endpoint s, uint32_t cisn, uint32_t sisn)
      : fs_(fs), tl_(tl), c_(c), s_(s), cseq_(cisn), sseq_(sisn) {}

  void Syn(Timestamp t) { Send(t, true, kSyn, 0, true); }
  void SynAck(Timestamp t) { Send(t, false, kSyn | kAck, 0, true); }
  void Ack(Timestamp t, bool from_client) { Send(t, from_client, kAck, 0, false); }
  void Data(Timestamp t, bool from_client, uint32_t n) {
    Send(t, from_client, kPsh | kAck, n, false);
  }
  void Fin(Timestamp t, bool from_client) { Send(t, from_client, kFin | kAck, 0, false); }
  void Rst(Timestamp t, bool from_client) { Send(t, from_client, kRst | kAck, 0, false); }
  // A full short-lived exchange starting at t: handshake, request, response, close.
  Timestamp Full(Timestamp t, uint32_t req, uint32_t rsp, Timestamp rtt) {
    Syn(t);
    SynAck(t += rtt / 2);
    Ack(t += rtt / 2, true);
    Data(t += 1000, true, req);
    Ack(t += rtt / 2, false);
    Data(t += 1000, false, rsp);
    Ack(t += rtt / 2, true);
    Fin(t += 1000, true);
    Fin(t += rtt / 2, false);
    Ack(t += rtt / 2, true);
    return t;
  }

 private:
  void Send(Timestamp t, bool from_client, uint8_t flags, uint32_t plen, bool syn_opts) {
    static const uint8_t kSynOpts[12] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0};
    static const uint8_t kPayload[1460] = {};
    plen = std::min<uint32_t>(plen, sizeof(kPayload));
    uint32_t& my = from_client ? cseq_ : sseq_;
    uint32_t peer = from_client ? sseq_ : cseq_;
    bool ack = flags & kAck;
    FrameSynth::View v = fs_->Tcp(from_client ? c_ : s_, from_client ? s_ : c_, my, ack ? peer : 0,
                                  flags, syn_opts ? 64240 : 502, syn_opts ? kSynOpts : nullptr,
                                  syn_opts ? 12 : 0, kPayload, plen);
    tl_->Add(t, v);
    my += plen + ((flags & (kSyn | kFin)) ? 1 : 0);
  }

  FrameSynth* fs_;
  Timeline* tl_;
  Endpoint c_, s_;
  uint32_t cseq_, sseq_;
};

Endpoint ClientAddr(Rng& rng, bool v6, uint32_t i) {
  if (v6) {
    static const uint8_t kPrefix[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0, 0};
    return V6(kPrefix, 0x1000 + (i % 4096), static_cast<uint16_t>(32768 + rng.Below(28000)));
  }
  return V4(0x0a000000u | (1u << 16) | (i % 4096 + 2),
            static_cast<uint16_t>(32768 + rng.Below(28000)));
}

Endpoint ServerAddr(Rng& rng, bool v6, uint16_t port) {
  if (v6) {
    static const uint8_t kPrefix[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0, 0};
    return V6(kPrefix, 0x10 + rng.Below(8), port);
  }
  return V4(0xc6336400u | (10 + rng.Below(8)), port);  // 198.51.100.10-17
}

// Background: complete web connections and DNS lookups at `rate` connections per second.
void WebMix(Rng& rng, FrameSynth& fs, Timeline& tl, const GenOptions& opt, uint32_t conns,
            double duration) {
  for (uint32_t i = 0; i < conns; ++i) {
    Timestamp t = opt.start + Sec(rng.Unit() * duration);
    bool v6 = rng.Unit() < opt.ipv6_share;
    Endpoint c = ClientAddr(rng, v6, i);
    // DNS lookup first (UDP 53), answered.
    Endpoint dns = v6 ? ServerAddr(rng, true, 53) : V4(0xc6336435u, 53);  // 198.51.100.53
    static const uint8_t kQuery[40] = {};
    static const uint8_t kAnswer[120] = {};
    tl.Add(t, fs.Udp(c, dns, kQuery, sizeof(kQuery)));
    tl.Add(t + Sec(0.004), fs.Udp(dns, c, kAnswer, sizeof(kAnswer)));
    Endpoint cc = c;
    cc.port = static_cast<uint16_t>(c.port + 1);
    Endpoint s = ServerAddr(rng, v6, rng.Below(3) ? 443 : 80);
    TcpConv conv(&fs, &tl, cc, s, static_cast<uint32_t>(rng.Next()),
                 static_cast<uint32_t>(rng.Next()));
    conv.Full(t + Sec(0.01), 200 + rng.Below(800), 500 + rng.Below(1400), Sec(0.02));
  }
}

// synflood / udpflood: the web mix plus a flood from spoofed sources over the middle half.
void FloodScenario(const std::string& name, Rng& rng, FrameSynth& fs, Timeline& tl,
                   const GenOptions& opt, double duration) {
  WebMix(rng, fs, tl, opt, opt.conns ? opt.conns : 1000, duration);
  double rate = opt.rate > 0 ? opt.rate : 2000;  // flood packets per second
  double flood_start = duration / 4, flood_len = duration / 2;
  uint64_t n = static_cast<uint64_t>(rate * flood_len);
  Endpoint victim = V4(0xc633640au, name == "synflood" ? 443 : 53);  // 198.51.100.10
  static const uint8_t kJunk[64] = {};
  for (uint64_t i = 0; i < n; ++i) {
    Timestamp t =
        opt.start + Sec(flood_start + flood_len * static_cast<double>(i) / static_cast<double>(n));
    // Spoofed sources spread over 203.0.113.0/24 and 100.64.0.0/10.
    uint32_t src =
        rng.Below(4) == 0 ? (0xcb007100u | rng.Below(256)) : (0x64400000u | rng.Below(1u << 22));
    Endpoint s = V4(src, static_cast<uint16_t>(1024 + rng.Below(64000)));
    if (name == "synflood") {
      TcpConv conv(&fs, &tl, s, victim, static_cast<uint32_t>(rng.Next()), 0);
      conv.Syn(t);
    } else {
      tl.Add(t, fs.Udp(s, victim, kJunk, sizeof(kJunk)));
    }
  }
}

// dns: bursts of queries from many ports, a tenth unanswered.
void DnsScenario(Rng& rng, FrameSynth& fs, Timeline& tl, const GenOptions& opt, double duration) {
  uint32_t bursts = opt.conns ? opt.conns : 20;
  Endpoint server = V4(0xc6336435u, 53);
  static const uint8_t kQuery[40] = {};
  static const uint8_t kAnswer[200] = {};
  for (uint32_t b = 0; b < bursts; ++b) {
    Timestamp t0 = opt.start + Sec(duration * b / bursts);
    uint32_t per = 500 + rng.Below(1500);
    for (uint32_t q = 0; q < per; ++q) {
      Endpoint c =
          V4(0x0a010000u | (2 + rng.Below(200)), static_cast<uint16_t>(1024 + rng.Below(64000)));
      Timestamp t = t0 + Sec(rng.Unit() * 0.5);
      tl.Add(t, fs.Udp(c, server, kQuery, sizeof(kQuery)));
      if (rng.Below(10) != 0) tl.Add(t + Sec(0.002), fs.Udp(server, c, kAnswer, sizeof(kAnswer)));
    }
  }
}

// portscan: one host SYN-scanning ports; one in 50 is open.
void PortscanScenario(Rng& rng, FrameSynth& fs, Timeline& tl, const GenOptions& opt) {
  Endpoint scanner = V4(0xcb007107u, 40000);  // 203.0.113.7
  uint32_t ports = opt.conns ? opt.conns : 10000;
  double rate = opt.rate > 0 ? opt.rate : 1000;
  for (uint32_t p = 0; p < ports; ++p) {
    Timestamp t = opt.start + Sec(p / rate);
    Endpoint target = V4(0xc633640au, static_cast<uint16_t>(1 + p % 65535));
    TcpConv conv(&fs, &tl, scanner, target, static_cast<uint32_t>(rng.Next()),
                 static_cast<uint32_t>(rng.Next()));
    conv.Syn(t);
    if (p % 50 == 22) {  // an open port: SYN/ACK, then the scanner resets
      conv.SynAck(t + Sec(0.001));
      conv.Rst(t + Sec(0.002), true);
    } else {
      conv.Rst(t + Sec(0.001), false);
    }
  }
}

// flaky: orphaned ESTABLISHED connections (their RSTs lost) and an unanswered UDP keepalive.
void FlakyScenario(Rng& rng, FrameSynth& fs, Timeline& tl, const GenOptions& opt, double duration) {
  // Long enough by default that the orphans are idle for minutes and the unanswered keepalive
  // outlives several UDP timeouts: what the stale detection looks for.
  if (opt.duration_s <= 0) duration = 300;
  WebMix(rng, fs, tl, opt, (opt.conns ? opt.conns : 1000) / 2, duration);
  uint32_t n = (opt.conns ? opt.conns : 1000) / 2;
  for (uint32_t i = 0; i < n; ++i) {
    // Within the first half, so every orphan has been idle for at least half the capture.
    Timestamp t = opt.start + Sec(rng.Unit() * duration * 0.5);
    Endpoint c = ClientAddr(rng, false, i + 7);
    Endpoint s = ServerAddr(rng, false, 8443);
    TcpConv conv(&fs, &tl, c, s, static_cast<uint32_t>(rng.Next()),
                 static_cast<uint32_t>(rng.Next()));
    conv.Syn(t);
    conv.SynAck(t += Sec(0.02));
    conv.Ack(t += Sec(0.02), true);
    conv.Data(t += Sec(0.001), true, 300);
    conv.Ack(t += Sec(0.02), false);
    // The hosts then abort with RSTs that the lossy link drops: none reaches the firewall,
    // except for a tenth of the connections where only the client's RST gets through late.
    if (i % 10 == 0) conv.Rst(t + Sec(5), false);
  }
  // A UDP "keepalive" that is never answered but refreshed forever.
  static const uint8_t kPing[16] = {};
  Endpoint c = V4(0x0a0100feu, 5000), s = V4(0xc6336463u, 5000);
  for (double x = 0; x <= duration; x += 20) tl.Add(opt.start + Sec(x), fs.Udp(c, s, kPing, 16));
}

}  // namespace

Endpoint V4(uint32_t a, uint16_t port) {
  Endpoint e;
  Put32(e.addr, a);
  e.port = port;
  return e;
}

Endpoint V6(const uint8_t (&prefix)[8], uint64_t iid, uint16_t port) {
  Endpoint e;
  e.v6 = true;
  std::memcpy(e.addr, prefix, 8);
  Put32(e.addr + 8, static_cast<uint32_t>(iid >> 32));
  Put32(e.addr + 12, static_cast<uint32_t>(iid));
  e.port = port;
  return e;
}

FrameSynth::View FrameSynth::Finish(const Endpoint& src, const Endpoint& dst, uint8_t proto,
                                    uint32_t l4len, int csum_off) {
  uint8_t* f = buf_.data();
  uint32_t l3 = 14;
  uint8_t* ip = f + l3;
  uint8_t* l4 = ip + (src.v6 ? 40 : 20);
  std::memcpy(f, c2s_ ? kMacServer : kMacClient, 6);
  std::memcpy(f + 6, c2s_ ? kMacClient : kMacServer, 6);
  uint32_t pseudo;
  if (!src.v6) {
    f[12] = 0x08;
    f[13] = 0x00;
    ip[0] = 0x45;
    ip[1] = 0;
    Put16(ip + 2, static_cast<uint16_t>(20 + l4len));
    Put16(ip + 4, ++ip_id_);
    Put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = proto;
    Put16(ip + 10, 0);
    std::memcpy(ip + 12, src.addr, 4);
    std::memcpy(ip + 16, dst.addr, 4);
    Put16(ip + 10, static_cast<uint16_t>(~Fold(SumWords(ip, 20)) & 0xffff));
    pseudo = SumWords(ip + 12, 8) + proto + l4len;
  } else {
    f[12] = 0x86;
    f[13] = 0xdd;
    Put32(ip, 0x60000000u);
    Put16(ip + 4, static_cast<uint16_t>(l4len));
    ip[6] = proto;
    ip[7] = 64;
    std::memcpy(ip + 8, src.addr, 16);
    std::memcpy(ip + 24, dst.addr, 16);
    pseudo = SumWords(ip + 8, 32) + proto + l4len;
  }
  if (proto == kProtoIcmp) pseudo = 0;  // ICMPv4 has no pseudo-header
  Put16(l4 + csum_off, 0);
  uint16_t cs = static_cast<uint16_t>(~Fold(SumWords(l4, l4len, pseudo)) & 0xffff);
  if (proto == kProtoUdp && cs == 0) cs = 0xffff;
  Put16(l4 + csum_off, cs);
  uint32_t total = static_cast<uint32_t>(l4 - f) + l4len;
  return View{f, total};
}

FrameSynth::View FrameSynth::Tcp(const Endpoint& src, const Endpoint& dst, uint32_t seq,
                                 uint32_t ack, uint8_t flags, uint16_t win, const uint8_t* opts,
                                 uint32_t optlen, const uint8_t* payload, uint32_t plen) {
  uint32_t iphl = src.v6 ? 40 : 20;
  uint32_t thl = 20 + ((optlen + 3) & ~3u);
  buf_.assign(14 + iphl + thl + plen, 0);
  uint8_t* t = buf_.data() + 14 + iphl;
  Put16(t, src.port);
  Put16(t + 2, dst.port);
  Put32(t + 4, seq);
  Put32(t + 8, ack);
  t[12] = static_cast<uint8_t>((thl / 4) << 4);
  t[13] = flags;
  Put16(t + 14, win);
  if (optlen) std::memcpy(t + 20, opts, optlen);
  if (plen) std::memcpy(t + thl, payload, plen);
  return Finish(src, dst, kProtoTcp, thl + plen, 16);
}

FrameSynth::View FrameSynth::Udp(const Endpoint& src, const Endpoint& dst, const uint8_t* payload,
                                 uint32_t plen) {
  uint32_t iphl = src.v6 ? 40 : 20;
  buf_.assign(14 + iphl + 8 + plen, 0);
  uint8_t* u = buf_.data() + 14 + iphl;
  Put16(u, src.port);
  Put16(u + 2, dst.port);
  Put16(u + 4, static_cast<uint16_t>(8 + plen));
  if (plen) std::memcpy(u + 8, payload, plen);
  return Finish(src, dst, kProtoUdp, 8 + plen, 6);
}

FrameSynth::View FrameSynth::Echo(const Endpoint& src, const Endpoint& dst, bool reply, uint16_t id,
                                  uint16_t seq) {
  uint32_t iphl = src.v6 ? 40 : 20;
  buf_.assign(14 + iphl + 8 + 32, 0);
  uint8_t* m = buf_.data() + 14 + iphl;
  m[0] = src.v6 ? (reply ? 129 : 128) : (reply ? 0 : 8);
  Put16(m + 4, id);
  Put16(m + 6, seq);
  return Finish(src, dst, src.v6 ? kProtoIcmpv6 : kProtoIcmp, 40, 2);
}

FrameSynth::View FrameSynth::PortUnreachable(const Endpoint& src, const Endpoint& dst,
                                             const uint8_t* quoted, uint32_t qlen) {
  buf_.assign(14 + 20 + 8 + qlen, 0);
  uint8_t* m = buf_.data() + 34;
  m[0] = 3;
  m[1] = 3;
  std::memcpy(m + 8, quoted, qlen);
  return Finish(src, dst, kProtoIcmp, 8 + qlen, 2);
}

std::vector<std::string> ScenarioNames() {
  return {"web", "synflood", "udpflood", "dns", "portscan", "flaky", "w1"};
}

const char* ScenarioHelp(const std::string& name) {
  if (name == "web") return "normal mix: DNS lookups and short HTTP(S) connections, some IPv6";
  if (name == "synflood") return "web mix plus a SYN flood from spoofed sources";
  if (name == "udpflood") return "web mix plus a one-way UDP flood from spoofed sources";
  if (name == "dns") return "bursts of DNS queries from many ports, some unanswered";
  if (name == "portscan") return "one host SYN-scanning many ports; closed ports answer RST";
  if (name == "flaky") {
    return "connections whose RSTs are lost (orphaned ESTABLISHED entries) and an unanswered UDP "
           "keepalive (300 s by default)";
  }
  if (name == "w1") return "the reference TCP benchmark workload (100,000 x 10 packets)";
  return nullptr;
}

std::string GenerateScenario(const std::string& name, const GenOptions& opt, PcapWriter* w) {
  Rng rng(opt.seed);
  FrameSynth fs;
  Timeline tl;
  double duration = opt.duration_s > 0 ? opt.duration_s : 60;
  if (name == "w1") {
    GenerateW1(w, opt.conns ? opt.conns : 100000,
               opt.rate > 0 ? static_cast<uint32_t>(opt.rate) : 1000);
    return "";
  }
  if (name == "web") {
    WebMix(rng, fs, tl, opt, opt.conns ? opt.conns : 2000, duration);
  } else if (name == "synflood" || name == "udpflood") {
    FloodScenario(name, rng, fs, tl, opt, duration);
  } else if (name == "dns") {
    DnsScenario(rng, fs, tl, opt, duration);
  } else if (name == "portscan") {
    PortscanScenario(rng, fs, tl, opt);
  } else if (name == "flaky") {
    FlakyScenario(rng, fs, tl, opt, duration);
  } else {
    return "unknown scenario '" + name + "'";
  }
  tl.Emit(w);
  return "";
}

namespace {

// One W1 connection: client and server endpoints and initial sequence numbers.
struct W1Conn {
  Endpoint c, s;
  uint32_t ci, si;
};

W1Conn W1ConnOf(uint32_t i) {
  W1Conn p;
  p.c = V4(0x0a000000u | ((1 + (i >> 16)) & 0xff) << 16 | ((i >> 8) & 0xff) << 8 | (i & 0xff),
           static_cast<uint16_t>(1024 + i % 60000));
  p.s = V4(0xac100000u | (1 + i % 16), 80);
  p.ci = static_cast<uint32_t>(static_cast<uint64_t>(i) * 2654435761u + 12345);
  p.si = static_cast<uint32_t>(static_cast<uint64_t>(i) * 40503u * 65599u + 777);
  return p;
}

// Packet k (0..9) of a W1 connection: handshake, request, its ACK, response, ACK, FIN both
// ways, last ACK.
struct W1Segment {
  bool from_c = true;
  uint32_t seq = 0, ack = 0, plen = 0;
  uint8_t fl = 0;
  const uint8_t* pay = nullptr;
  const uint8_t* opts = nullptr;
};

W1Segment W1SegmentOf(int k, const W1Conn& p, const uint8_t* req, uint32_t req_len,
                      const uint8_t* rsp, uint32_t rsp_len) {
  static const uint8_t kMss[4] = {2, 4, 0x05, 0xb4};
  uint32_t c = p.ci, s = p.si;
  W1Segment g;
  switch (k) {
    case 0:
      g.seq = c;
      g.fl = kSyn;
      g.opts = kMss;
      break;
    case 1:
      g.from_c = false;
      g.seq = s;
      g.ack = c + 1;
      g.fl = kSyn | kAck;
      g.opts = kMss;
      break;
    case 2:
      g.seq = c + 1;
      g.ack = s + 1;
      g.fl = kAck;
      break;
    case 3:
      g.seq = c + 1;
      g.ack = s + 1;
      g.fl = kPsh | kAck;
      g.plen = req_len;
      g.pay = req;
      break;
    case 4:
      g.from_c = false;
      g.seq = s + 1;
      g.ack = c + 1 + req_len;
      g.fl = kAck;
      break;
    case 5:
      g.from_c = false;
      g.seq = s + 1;
      g.ack = c + 1 + req_len;
      g.fl = kPsh | kAck;
      g.plen = rsp_len;
      g.pay = rsp;
      break;
    case 6:
      g.seq = c + 1 + req_len;
      g.ack = s + 1 + rsp_len;
      g.fl = kAck;
      break;
    case 7:
      g.seq = c + 1 + req_len;
      g.ack = s + 1 + rsp_len;
      g.fl = kFin | kAck;
      break;
    case 8:
      g.from_c = false;
      g.seq = s + 1 + rsp_len;
      g.ack = c + 2 + req_len;
      g.fl = kFin | kAck;
      break;
    default:
      g.seq = c + 2 + req_len;
      g.ack = s + 2 + rsp_len;
      g.fl = kAck;
      break;
  }
  return g;
}

}  // namespace

void GenerateW1(PcapWriter* w, uint32_t n_conns, uint32_t window, uint32_t req_len,
                uint32_t rsp_len) {
  // Mirrors ../shared/bench/gen_tcp_pcap.py exactly (its header documents the workload).
  static const char kReqLine[] = "GET /index.html HTTP/1.1\r\nHost: example\r\n";
  std::vector<uint8_t> req(req_len), rsp(rsp_len);
  for (uint32_t i = 0; i < req_len; ++i) req[i] = static_cast<uint8_t>(kReqLine[i % 41]);
  for (uint32_t i = 0; i < rsp_len; ++i) rsp[i] = static_cast<uint8_t>((i * 7 + 3) & 0xff);
  FrameSynth fs;
  Timestamp ts = 1700000000LL * kNsPerSec;
  std::vector<W1Conn> group;
  if (window == 0) window = 1;
  for (uint32_t g = 0; g < n_conns; g += window) {
    group.clear();
    for (uint32_t i = g; i < std::min(g + window, n_conns); ++i) group.push_back(W1ConnOf(i));
    for (int k = 0; k < 10; ++k) {
      for (const W1Conn& p : group) {
        W1Segment x = W1SegmentOf(k, p, req.data(), req_len, rsp.data(), rsp_len);
        fs.set_client_mac_for(x.from_c);
        FrameSynth::View v = fs.Tcp(x.from_c ? p.c : p.s, x.from_c ? p.s : p.c, x.seq, x.ack, x.fl,
                                    65535, x.opts, x.opts ? 4 : 0, x.pay, x.plen);
        w->Write(ts, v.data, v.len);
        ts += 10000;  // 10 us per packet
      }
    }
  }
}

namespace {

// Rewrites an Ethernet + IPv4 frame into a first fragment (MF set, offset 0) with a new IP id and
// a fixed header checksum: the defragmenter queues it and never sees the rest.
void MakeFirstFragment(uint8_t* frame, uint16_t id) {
  uint8_t* ip = frame + 14;
  ip[4] = static_cast<uint8_t>(id >> 8);
  ip[5] = static_cast<uint8_t>(id);
  ip[6] = 0x20;  // MF
  ip[7] = 0;
  ip[10] = ip[11] = 0;
  uint32_t sum = 0;
  const uint32_t ihl = (ip[0] & 0x0fu) * 4;
  for (uint32_t i = 0; i < ihl; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = static_cast<uint8_t>(~sum >> 8);
  ip[11] = static_cast<uint8_t>(~sum);
}

}  // namespace

FrameSynth::View SoakFlood::Next(uint64_t k) {
  static const uint8_t kMss[4] = {2, 4, 5, 0xb4};
  static const uint8_t kPayload[64] = {};
  const uint64_t r = rng_();
  const Endpoint src =
      V4(0x64400000u | static_cast<uint32_t>(r & 0x3fffff), static_cast<uint16_t>(r >> 22));
  const Endpoint dst =
      V4(0xc6336400u | static_cast<uint32_t>(r >> 38 & 0xff), static_cast<uint16_t>(r >> 46));
  if (fragments_ && k % 64 == 63) {
    FrameSynth::View f = synth_.Udp(src, dst, kPayload, sizeof kPayload);
    frag_.assign(f.data, f.data + f.len);
    MakeFirstFragment(frag_.data(), static_cast<uint16_t>(r >> 48));
    return FrameSynth::View{frag_.data(), static_cast<uint32_t>(frag_.size())};
  }
  if (k % 3 == 2) return synth_.Udp(src, dst, kPayload, 16);
  return synth_.Tcp(src, dst, static_cast<uint32_t>(r), 0, 0x02, 64240, kMss, 4, nullptr, 0);
}

}  // namespace ctrack
