// The host reader against the real kernel (issue 10 item 4), never a mock: each test creates its
// own network namespace, turns tracking on with an nft `ct state` rule, makes real traffic on
// its loopback (TCP with sockets: established, closed, half-closed, SYN-only; UDP one-way and
// answered; ICMP echo; IPv4 and IPv6; plus conntrack -I entries with NAT reply tuples, marks
// and zones), and compares ctrack with the kernel's own tool in that namespace:
//   `ctrack status -L` and `ctrack snapshot` list exactly what `conntrack -L -o extended` lists
//   (every tuple, state, flag, mark, zone; timeouts within 1 s), `status -C`/`-S` and the
//   report's count and counters equal `conntrack -C`/`-S`.
// A table-full case fills the namespace to the global nf_conntrack_max with filler entries (the
// limit is per-namespace count against the global max) and checks that `status` reports the
// drops and a critical verdict. Nothing touches the host's own table or sysctls.
// Skips (with the reason) without root, without `ip`, `nft`, `conntrack` or python3.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "format/conntrack_format.h"
#include "format/snapshot.h"
#include "testing/cli_runner.h"
#include "testing/ct_filler.h"
#include "testing/json.h"

namespace ctrack {
namespace {

namespace fs = std::filesystem;
using ::ctrack::testing::CtrackBin;
using ::ctrack::testing::RunCtrack;
using ::ctrack::testing::RunResult;
using ::ctrack::testing::ScratchDir;

struct Sh {
  int status = -1;
  std::string out;
};

Sh Shell(const std::string& cmd) {
  Sh r;
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool Have(const char* tool) { return Shell(std::string("command -v ") + tool).status == 0; }

std::string SkipReason() {
  if (geteuid() != 0) return "needs root (network namespaces, ctnetlink)";
  for (const char* t : {"ip", "nft", "conntrack", "python3"}) {
    if (!Have(t)) return std::string("needs ") + t;
  }
  if (CtrackBin().empty()) return "ctrack binary not built";
  if (access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) != 0) {
    return "nf_conntrack not loaded on this host";
  }
  return "";
}

// One namespace with loopback up and, unless `track` is false, a ruleset that tracks.
class Netns {
 public:
  explicit Netns(bool track = true) {
    static int n = 0;
    name_ = "ctrack-t" + std::to_string(getpid()) + "-" + std::to_string(n++);
    ok_ = Shell("ip netns add " + name_).status == 0 &&
          Shell("ip -n " + name_ + " link set lo up").status == 0;
    if (ok_ && track) {
      // Tracking on for everything on loopback; SYNs to port 9 are dropped after conntrack saw
      // them (a SYN-only entry); nothing else is filtered.
      std::string rules =
          "table inet t {\n"
          " chain out { type filter hook output priority 0; ct state new,established,related "
          "accept; }\n"
          " chain in { type filter hook input priority 0; tcp dport 9 drop; ct state "
          "new,established,related accept; }\n"
          "}\n";
      std::string path = (ScratchDir() / (name_ + ".nft")).string();
      std::ofstream(path) << rules;
      ok_ = Shell("ip netns exec " + name_ + " nft -f " + path).status == 0;
    }
  }
  ~Netns() {
    if (traffic_pid_ > 0) {
      kill(traffic_pid_, SIGKILL);
      waitpid(traffic_pid_, nullptr, 0);
    }
    Shell("ip netns del " + name_);
  }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  std::string Exec(const std::string& cmd) const { return "ip netns exec " + name_ + " " + cmd; }

