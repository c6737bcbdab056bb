// Simulating a snapshot forward against the kernel itself: a private network namespace with
// tracking on (an nft `ct state` rule), short timeouts set in the namespace's own sysctls, real
// TCP/UDP traffic on its loopback (one flow through a DNAT rule, so its reply tuple is not the
// inverse), a snapshot taken two ways (`ctrack snapshot --netns`, the host reader; and pasted
// `conntrack -L -o extended` plus `sysctl net.netfilter` text through the importer), then
// `ctrack simulate --from-snapshot --for N`, a wait of N seconds, and the kernel's own
// `conntrack -L -o extended` compared with the simulated table: the same entries remain, with
// the same state and status, timeouts within 1 s.
//
// Needs root, ip, nft and conntrack; skips otherwise. Nothing outside the namespace is touched.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "format/conntrack_format.h"
#include "format/snapshot.h"
#include "testing/cli_runner.h"

namespace ctrack {
namespace {

using ::ctrack::testing::CtrackBin;
using ::ctrack::testing::ReadAll;
using ::ctrack::testing::RunCtrack;
using ::ctrack::testing::ScratchDir;
using ::ctrack::testing::ShellQuote;
using Clock = std::chrono::steady_clock;

// Runs a shell command; returns its exit status and stdout.
int Sh(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int st = pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool Have(const char* tool) {
  return Sh(std::string("command -v ") + tool + " >/dev/null 2>&1") == 0;
}

constexpr const char* kRules = R"(table inet ctsnap_t {
  chain out { type filter hook output priority 0; ct state new counter accept; }
  chain pre { type filter hook prerouting priority 0; ct state new counter accept; }
}
table ip ctsnap_nat {
  chain out { type nat hook output priority -100; udp dport 7000 dnat to 127.0.0.1:7001; }
}
)";

// Traffic inside the namespace; keeps its sockets open (so ESTABLISHED entries stay) until it
// is killed, after writing "ready" to argv[1].
constexpr const char* kTraffic = R"(import socket, sys, time
S = socket.socket
keep = []
srv = S(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.1", 5000)); keep.append(srv)
for i in range(3):
    c = S(socket.AF_INET, socket.SOCK_DGRAM); c.bind(("127.0.0.1", 41000 + i))
    c.sendto(b"q", ("127.0.0.1", 5000)); d, a = srv.recvfrom(10); srv.sendto(b"r", a)
    c.recvfrom(10); keep.append(c)
u = S(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 42000)); keep.append(u)
for i in range(2):
    u.sendto(b"x", ("127.0.0.1", 5100 + i))
nat = S(socket.AF_INET, socket.SOCK_DGRAM); nat.bind(("127.0.0.1", 7001)); keep.append(nat)
u.sendto(b"n", ("127.0.0.1", 7000)); d, a = nat.recvfrom(10); nat.sendto(b"m", a)
u.settimeout(2); u.recvfrom(10)
try:
    s6 = S(socket.AF_INET6, socket.SOCK_DGRAM); s6.bind(("::1", 5000)); keep.append(s6)
    c6 = S(socket.AF_INET6, socket.SOCK_DGRAM); c6.bind(("::1", 43000)); keep.append(c6)
    c6.sendto(b"q", ("::1", 5000)); d, a = s6.recvfrom(10); s6.sendto(b"r", a); c6.recvfrom(10)
except OSError:
    pass
l = S(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("127.0.0.1", 6000))
l.listen(8); keep.append(l)
for i in range(2):
    t = socket.create_connection(("127.0.0.1", 6000)); a, _ = l.accept()
    t.send(b"hi"); a.recv(10); a.send(b"ho"); t.recv(10); keep += [t, a]
t = socket.create_connection(("127.0.0.1", 6000)); a, _ = l.accept()
t.close(); time.sleep(0.1); a.close()
h = socket.create_connection(("127.0.0.1", 6000)); b, _ = l.accept()
h.shutdown(socket.SHUT_WR); time.sleep(0.1); keep += [h, b]
try:
    socket.create_connection(("127.0.0.1", 6999), timeout=1)
except OSError:
    pass
time.sleep(0.3)
open(sys.argv[1], "w").write("ready")
time.sleep(120)
)";

