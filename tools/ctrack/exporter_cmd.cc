// ctrack exporter: Prometheus / OpenMetrics metrics of the kernel's conntrack table over HTTP
// (cpp-httplib). One sampler thread takes at most one table dump per interval and renders both
// expositions; scrapes only copy the cached text, so the scrape rate never drives dumps.
#include <httplib.h>  // Debian's libcpp-httplib (compiled library; its limits are built in)
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ctrack/cli_util.h"
#include "ctrack/commands.h"
#include "ctrack/live_source.h"
#include "sim/metrics.h"

namespace ctrack::cli {
namespace {

void Usage(std::FILE* f) {
  std::fprintf(f,
               "usage: ctrack exporter [--listen ADDR:PORT] [--interval S] [--netns NAME | "
               "--netns-pid PID]\n"
               "                       [--top K] [--no-dump] [--no-events]\n"
               "Serves /metrics: node_exporter's conntrack names (node_nf_conntrack_entries,\n"
               "node_nf_conntrack_entries_limit, node_nf_conntrack_stat_*) plus entries by state,\n"
               "protocol and zone, top sources and ports (capped), counters, bucket depth, kernel\n"
               "memory and the forecast (ctrack_conntrack_time_to_full_seconds). OpenMetrics when\n"
               "the scraper asks for it.\n"
               "  --listen A:P   address to listen on (default 127.0.0.1:9934; anything else is\n"
               "                 your explicit choice, e.g. 0.0.0.0:9934 or [::1]:9934)\n"
               "  --interval S   seconds between table samples (default 15; 0.2 .. 3600)\n"
               "  --top K        rows of the source and port tops (default 20, at most 100)\n"
               "  --no-dump      count and counters only\n"
               "  --no-events    do not subscribe to NEW/DESTROY events\n");
}

bool ParseListen(const std::string& v, std::string* host, int* port) {
  std::string h, p;
  if (!v.empty() && v[0] == '[') {
    size_t close = v.find(']');
    if (close == std::string::npos || close + 1 >= v.size() || v[close + 1] != ':') return false;
    h = v.substr(1, close - 1);
    p = v.substr(close + 2);
  } else {
    size_t colon = v.rfind(':');
    if (colon == std::string::npos || v.find(':') != colon) return false;
    h = v.substr(0, colon);
    p = v.substr(colon + 1);
  }
  if (h.empty() || p.empty() || p.size() > 5) return false;
  for (char c : p)
    if (c < '0' || c > '9') return false;
  *port = std::atoi(p.c_str());
  *host = h;
  return *port > 0 && *port < 65536;
}

constexpr const char* kCommand = "ctrack exporter";

struct ExporterArgs {
  LiveFlags live;
  std::string listen = "127.0.0.1:9934";
};

// Returns -1 to go on, else the exit code.
int ParseArgs(int argc, char** argv, ExporterArgs* e) {
  e->live.interval = 15;
  e->live.opt.top = 20;
  return ParseLiveArgs(kCommand, Usage, argc, argv, &e->live, [&](int* i) {
    if (std::strcmp(argv[*i], "--listen") != 0) return false;
    e->listen = FlagValue(kCommand, argc, argv, i);
    return true;
  });
}

// One Watcher fed by the live source and the two expositions of its latest report. Sample() runs
// on one thread at a time (main, then the sampler thread); Scrape() on any server worker.
class Sampler {
 public:
  Sampler(LiveSource* src, const LiveFlags& f) : src_(src), w_(Config{}, f.opt.top) {
    ex_.interval_s = f.interval;
  }

  // Takes one sample and renders both expositions; false when nothing could be read (the
  // previous expositions stay). Errors and warnings go to stderr.
  bool Sample() {
    std::string e, warn;
    double t0 = MonotonicSeconds();
    double at_unix = 0;
    bool ok = src_->SampleInto(&w_, &e, &warn, &at_unix);
    ex_.last_dump_s = MonotonicSeconds() - t0;
    ex_.dumps = src_->dumps();
    ex_.scrapes = scrapes_.load();
    if (!ok || !warn.empty()) {
      ++ex_.dump_errors;
      std::fprintf(stderr, "ctrack exporter: %s\n", ok ? warn.c_str() : e.c_str());
    }
    if (!ok) return false;
    // The instant the forecast counts from (the end of the dump), not the end of the report's
    // arithmetic: on a loaded host the two can be a good part of a second apart.
    ex_.last_sample_unix = at_unix;
    auto prom = std::make_shared<const std::string>(
        watch::RenderMetrics(w_.report(), ex_, watch::Exposition::kPrometheus));
    auto om = std::make_shared<const std::string>(
        watch::RenderMetrics(w_.report(), ex_, watch::Exposition::kOpenMetrics));
    std::lock_guard<std::mutex> l(mu_);
    prom_ = std::move(prom);
    om_ = std::move(om);
    return true;
  }

