// A small program that tracks packets through the installed ctrack library: a TCP handshake and
// one acknowledged data segment over raw IPv4, then the table as the kernel would list it.
//
// Built by CI against an install prefix twice: with CMake (find_package(ctrack CONFIG), this
// folder's CMakeLists.txt) and with pkg-config (`c++ -std=c++20 main.cc $(pkg-config --cflags
// --libs ctrack)`). It exits non-zero when the tracker does not answer as Linux does.
#include <ctrack/conntrack.h>
#include <ctrack/version.h>

#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

// The Internet checksum over `len` bytes plus a running sum (RFC 1071).
uint32_t Sum16(const uint8_t* p, size_t len, uint32_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

// An IPv4 datagram carrying one TCP segment (no options), checksums filled in.
std::vector<uint8_t> TcpSegment(const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
                                uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                                size_t payload) {
  std::vector<uint8_t> p(20 + 20 + payload, 0);
  uint8_t* ip = p.data();
  ip[0] = 0x45;
  Put16(ip + 2, static_cast<uint16_t>(p.size()));
  ip[8] = 64;  // TTL
  ip[9] = 6;   // TCP
  for (int i = 0; i < 4; ++i) {
    ip[12 + i] = src[i];
    ip[16 + i] = dst[i];
  }
  Put16(ip + 10, Fold(Sum16(ip, 20, 0)));
  uint8_t* th = ip + 20;
  Put16(th, sport);
  Put16(th + 2, dport);
  Put32(th + 4, seq);
  Put32(th + 8, ack);
  th[12] = 5 << 4;  // data offset: 20 bytes
  th[13] = flags;
  Put16(th + 14, 64240);  // window
  const uint32_t tcp_len = static_cast<uint32_t>(20 + payload);
  uint32_t pseudo = Sum16(ip + 12, 8, 0) + 6 + tcp_len;
  Put16(th + 16, Fold(Sum16(th, tcp_len, pseudo)));
  return p;
}

}  // namespace

int main() {
  std::printf("ctrack %s\n", CTRACK_VERSION_STRING);

  ctrack::Config cfg;  // the kernel's defaults, fields named as the sysctls
  if (std::string err = cfg.Set("nf_conntrack_max", "1024"); !err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  ctrack::Conntrack ct(cfg);

  const uint8_t client[4] = {192, 0, 2, 1}, server[4] = {198, 51, 100, 7};
  constexpr uint8_t kSyn = 0x02, kAck = 0x10, kPsh = 0x08;
  struct Step {
    std::vector<uint8_t> ip;
    ctrack::Verdict want;
    ctrack::Dir want_dir;
  };
  const Step steps[] = {
      {TcpSegment(client, server, 40000, 80, 1000, 0, kSyn, 0), ctrack::Verdict::kNew,
       ctrack::Dir::kOriginal},
      {TcpSegment(server, client, 80, 40000, 5000, 1001, kSyn | kAck, 0),
       ctrack::Verdict::kEstablished, ctrack::Dir::kReply},
      {TcpSegment(client, server, 40000, 80, 1001, 5001, kAck, 0), ctrack::Verdict::kEstablished,
       ctrack::Dir::kOriginal},
      {TcpSegment(client, server, 40000, 80, 1001, 5001, kAck | kPsh, 100),
       ctrack::Verdict::kEstablished, ctrack::Dir::kOriginal},
      // Until this ACK the 100 bytes are unacknowledged and the entry would keep only
      // nf_conntrack_tcp_timeout_unacknowledged (300 s).
      {TcpSegment(server, client, 80, 40000, 5001, 1101, kAck, 0), ctrack::Verdict::kEstablished,
       ctrack::Dir::kReply},
  };

  ctrack::Timestamp now = 1 * ctrack::kNsPerSec;  // virtual time: the caller's clock, in ns
  int failures = 0;
  for (const Step& s : steps) {
    // Raw IP frames; ProcessIp(data, len, now) does the same without a link layer.
    const auto len = static_cast<uint32_t>(s.ip.size());
    ctrack::PacketResult r = ct.ProcessFrame(ctrack::kLinkRaw, s.ip.data(), len, len, now);
    std::printf("%-11s %s\n", ctrack::VerdictName(r.verdict),
                r.dir == ctrack::Dir::kOriginal ? "original" : "reply");
    if (r.verdict != s.want || r.dir != s.want_dir) ++failures;
    now += ctrack::kNsPerSec / 100;
  }

  int entries = 0;
  ct.ForEach(now, [&](const ctrack::ConnInfo& e) {
    ++entries;
    std::printf("%s %s timeout=%lld %s\n", ctrack::ProtoInfo(e.orig.protonum).name,
                ctrack::StateName(e.orig.protonum, e.state), static_cast<long long>(e.timeout_s),
                ctrack::StatusNames(e.status).c_str());
    // Linux: the handshake's last ACK makes the entry ESTABLISHED and ASSURED, with the
    // 5-day nf_conntrack_tcp_timeout_established.
    if (e.state != static_cast<uint8_t>(ctrack::TcpState::kEstablished) ||
        !(e.status & ctrack::kAssured) ||
        e.timeout_s + 1 < static_cast<int64_t>(cfg.nf_conntrack_tcp_timeout_established)) {
      ++failures;
    }
  });
  if (entries != 1) ++failures;
  std::printf("count=%u %s\n", ct.count(), failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
