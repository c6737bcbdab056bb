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

constexpr const char* kCommand = "ctrack watch";

struct WatchArgs {
  LiveFlags live;
  long count = 0;  // samples to take; 0: until a quit signal
  bool json = false;
};

// Returns -1 to go on, else the exit code.
int ParseArgs(int argc, char** argv, WatchArgs* w) {
  return ParseLiveArgs(kCommand, Usage, argc, argv, &w->live, [&](int* i) {
    std::string a = argv[*i];
    if (a == "--count") {
      w->count = static_cast<long>(FlagNumber(kCommand, argc, argv, i, 1, 1e9));
    } else if (a == "-o") {
      std::string v = FlagValue(kCommand, argc, argv, i);
      if (v != "json" && v != "text") {
        std::fprintf(stderr, "ctrack watch: -o: '%s' is not text or json\n", v.c_str());
        std::exit(2);
      }
      w->json = v == "json";
    } else {
      return false;
    }
    return true;
  });
}

// One sample on stdout: a JSON object, a redrawn screen, or a timestamped line.
void PrintSample(const WatchArgs& w, bool screen, const std::string& title, const LiveSource& src,
                 const watch::WatchReport& r, const std::string& warn) {
  double now = UnixSeconds();
  if (w.json) {
    std::printf("%s\n", watch::RenderJson(r, now).c_str());
  } else if (screen) {
    std::string s = "\x1b[H" + watch::RenderScreen(r, now, TerminalColumns(), title);
    s += "(" + src.events_note() + (warn.empty() ? "" : "; " + warn) +
         ")  Ctrl-C to quit\x1b[K\n\x1b[J";
    std::fputs(s.c_str(), stdout);
  } else {
    std::printf("%s\n", watch::RenderLine(r, now).c_str());
  }
  if (!warn.empty() && !screen) std::fprintf(stderr, "ctrack watch: %s\n", warn.c_str());
  std::fflush(stdout);
}

// Sleeps `interval` seconds; true when a quit signal of `sigs` (blocked, so taken here) came
// first. SIGWINCH only wakes the wait; the next sample redraws at the new size.
bool QuitBeforeNext(const sigset_t& sigs, double interval) {
  double deadline = MonotonicSeconds() + interval;
  for (;;) {
    double left = deadline - MonotonicSeconds();
    if (left <= 0) return false;
    timespec ts{static_cast<time_t>(left), static_cast<long>((left - std::floor(left)) * 1e9)};
    int sg = sigtimedwait(&sigs, nullptr, &ts);
    if (sg == SIGWINCH) continue;
    if (sg > 0) return true;
    if (sg < 0 && errno != EINTR) return false;  // EAGAIN: time is up
  }
}

}  // namespace

int WatchMain(int argc, char** argv) {
  WatchArgs w;
  if (int rc = ParseArgs(argc, argv, &w); rc >= 0) return rc;
  const NetnsSpec& ns = w.live.ns;
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
  auto src = LiveSource::Open(w.live.opt, &err);
  if (!src) {
    std::fprintf(stderr, "ctrack watch: %s\n", err.c_str());
    return 1;
  }
  watch::Watcher watcher(Config{}, w.live.opt.top);
  const bool screen = !w.json && isatty(STDOUT_FILENO);
  std::string title = ns.name.empty() ? (ns.pid ? "netns of pid " + std::to_string(ns.pid) : "")
                                      : "netns " + ns.name;
  if (screen) std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // alternate screen, hide cursor
  for (long n = 0; w.count == 0 || n < w.count; ++n) {
    std::string warn;
    if (!src->SampleInto(&watcher, &err, &warn)) {
      if (screen) std::fputs("\x1b[?25h\x1b[?1049l", stdout);
      std::fprintf(stderr, "ctrack watch: %s\n", err.c_str());
      return 1;
    }
    PrintSample(w, screen, title, *src, watcher.report(), warn);
    if (w.count && n + 1 >= w.count) break;
    if (QuitBeforeNext(sigs, w.live.interval)) break;  // a quit signal is a normal end: exit 0
  }
  if (screen) std::fputs("\x1b[?25h\x1b[?1049l", stdout);  // cursor back, main screen back
  std::fflush(stdout);
  return 0;
}

}  // namespace ctrack::cli