struct Key {
  std::string bytes;  // both tuples, raw: the identity of an entry
  std::string text;   // printed, for messages
  bool operator<(const Key& o) const { return bytes < o.bytes; }
};

std::map<Key, ConnInfo> ByTuples(const Snapshot& s) {
  std::map<Key, ConnInfo> m;
  for (const SnapshotEntry& e : s.entries) {
    Key k;
    k.bytes.assign(reinterpret_cast<const char*>(&e.ci.orig), sizeof(Tuple));
    k.bytes.append(reinterpret_cast<const char*>(&e.ci.reply), sizeof(Tuple));
    k.text = " " + FormatConntrackLine(e.ci, true);
    m[k] = e.ci;
  }
  return m;
}

class SnapshotNamespace : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    for (const char* t : {"ip", "nft", "conntrack", "python3", "sysctl"}) {
      if (!Have(t)) GTEST_SKIP() << "needs " << t;
    }
    if (CtrackBin().empty()) GTEST_SKIP() << "no ctrack binary";
    ns_ = "ctsnap" + std::to_string(getpid());
    dir_ = ScratchDir() / ns_;
    std::filesystem::create_directories(dir_);
    ASSERT_EQ(Sh("ip netns add " + ns_), 0);
    created_ = true;
    ASSERT_EQ(Sh(Exec("ip link set lo up")), 0);
    std::ofstream(dir_ / "rules.nft") << kRules;
    ASSERT_EQ(Sh(Exec("nft -f " + ShellQuote((dir_ / "rules.nft").string()))), 0);
    // Short timeouts, only inside the namespace.
    ASSERT_EQ(Sh(Exec("sysctl -qw net.netfilter.nf_conntrack_udp_timeout=20 "
                      "net.netfilter.nf_conntrack_udp_timeout_stream=20 "
                      "net.netfilter.nf_conntrack_tcp_timeout_established=30 "
                      "net.netfilter.nf_conntrack_tcp_timeout_time_wait=3 "
                      "net.netfilter.nf_conntrack_tcp_timeout_close=4 "
                      "net.netfilter.nf_conntrack_tcp_timeout_fin_wait=4 "
                      "net.netfilter.nf_conntrack_tcp_timeout_close_wait=4")),
              0);
  }
  void TearDown() override {
    if (traffic_pid_ > 0) kill(traffic_pid_, SIGKILL);
    if (created_) Sh("ip netns del " + ns_ + " 2>/dev/null");
  }
  std::string Exec(const std::string& cmd) { return "ip netns exec " + ns_ + " " + cmd; }

  void StartTraffic() {
    std::ofstream(dir_ / "traffic.py") << kTraffic;
    std::string ready = (dir_ / "ready").string();
    std::string pid;
    ASSERT_EQ(Sh(Exec("python3 " + ShellQuote((dir_ / "traffic.py").string()) + " " +
                      ShellQuote(ready) + " >/dev/null 2>&1 & echo $!"),
                 &pid),
              0);
    traffic_pid_ = std::atoi(pid.c_str());
    ASSERT_GT(traffic_pid_, 0);
    for (int i = 0; i < 100 && !std::filesystem::exists(ready); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(std::filesystem::exists(ready)) << "traffic script did not finish";
  }

  std::string ns_;
  std::filesystem::path dir_;
  bool created_ = false;
  pid_t traffic_pid_ = -1;
};