  // Starts the traffic script in the namespace and waits until it prints "ready"; it then holds
  // its sockets open until killed.
  bool StartTraffic(const std::string& script) {
    std::string path = (ScratchDir() / (name_ + ".py")).string();
    std::ofstream(path) << script;
    int pipefd[2];
    if (pipe(pipefd) != 0) return false;
    traffic_pid_ = fork();
    if (traffic_pid_ == 0) {
      dup2(pipefd[1], 1);
      close(pipefd[0]);
      execlp("ip", "ip", "netns", "exec", name_.c_str(), "python3", path.c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
    close(pipefd[1]);
    std::string got;
    char c;
    while (read(pipefd[0], &c, 1) == 1) {
      got += c;
      if (got.find("ready\n") != std::string::npos) break;
    }
    close(pipefd[0]);
    return got.find("ready\n") != std::string::npos;
  }

 private:
  std::string name_;
  bool ok_ = false;
  pid_t traffic_pid_ = -1;
};

constexpr const char* kTraffic = R"PY(
import socket, struct, sys, time, os
keep = []
def tcp_pair(fam, addr, port, close=False, half=False):
    l = socket.socket(fam, socket.SOCK_STREAM); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(8)
    c = socket.socket(fam, socket.SOCK_STREAM); c.connect((addr, port))
    s, _ = l.accept()
    c.sendall(b"hello"); s.recv(5); s.sendall(b"world"); c.recv(5)
    if close:
        c.close(); time.sleep(0.05); s.close()
    elif half:
        c.shutdown(socket.SHUT_WR); time.sleep(0.05)
    keep.extend([l, c, s])
for i in range(3):
    tcp_pair(socket.AF_INET, "127.0.0.1", 8000 + i)
tcp_pair(socket.AF_INET, "127.0.0.1", 8100, close=True)
tcp_pair(socket.AF_INET, "127.0.0.1", 8101, half=True)
tcp_pair(socket.AF_INET6, "::1", 8200)
# SYN-only: the ruleset drops SYNs to port 9 after conntrack saw them.
for i in range(2):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", 9))
    except BlockingIOError: pass
    keep.append(c)
# UDP one-way (nobody listens: ICMP port unreachable comes back) and answered.
for i in range(4):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"q", ("127.0.0.1", 5300 + i)); keep.append(u)
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.1", 5353))
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); cli.sendto(b"q", ("127.0.0.1", 5353))
d, a = srv.recvfrom(10); srv.sendto(b"a", a); cli.recvfrom(10); keep.extend([srv, cli])
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.sendto(b"q", ("::1", 5400)); keep.append(u6)
# ICMP echo (raw socket; the kernel answers).
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
hdr = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"pingpong"
pkt = struct.pack("!BBHHH", 8, 0, csum(hdr), 0x1234, 1) + b"pingpong"
r.sendto(pkt, ("127.0.0.1", 0)); r.settimeout(1); r.recv(100); keep.append(r)
time.sleep(0.2)
print("ready", flush=True)
time.sleep(120)
)PY";

// conntrack -I entries the traffic cannot make: NAT reply tuples (a Service DNAT, a masquerade),
// marks and zones.
bool InsertSpecial(const Netns& ns) {
  const char* rows[] = {
      "-I -p tcp -s 10.0.0.1 -d 10.96.0.10 -r 10.244.1.5 -q 10.0.0.1 --sport 40000 --dport 80 "
      "--reply-port-src 8080 --reply-port-dst 40000 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t "
      "3000 -m 9 --zone 4",
      "-I -p udp -s 192.168.1.20 -d 8.8.8.8 -r 8.8.8.8 -q 203.0.113.7 --sport 5353 --dport 53 "
      "--reply-port-src 53 --reply-port-dst 61000 -u SEEN_REPLY -t 100",
      "-I -p udp -s 10.1.1.1 -d 10.2.2.2 --sport 1000 --dport 53 -t 300 -m 7 --zone 5",
      "-I -p icmp -s 10.3.3.3 -d 10.4.4.4 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 20",
      "-I -p tcp -s fd00::1 -d fd00::2 --sport 1234 --dport 443 --state SYN_SENT -t 100",
  };
  for (const char* r : rows) {
    if (Shell(ns.Exec(std::string("conntrack ") + r)).status != 0) return false;
  }
  return true;
}

// "timeout" is the third field of conntrack -L's default form, the fifth of -o extended.
struct Parsed {
  std::string key;  // the line without the timeout
  long timeout = 0;
};

std::vector<Parsed> ParseListing(const std::string& text, int timeout_field) {
  std::vector<Parsed> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("conntrack v", 0) == 0) continue;
    std::istringstream ls(line);
    std::vector<std::string> w;
    std::string x;
    while (ls >> x) w.push_back(x);
    Parsed p;
    for (size_t i = 0; i < w.size(); ++i) {
      if (static_cast<int>(i) == timeout_field) {
        p.timeout = std::atol(w[i].c_str());
        p.key += "T ";
      } else {
        p.key += w[i] + " ";
      }
    }
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const Parsed& a, const Parsed& b) { return a.key < b.key; });
  return out;
}