  // The exposition a scrape gets; counted as a scrape.
  std::shared_ptr<const std::string> Scrape(watch::Exposition e) {
    std::shared_ptr<const std::string> body;
    {
      std::lock_guard<std::mutex> l(mu_);
      body = e == watch::Exposition::kOpenMetrics ? om_ : prom_;
    }
    scrapes_.fetch_add(1);
    return body;
  }

 private:
  LiveSource* src_;
  watch::Watcher w_;         // Sample() only
  watch::ExporterStats ex_;  // Sample() only
  std::mutex mu_;
  std::shared_ptr<const std::string> prom_, om_;  // guarded by mu_; never null after Sample()
  std::atomic<uint64_t> scrapes_{0};
};

// Bounds what a client can hold: timeouts, keep-alive limits, a small request body, a fixed pool
// of workers whatever the number of clients. *listen_fd gets the listening socket at bind.
void ConfigureServer(httplib::Server* svr, Sampler* sampler, int* listen_fd) {
  svr->set_read_timeout(5, 0);
  svr->set_write_timeout(5, 0);
  svr->set_idle_interval(0, 0);
  svr->set_keep_alive_timeout(5);
  svr->set_keep_alive_max_count(100);
  svr->set_payload_max_length(4096);
  svr->new_task_queue = [] { return new httplib::ThreadPool(8); };
  svr->set_socket_options([listen_fd](socket_t fd) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    *listen_fd = fd;
  });
  svr->Get("/metrics", [sampler](const httplib::Request& req, httplib::Response& res) {
    watch::Exposition e = watch::Negotiate(req.get_header_value("Accept"));
    res.set_content(*sampler->Scrape(e), watch::ContentType(e));
  });
  svr->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ctrack exporter: metrics at /metrics\n", "text/plain; charset=utf-8");
  });
}

// Serves on the bound `svr` with a sample every `interval` seconds until a signal of `sigs`
// (blocked in every thread) arrives, or the server fails.
void ServeUntilSignal(httplib::Server* svr, Sampler* sampler, double interval,
                      const sigset_t& sigs) {
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread sampler_thread([&] {
    std::unique_lock<std::mutex> l(stop_mu);
    auto next = std::chrono::steady_clock::now();
    for (;;) {
      next += std::chrono::microseconds(static_cast<int64_t>(interval * 1e6));
      if (stop_cv.wait_until(l, next, [&] { return stopping; })) return;
      l.unlock();
      sampler->Sample();
      l.lock();
      auto now = std::chrono::steady_clock::now();
      if (next < now) next = now;  // a slow dump: skip the missed intervals, never catch up
    }
  });
  std::thread waiter([&] {
    int sg = 0;
    sigwait(&sigs, &sg);
    {
      std::lock_guard<std::mutex> l(stop_mu);
      stopping = true;
    }
    stop_cv.notify_all();
    svr->stop();
  });
  bool ok = svr->listen_after_bind();
  if (!ok) {
    // listen ended without a signal (socket error): wake the waiter ourselves.
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  sampler_thread.join();
}

}  // namespace

int ExporterMain(int argc, char** argv) {
  ExporterArgs args;
  if (int rc = ParseArgs(argc, argv, &args); rc >= 0) return rc;
  const std::string& listen = args.listen;
  std::string host;
  int port = 0;
  if (!ParseListen(listen, &host, &port)) {
    std::fprintf(stderr, "ctrack exporter: --listen: '%s' is not ADDR:PORT\n", listen.c_str());
    return 2;
  }
  std::string err;
  if (!EnterNetns(args.live.ns, &err)) {
    std::fprintf(stderr, "ctrack exporter: %s\n", err.c_str());
    return 1;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int sg : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&sigs, sg);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // every thread started below inherits the mask
  signal(SIGPIPE, SIG_IGN);                    // a scraper hanging up mid-answer
  auto src = LiveSource::Open(args.live.opt, &err);
  if (!src) {
    std::fprintf(stderr, "ctrack exporter: %s\n", err.c_str());
    return 1;
  }
  Sampler sampler(src.get(), args.live);
  // The first sample must work: a clear error instead of empty scrapes.
  if (!sampler.Sample()) return 1;

  httplib::Server svr;
  int listen_fd = -1;
  ConfigureServer(&svr, &sampler, &listen_fd);
  if (!svr.bind_to_port(host.c_str(), port)) {
    std::fprintf(stderr, "ctrack exporter: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  // The library listens with a backlog of 5; a burst of scrapers would wait for SYN retries.
  // listen() again on the bound socket deepens it.
  if (listen_fd >= 0) ::listen(listen_fd, 256);
  std::fprintf(stderr, "ctrack exporter: listening on %s, sampling every %g s (%s)\n",
               listen.c_str(), args.live.interval, src->events_note().c_str());
  ServeUntilSignal(&svr, &sampler, args.live.interval, sigs);
  return 0;
}

}  // namespace ctrack::cli