// Checks the simulated table against the kernel's: same entries, state, status, timeouts +-1 s.
void Compare(const std::string& what, const std::string& simulated_path,
             const std::string& kernel_text) {
  SCOPED_TRACE(what);
  Snapshot sim, kern;
  ASSERT_EQ(ReadSnapshotFile(simulated_path, &sim), "");
  ASSERT_EQ(ReadSnapshotText(kernel_text, "kernel", &kern), "");
  std::map<Key, ConnInfo> a = ByTuples(sim), b = ByTuples(kern);
  for (const auto& [k, ci] : b) {
    auto it = a.find(k);
    EXPECT_NE(it, a.end()) << "kernel has, simulation lacks:" << k.text;
    if (it == a.end()) continue;
    EXPECT_EQ(it->second.state, ci.state) << k.text;
    EXPECT_EQ(it->second.status & (kSeenReply | kAssured), ci.status & (kSeenReply | kAssured))
        << k.text;
    EXPECT_LE(std::abs(it->second.timeout_s - ci.timeout_s), 1)
        << k.text << ": simulated " << it->second.timeout_s << " s, kernel " << ci.timeout_s;
  }
  for (const auto& [k, ci] : a) {
    EXPECT_NE(b.find(k), b.end()) << "simulation has, kernel lacks:" << k.text;
  }
}

TEST_F(SnapshotNamespace, SimulatedForwardMatchesKernel) {
  StartTraffic();
  // Both snapshots back to back; the clock starts when the pasted listing is taken.
  std::string listing, sysctls;
  ASSERT_EQ(Sh(Exec("conntrack -L -o extended 2>/dev/null"), &listing), 0);
  Clock::time_point t_snap = Clock::now();
  int64_t wall_snap = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_EQ(Sh(Exec("sysctl net.netfilter"), &sysctls), 0);
  std::string pasted = (dir_ / "pasted.txt").string();
  std::ofstream(pasted) << listing << sysctls;
  std::string live = (dir_ / "live.jsonl").string();
  testing::RunResult snap = RunCtrack("snapshot --netns " + ns_ + " -o " + ShellQuote(live));
  ASSERT_EQ(snap.status, 0) << snap.err;

  Snapshot before;
  ASSERT_EQ(ReadSnapshotText(listing, "listing", &before), "");
  ASSERT_GE(before.entries.size(), 9u) << listing;

  // The live snapshot was taken a little later (its header's time_ns): it is simulated forward
  // that much less, so that both end at the instant of the kernel's second listing.
  Snapshot live_snap;
  ASSERT_EQ(ReadSnapshotFile(live, &live_snap), "");
  double live_lag = static_cast<double>(live_snap.header.time_ns - wall_snap) / 1e9;
  ASSERT_GE(live_lag, -0.5);
  ASSERT_LT(live_lag, 3.0);
  constexpr int kForward = 6;
  for (const std::string& in : {pasted, live}) {
    std::string out = in + ".final";
    double forward = in == live ? kForward - std::max(live_lag, 0.0) : kForward;
    testing::RunResult r = RunCtrack("simulate -q --from-snapshot " + ShellQuote(in) + " --for " +
                                     std::to_string(forward) + " --final-table " + ShellQuote(out));
    ASSERT_EQ(r.status, 0) << r.err;
  }
  std::this_thread::sleep_until(t_snap + std::chrono::seconds(kForward));
  std::string after;
  ASSERT_EQ(Sh(Exec("conntrack -L -o extended 2>/dev/null"), &after), 0);

  Snapshot kern;
  ASSERT_EQ(ReadSnapshotText(after, "kernel", &kern), "");
  // Some entries expired (TIME_WAIT 3 s, the half-closed one 4 s), most remain (UDP 20 s,
  // ESTABLISHED 30 s).
  EXPECT_LT(kern.entries.size(), before.entries.size());
  EXPECT_GE(kern.entries.size(), 7u);
  bool nat = false;
  for (const SnapshotEntry& e : kern.entries) {
    nat |= e.ci.orig.dst_id == 7000 && e.ci.reply.src_id == 7001;
  }
  EXPECT_TRUE(nat) << "the DNAT flow should still be there:\n" << after;

  Compare("pasted conntrack -L -o extended", pasted + ".final", after);
  Compare("ctrack snapshot --netns", live + ".final", after);
  std::printf("snapshot: %zu entries, after %d s: kernel %zu\n", before.entries.size(), kForward,
              kern.entries.size());
}

}  // namespace
}  // namespace ctrack
