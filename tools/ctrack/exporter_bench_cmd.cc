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

}  // namespace

int ExporterBenchMain(int argc, char** argv) {
  uint32_t entries = 250000, scrapes = 1000, clients = 1;
  double interval = 15;
  bool abuse = false;
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
      entries = static_cast<uint32_t>(num("--entries"));
    else if (a == "--scrapes")
      scrapes = std::max<uint32_t>(10, static_cast<uint32_t>(num("--scrapes")));
    else if (a == "--clients")
      clients = std::max<uint32_t>(1, static_cast<uint32_t>(num("--clients")));
    else if (a == "--interval")
      interval = std::max(0.2, num("--interval"));
    else if (a == "--abuse")
      abuse = true;
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
  std::string err;
  uint32_t inserted = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread([&] {
    if (!EnterNs(g_ns)) {
      err = "setns failed";
      return;
    }
    InjectSpec s;
    s.count = entries;
    s.timeout_s = 7200;
    err = InjectEntries(s, &inserted);
  }).join();
  double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!err.empty()) {
    std::fprintf(stderr, "ctrack exporter-bench: %s (%u inserted)\n", err.c_str(), inserted);
    return 1;
  }
  std::fprintf(stderr, "inserted %u entries in %.1f s\n", inserted, fill_s);
  const int port = 19934;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = 0;
  pid_t pid = fork();
  if (pid == 0) {
    if (!EnterNs(g_ns)) _exit(127);
    std::string iv = std::to_string(interval), listen = "127.0.0.1:" + std::to_string(port);
    execl(self, self, "exporter", "--listen", listen.c_str(), "--interval", iv.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int rc = 0;
  std::thread([&] {
    EnterNs(g_ns);
    httplib::Client probe("127.0.0.1", port);
    probe.set_connection_timeout(1, 0);
    bool up = false;
    for (int i = 0; i < 300 && !up; ++i) {
      auto r = probe.Get("/metrics");
      up = r && r->status == 200;
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!up) {
      std::fprintf(stderr, "ctrack exporter-bench: exporter did not come up\n");
      rc = 1;
      return;
    }
    std::vector<int> held;
    std::thread abuser;
    if (abuse)
      abuser = std::thread([&] {
        EnterNs(g_ns);
        Abuse(port, &held);
      });
    std::mutex mu;
    std::vector<double> lat;
    std::atomic<uint32_t> next{0}, failed{0};
    long rss10 = -1;
    double dumps_first = -1, dumps_last = -1;
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (uint32_t c = 0; c < clients; ++c) {
      ts.emplace_back([&] {
        EnterNs(g_ns);
        httplib::Client cli("127.0.0.1", port);
        cli.set_connection_timeout(5, 0);
        cli.set_read_timeout(10, 0);
        for (uint32_t k; (k = next.fetch_add(1)) < scrapes;) {
          auto a = std::chrono::steady_clock::now();
          auto r = cli.Get("/metrics");
          double ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a)
                  .count();
          if (!r || r->status != 200) {
            ++failed;
            continue;
          }
          std::lock_guard<std::mutex> l(mu);
          lat.push_back(ms);
          if (k == 9) rss10 = RssKiB(pid);
          double d = Dumps(r->body);
          if (dumps_first < 0) dumps_first = d;
          dumps_last = std::max(dumps_last, d);
        }
      });
    }
    for (auto& t : ts) t.join();
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (abuser.joinable()) abuser.join();
    long rss_end = RssKiB(pid);
    for (int fd : held) close(fd);
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
      return lat.empty() ? -1 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
    };
    double allowed = 1 + elapsed / interval + 1;  // dumps the interval permits in this time
    std::printf(
        "exporter-bench entries=%u scrapes=%u clients=%u abuse=%d answered=%zu failed=%u "
        "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rss10_kib=%ld rss_end_kib=%ld "
        "dumps_during=%.0f dumps_allowed=%.1f elapsed_s=%.1f exporter_alive=%d\n",
        inserted, scrapes, clients, abuse ? 1 : 0, lat.size(), failed.load(), pct(0.5), pct(0.99),
        lat.empty() ? -1 : lat.back(), rss10, rss_end, dumps_last - dumps_first, allowed, elapsed,
        kill(pid, 0) == 0 ? 1 : 0);
    if (failed || kill(pid, 0) != 0 || dumps_last - dumps_first > allowed) rc = 1;
  }).join();
  kill(pid, SIGTERM);
  int st;
  waitpid(pid, &st, 0);
  DeleteNs();
  g_ns.clear();
  return rc;
}

}  // namespace ctrack::cli
