// ctrack exporter-bench: scrape latency and exporter memory on a large namespace table, and the
// exporter under abusive clients. Creates its own namespace (deleted at the end), pads it with
// ctnetlink-inserted entries, runs `ctrack exporter` inside it and scrapes it over loopback.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ctrack/commands.h"
#include "host/inject.h"

namespace ctrack::cli {
namespace {

std::string g_ns;
void DeleteNs() {
  if (!g_ns.empty()) {
    std::string c = "ip netns del " + g_ns + " 2>/dev/null";
    (void)!std::system(c.c_str());
  }
}

bool EnterNs(const std::string& ns) {
  int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = setns(fd, CLONE_NEWNET) == 0;
  close(fd);
  return ok;
}

long RssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

double Dumps(const std::string& body) {
  size_t p = body.find("\nctrack_exporter_dumps_total ");
  return p == std::string::npos ? -1 : std::atof(body.c_str() + p + 29);
}

// Raw abusive clients: garbage, an oversized request line, endless headers, a silent client,
// and one that asks for /metrics and never reads the answer.
void Abuse(int port, std::vector<int>* held) {
  auto conn = [&]() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  };
  auto send_all = [](int fd, const std::string& s) {
    (void)!send(fd, s.data(), s.size(), MSG_NOSIGNAL);
  };
  std::string big_uri = "GET /" + std::string(200000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string many_headers = "GET /metrics HTTP/1.1\r\n";
  for (int i = 0; i < 5000; ++i)
    many_headers += "X-H" + std::to_string(i) + ": " + std::string(50, 'v') + "\r\n";
  many_headers += "\r\n";
  const std::string payloads[] = {
      std::string("\x00\xff\x13garbage\r\n\r\n", 14),
      "GET\r\n\r\n",
      "GET /metrics HTTP/9.9\r\n\r\n",
      "POST /metrics HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc",
      "GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      big_uri,
      many_headers,
  };
  for (const auto& p : payloads) {
    int fd = conn();
    if (fd < 0) continue;
    send_all(fd, p);
    char b[256];
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)!recv(fd, b, sizeof b, 0);
    close(fd);
  }
  // Held open: silent, and a reader that never reads.
  for (int i = 0; i < 4; ++i) {
    int fd = conn();
    if (fd < 0) continue;
    if (i % 2) send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    held->push_back(fd);
  }
}

struct BenchArgs {
  uint32_t entries = 250000, scrapes = 1000, clients = 1;
  double interval = 15;
  bool abuse = false;
};

// Returns -1 to go on, else the exit code. A missing or bad value ends the process (exit 2).
int ParseArgs(int argc, char** argv, BenchArgs* b) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&](const char* name) -> double {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ctrack exporter-bench: %s needs a value\n", name);
        std::exit(2);
      }
      char* end = nullptr;
      double d = std::strtod(argv[++i], &end);
      if (*end || d < 0 || d > 1e7) {
        std::fprintf(stderr, "ctrack exporter-bench: %s: bad value '%s'\n", name, argv[i]);
        std::exit(2);
      }
      return d;
    };
    if (a == "--entries")
      b->entries = static_cast<uint32_t>(num("--entries"));
    else if (a == "--scrapes")
      b->scrapes = std::max<uint32_t>(10, static_cast<uint32_t>(num("--scrapes")));
    else if (a == "--clients")
      b->clients = std::max<uint32_t>(1, static_cast<uint32_t>(num("--clients")));
    else if (a == "--interval")
      b->interval = std::max(0.2, num("--interval"));
    else if (a == "--abuse")
      b->abuse = true;
    else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: ctrack exporter-bench [--entries N] [--scrapes N] [--clients N] "
          "[--interval S] [--abuse]\n"
          "Creates a namespace, inserts N entries, runs the exporter in it and scrapes it:\n"
          "latency p50/p99, RSS at scrape 10 and at the end, dumps taken. --abuse adds\n"
          "malformed, oversized and never-reading clients during the scrapes.\n");
      return 0;
    } else {
      std::fprintf(stderr, "ctrack exporter-bench: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  return -1;
}

// Inserts `entries` entries into the namespace g_ns through ctnetlink (from a thread that joins
// it, so the caller stays where it is). Returns "" or an error; *inserted counts what went in.
std::string FillNamespace(uint32_t entries, uint32_t* inserted) {
  std::string err;
  std::thread([&] {
    if (!EnterNs(g_ns)) {
      err = "setns failed";
      return;
    }
    InjectSpec s;
    s.count = entries;
    s.timeout_s = 7200;
    err = InjectEntries(s, inserted);
  }).join();
  return err;
}

// `ctrack exporter` (this binary) in g_ns on 127.0.0.1:port; the child's pid, or -1.
pid_t StartExporter(int port, double interval) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return -1;
  self[n] = 0;
  pid_t pid = fork();
  if (pid == 0) {
    if (!EnterNs(g_ns)) _exit(127);
    std::string iv = std::to_string(interval), listen = "127.0.0.1:" + std::to_string(port);
    execl(self, self, "exporter", "--listen", listen.c_str(), "--interval", iv.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// True once /metrics answers 200, within 30 s.
bool WaitUntilUp(int port) {
  httplib::Client probe("127.0.0.1", port);
  probe.set_connection_timeout(1, 0);
  for (int i = 0; i < 300; ++i) {
    auto r = probe.Get("/metrics");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

struct ScrapeStats {
  std::vector<double> lat_ms;  // answered scrapes, sorted
  uint32_t failed = 0;
  long rss10 = -1;  // exporter RSS at the 10th scrape
  double dumps_first = -1, dumps_last = -1;
  double elapsed_s = 0;
};

// args.scrapes scrapes of /metrics shared by args.clients threads, each in g_ns.
ScrapeStats Scrape(const BenchArgs& args, int port, pid_t exporter) {
  ScrapeStats st;
  std::mutex mu;
  std::atomic<uint32_t> next{0}, failed{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (uint32_t c = 0; c < args.clients; ++c) {
    ts.emplace_back([&] {
      EnterNs(g_ns);
      httplib::Client cli("127.0.0.1", port);
      cli.set_connection_timeout(5, 0);
      cli.set_read_timeout(10, 0);
      for (uint32_t k; (k = next.fetch_add(1)) < args.scrapes;) {
        auto a = std::chrono::steady_clock::now();
        auto r = cli.Get("/metrics");
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
        if (!r || r->status != 200) {
          ++failed;
          continue;
        }
        std::lock_guard<std::mutex> l(mu);
        st.lat_ms.push_back(ms);
        if (k == 9) st.rss10 = RssKiB(exporter);
        double d = Dumps(r->body);
        if (st.dumps_first < 0) st.dumps_first = d;
        st.dumps_last = std::max(st.dumps_last, d);
      }
    });
  }
  for (auto& t : ts) t.join();
  st.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  st.failed = failed.load();
  std::sort(st.lat_ms.begin(), st.lat_ms.end());
  return st;
}

// Scrapes the exporter (and abuses it with --abuse) from inside g_ns; prints the result line.
// Returns 1 when a scrape failed, the exporter died, or it dumped more often than its interval
// allows.
int Measure(const BenchArgs& args, int port, pid_t exporter, uint32_t inserted) {
  EnterNs(g_ns);
  if (!WaitUntilUp(port)) {
    std::fprintf(stderr, "ctrack exporter-bench: exporter did not come up\n");
    return 1;
  }
  std::vector<int> held;
  std::thread abuser;
  if (args.abuse)
    abuser = std::thread([&] {
      EnterNs(g_ns);
      Abuse(port, &held);
    });
  ScrapeStats st = Scrape(args, port, exporter);
  if (abuser.joinable()) abuser.join();
  long rss_end = RssKiB(exporter);
  for (int fd : held) close(fd);
  const std::vector<double>& lat = st.lat_ms;
  auto pct = [&](double p) {
    return lat.empty() ? -1 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  double allowed = 1 + st.elapsed_s / args.interval + 1;  // dumps the interval permits
  double dumps = st.dumps_last - st.dumps_first;
  bool alive = kill(exporter, 0) == 0;
  std::printf(
      "exporter-bench entries=%u scrapes=%u clients=%u abuse=%d answered=%zu failed=%u "
      "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rss10_kib=%ld rss_end_kib=%ld "
      "dumps_during=%.0f dumps_allowed=%.1f elapsed_s=%.1f exporter_alive=%d\n",
      inserted, args.scrapes, args.clients, args.abuse ? 1 : 0, lat.size(), st.failed, pct(0.5),
      pct(0.99), lat.empty() ? -1 : lat.back(), st.rss10, rss_end, dumps, allowed, st.elapsed_s,
      alive ? 1 : 0);
  return (st.failed || kill(exporter, 0) != 0 || dumps > allowed) ? 1 : 0;
}

}  // namespace

int ExporterBenchMain(int argc, char** argv) {
  BenchArgs args;
  if (int rc = ParseArgs(argc, argv, &args); rc >= 0) return rc;
  if (geteuid() != 0) {
    std::fprintf(stderr, "ctrack exporter-bench: needs root (namespace, ctnetlink)\n");
    return 1;
  }
  g_ns = "ctrack-bench-" + std::to_string(getpid());
  if (std::system(("ip netns add " + g_ns).c_str()) != 0) {
    std::fprintf(stderr, "ctrack exporter-bench: ip netns add failed\n");
    return 1;
  }
  std::atexit(DeleteNs);
  (void)!std::system(("ip -n " + g_ns + " link set lo up").c_str());
  uint32_t inserted = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::string err = FillNamespace(args.entries, &inserted);
  double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!err.empty()) {
    std::fprintf(stderr, "ctrack exporter-bench: %s (%u inserted)\n", err.c_str(), inserted);
    return 1;
  }
  std::fprintf(stderr, "inserted %u entries in %.1f s\n", inserted, fill_s);
  const int port = 19934;
  pid_t pid = StartExporter(port, args.interval);
  if (pid < 0) return 1;
  int rc = 0;
  // On a thread of its own: Measure() joins g_ns, and this thread stays in the caller's.
  std::thread([&] { rc = Measure(args, port, pid, inserted); }).join();
  kill(pid, SIGTERM);
  int st;
  waitpid(pid, &st, 0);
  DeleteNs();
  g_ns.clear();
  return rc;
}

}  // namespace ctrack::cli