// Every entry equal, timeouts within 1 s.
void ExpectSameTable(const std::string& kernel, const std::string& ours, int timeout_field) {
  std::vector<Parsed> k = ParseListing(kernel, timeout_field);
  std::vector<Parsed> o = ParseListing(ours, timeout_field);
  ASSERT_EQ(k.size(), o.size()) << "kernel:\n" << kernel << "ctrack:\n" << ours;
  for (size_t i = 0; i < k.size(); ++i) {
    EXPECT_EQ(k[i].key, o[i].key);
    EXPECT_LE(std::labs(k[i].timeout - o[i].timeout), 1) << k[i].key;
  }
}

class HostNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(HostNetnsTest, ListAndSnapshotEqualConntrack) {
  Netns ns;
  ASSERT_TRUE(ns.ok());
  ASSERT_TRUE(ns.StartTraffic(kTraffic));
  ASSERT_TRUE(InsertSpecial(ns));
  Sh k = Shell(ns.Exec("conntrack -L -o extended"));
  RunResult o = RunCtrack("status --netns " + ns.name() + " -L -o extended");
  ASSERT_EQ(k.status, 0);
  ASSERT_EQ(o.status, 0) << o.err;
  // The traffic made every kind the test promises.
  for (const char* want : {"ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "SYN_SENT", "[UNREPLIED]",
                           "icmp", "ipv6", "zone=4", "mark=9", "src=10.244.1.5", "dport=5353"}) {
    EXPECT_NE(k.out.find(want), std::string::npos) << want << " missing from\n" << k.out;
  }
  ExpectSameTable(k.out, o.out, 4);
  Sh kd = Shell(ns.Exec("conntrack -L"));
  RunResult od = RunCtrack("status --netns " + ns.name() + " -L -o default");
  ASSERT_EQ(od.status, 0) << od.err;
  ExpectSameTable(kd.out, od.out, 2);

  // The snapshot, read back and printed, lists the same.
  fs::path snap = ScratchDir() / (ns.name() + ".snap");
  RunResult s = RunCtrack("snapshot --netns " + ns.name() + " -o " + snap.string());
  ASSERT_EQ(s.status, 0) << s.err;
  Sh k2 = Shell(ns.Exec("conntrack -L -o extended"));
  Snapshot sn;
  ASSERT_EQ(ReadSnapshotFile(snap.string(), &sn), "");
  std::string lines;
  for (const SnapshotEntry& e : sn.entries) lines += FormatConntrackLine(e.ci, true) + "\n";
  ExpectSameTable(k2.out, lines, 4);
  Sh count = Shell(ns.Exec("conntrack -C"));
  EXPECT_EQ(std::to_string(sn.header.count) + "\n", count.out);
}

TEST_F(HostNetnsTest, CountersEqualConntrack) {
  Netns ns;
  ASSERT_TRUE(ns.ok());
  ASSERT_TRUE(ns.StartTraffic(kTraffic));
  Sh kc = Shell(ns.Exec("conntrack -C"));
  RunResult oc = RunCtrack("status --netns " + ns.name() + " -C");
  ASSERT_EQ(oc.status, 0) << oc.err;
  EXPECT_EQ(kc.out, oc.out);
  EXPECT_GT(std::atoi(kc.out.c_str()), 10);
  Sh ks = Shell(ns.Exec("conntrack -S"));
  RunResult os = RunCtrack("status --netns " + ns.name() + " -S");
  ASSERT_EQ(os.status, 0) << os.err;
  EXPECT_EQ(ks.out, os.out);
  // The report: same count, same summed counters.
  RunResult j = RunCtrack("status --netns " + ns.name() + " -o json --no-kmsg");
  ASSERT_EQ(j.status, 0) << j.err;
  testing::Json v;
  std::string perr;
  ASSERT_TRUE(testing::Json::Parse(j.out, &v, &perr)) << perr << "\n" << j.out;
  EXPECT_EQ(v["count"].integer(), std::atoi(kc.out.c_str()));
  uint64_t insert = 0, invalid = 0;
  std::istringstream in(ks.out);
  std::string w;
  while (in >> w) {
    if (w.rfind("insert=", 0) == 0) insert += std::stoull(w.substr(7));
    if (w.rfind("invalid=", 0) == 0) invalid += std::stoull(w.substr(8));
  }
  EXPECT_EQ(v["counters"]["insert"].integer(), static_cast<int64_t>(insert));
  EXPECT_EQ(v["counters"]["invalid"].integer(), static_cast<int64_t>(invalid));
  EXPECT_EQ(v["dump"]["entries"].integer(), std::atoi(kc.out.c_str()));
  EXPECT_EQ(v["verdict"].str(), "ok");
}

