// ctrack watch: the live table, redrawn in place on a terminal; plain timestamped lines when
// stdout is not one; -o json for one object per interval.
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ctrack/cli_util.h"
#include "ctrack/commands.h"
#include "ctrack/live_source.h"
#include "sim/metrics.h"

namespace ctrack::cli {
namespace {

void Usage(std::FILE* f) {
  std::fprintf(
      f,
      "usage: ctrack watch [--interval S] [--netns NAME | --netns-pid PID] [-o text|json]\n"
      "                    [--count N] [--top K] [--no-dump] [--no-events]\n"
      "Live view of the kernel's conntrack table: count, fill bar, insert/delete/drop\n"
      "rates, the forecast (time to full or the level it settles at, per state by\n"
      "Little's law), the states, sources and destination ports that grow.\n"
      "  --interval S   seconds between samples (default 2; 0.2 .. 3600)\n"
      "  --count N      stop after N samples (default: until Ctrl-C)\n"
      "  -o json        one JSON object per interval (also when not a terminal)\n"
      "  --top K        rows of the source and port tops (default 10, at most 100)\n"
      "  --no-dump      count and counters only (no table dump)\n"
      "  --no-events    do not subscribe to NEW/DESTROY events\n");
}

int TerminalColumns() {
  winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

}  // namespace

int WatchMain(int argc, char** argv) {
  double interval = 2;
  long count = 0;
  bool json = false;
  LiveOptions opt;
  NetnsSpec ns;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    std::string err;
    int r = ParseNetnsFlag(argc, argv, &i, &ns, &err);
    if (r < 0) {
      std::fprintf(stderr, "ctrack watch: %s\n", err.c_str());
      return 2;
    }
    if (r > 0) continue;
    auto value = [&](const char*) { return FlagValue("ctrack watch", argc, argv, &i); };
    auto number = [&](const char*, double lo, double hi) {
      return FlagNumber("ctrack watch", argc, argv, &i, lo, hi);
    };
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (a == "--interval") {
      interval = number("--interval", 0.2, 3600);
    } else if (a == "--count") {
      count = static_cast<long>(number("--count", 1, 1e9));
    } else if (a == "--top") {
      opt.top = static_cast<uint32_t>(number("--top", 1, 100));
    } else if (a == "-o") {
      std::string v = value("-o");
      if (v != "json" && v != "text") {
        std::fprintf(stderr, "ctrack watch: -o: '%s' is not text or json\n", v.c_str());
        return 2;
      }
      json = v == "json";
    } else if (a == "--no-dump") {
      opt.dump = false;
    } else if (a == "--no-events") {
      opt.events = false;
    } else {
      std::fprintf(stderr, "ctrack watch: unknown argument '%s' (try --help)\n", a.c_str());
      return 2;
    }
  }
  std::string err;
  if (!EnterNetns(ns, &err)) {
    std::fprintf(stderr, "ctrack watch: %s\n", err.c_str());
    return 1;
  }
  // SIGINT/SIGTERM/SIGHUP are taken synchronously by sigtimedwait() between samples, so the
  // terminal is restored on the normal path; SIGWINCH just ends the wait early (redraw).
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int sg : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) sigaddset(&sigs, sg);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before the event thread starts: it inherits
  auto src = LiveSource::Open(opt, &err);
  if (!src) {
    std::fprintf(stderr, "ctrack watch: %s\n", err.c_str());
    return 1;
  }
  watch::Watcher w(Config{}, opt.top);
  const bool screen = !json && isatty(STDOUT_FILENO);
  std::string title = ns.name.empty() ? (ns.pid ? "netns of pid " + std::to_string(ns.pid) : "")
                                      : "netns " + ns.name;
  if (screen) std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // alternate screen, hide cursor
  int rc = 0;
  for (long n = 0; count == 0 || n < count; ++n) {
    std::string warn;
    if (!src->SampleInto(&w, MonotonicSeconds(), &err, &warn)) {
      if (screen) std::fputs("\x1b[?25h\x1b[?1049l", stdout);
      std::fprintf(stderr, "ctrack watch: %s\n", err.c_str());
      return 1;
    }
    const watch::WatchReport& r = w.report();
    double now = UnixSeconds();
    if (json) {
      std::printf("%s\n", watch::RenderJson(r, now).c_str());
    } else if (screen) {
      std::string s = "\x1b[H" + watch::RenderScreen(r, now, TerminalColumns(), title);
      s += "(" + src->events_note() + (warn.empty() ? "" : "; " + warn) +
           ")  Ctrl-C to quit\x1b[K\n\x1b[J";
      std::fputs(s.c_str(), stdout);
    } else {
      std::printf("%s\n", watch::RenderLine(r, now).c_str());
    }
    if (!warn.empty() && !screen) std::fprintf(stderr, "ctrack watch: %s\n", warn.c_str());
    std::fflush(stdout);
    if (count && n + 1 >= count) break;
    // Sleep until the next sample; a quit signal ends the loop.
    double deadline = MonotonicSeconds() + interval;
    bool quit = false;
    for (;;) {
      double left = deadline - MonotonicSeconds();
      if (left <= 0) break;
      timespec ts{static_cast<time_t>(left), static_cast<long>((left - std::floor(left)) * 1e9)};
      int sg = sigtimedwait(&sigs, nullptr, &ts);
      if (sg == SIGWINCH) continue;
      if (sg > 0) {
        quit = true;
        rc = sg == SIGINT ? 130 : 0;
        break;
      }
      if (sg < 0 && errno != EINTR) break;  // EAGAIN: time is up
    }
    if (quit) break;
  }
  if (screen) std::fputs("\x1b[?25h\x1b[?1049l", stdout);  // cursor back, main screen back
  std::fflush(stdout);
  return rc == 130 ? 0 : rc;
}

}  // namespace ctrack::cli