TEST_F(HostNetnsTest, TableFullReportsDropsAndCritical) {
  Netns ns;
  ASSERT_TRUE(ns.ok());
  std::ifstream mf("/proc/sys/net/netfilter/nf_conntrack_max");
  uint64_t gmax = 0;
  mf >> gmax;
  ASSERT_GT(gmax, 64u);
  // Fill to max - 4 in this namespace (the limit compares this netns's count with the global
  // max), then open 40 UDP flows: 4 fit, the rest are dropped (early drop finds no unassured
  // victim among the fillers: they are ASSURED).
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(("/run/netns/" + ns.name()).c_str(), O_RDONLY);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(2);
    std::string err;
    uint64_t got = testing::InsertFillers(gmax - 4, 65000, &err);
    _exit(got == gmax - 4 ? 0 : 3);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "filler insertion failed";
  Shell(
      ns.Exec("python3 -c \"import socket\nfor i in range(40):\n  s=socket.socket(socket.AF_INET,"
              "socket.SOCK_DGRAM)\n  s.sendto(b'x',('127.0.0.1',6000+i))\""));
  RunResult j = RunCtrack("status --netns " + ns.name() + " -o json --no-rules");
  ASSERT_EQ(j.status, 0) << j.err;
  testing::Json v;
  std::string perr;
  ASSERT_TRUE(testing::Json::Parse(j.out, &v, &perr)) << perr;
  Sh ks = Shell(ns.Exec("conntrack -S"));
  uint64_t drop = 0;
  std::istringstream in(ks.out);
  std::string w;
  while (in >> w) {
    if (w.rfind("drop=", 0) == 0) drop += std::stoull(w.substr(5));
  }
  EXPECT_GT(drop, 0u);
  EXPECT_EQ(v["counters"]["drop"].integer(), static_cast<int64_t>(drop));
  EXPECT_EQ(v["count"].integer(), static_cast<int64_t>(gmax));
  EXPECT_EQ(v["verdict"].str(), "critical");
  ASSERT_GE(v["findings"].array().size(), 1u);
  EXPECT_NE(v["findings"].array()[0]["title"].str().find("full"), std::string::npos);
  EXPECT_NE(v["findings"].array()[0]["commands"].array()[0].str().find("nf_conntrack_max="),
            std::string::npos);
  // The text form says the same.
  RunResult t = RunCtrack("status --netns " + ns.name() + " --no-rules --no-kmsg");
  EXPECT_NE(t.out.find("verdict: critical"), std::string::npos) << t.out;
}

TEST_F(HostNetnsTest, NoTrackingRuleIsAFinding) {
  Netns ns(/*track=*/false);
  ASSERT_TRUE(ns.ok());
  RunResult t = RunCtrack("status --netns " + ns.name() + " --no-kmsg");
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.out.find("no rule makes the kernel track"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("verdict: ok"), std::string::npos) << t.out;
}

TEST_F(HostNetnsTest, ErrorsAreOneLine) {
  // Unknown namespace: one line, non-zero, no output file.
  fs::path out = ScratchDir() / "nonexistent-ns.snap";
  RunResult r = RunCtrack("snapshot --netns no-such-ns-ctrack -o " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("no-such-ns-ctrack"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  RunResult s = RunCtrack("status --netns no-such-ns-ctrack");
  EXPECT_NE(s.status, 0);
  EXPECT_TRUE(s.out.empty());
  // Without CAP_NET_ADMIN: one line naming the capability; the /proc sources still shown.
  if (Have("setpriv")) {
    Netns ns;
    ASSERT_TRUE(ns.ok());
    Sh u = Shell("ip netns exec " + ns.name() +
                 " setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all " +
                 CtrackBin() + " status --no-kmsg --no-rules 2>&1");
    EXPECT_EQ(u.status, 0) << u.out;
    EXPECT_NE(u.out.find("CAP_NET_ADMIN"), std::string::npos) << u.out;
    EXPECT_NE(u.out.find("table     0 of"), std::string::npos) << u.out;
  }
}

}  // namespace
}  // namespace ctrack
