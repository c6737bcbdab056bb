// One live sample of the kernel's table for `ctrack watch` and `ctrack exporter`: the count and
// limit, the per-CPU counters, the namespace's timeouts (its own sysctls), one streamed table
// dump fed to a Watcher (no copy of the table is kept), and the NEW/DESTROY event totals when the
// process may subscribe. Everything reads; nothing changes the host.
#ifndef CTRACK_TOOLS_LIVE_SOURCE_H_
#define CTRACK_TOOLS_LIVE_SOURCE_H_

#include <ctrack/config.h>
#include <ctrack/host.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "host/events.h"
#include "sim/forecast.h"

namespace ctrack::cli {

struct LiveOptions {
  bool dump = true;    // false: count and counters only (no per-state view, trend forecast)
  bool events = true;  // subscribe to NEW/DESTROY events when permitted
  uint32_t top = 10;   // rows of the source and port tops
};

// Parses --netns NAME / --netns-pid PID at argv[*i] (advancing *i). Returns 1 when consumed, 0
// when argv[*i] is neither, -1 on a bad value (message in *err).
int ParseNetnsFlag(int argc, char** argv, int* i, NetnsSpec* ns, std::string* err);

// The flags every live command (watch, exporter) takes, with the command's defaults filled in
// before parsing: --netns NAME | --netns-pid PID, --interval S, --top K, --no-dump, --no-events.
struct LiveFlags {
  NetnsSpec ns;
  LiveOptions opt;
  double interval = 2;  // seconds between samples
};

// Takes argv[*i] when it is one of the LiveFlags (advancing *i past its value); false when it is
// not. A missing or bad value ends the process with one line and exit 2, as FlagValue() does.
bool ParseLiveFlag(const char* command, int argc, char** argv, int* i, LiveFlags* flags);

// The argument loop of a live command `command` ("ctrack watch"): -h/--help prints `usage` to
// stdout, the shared flags go into *flags, anything else to `own(&i)`, which returns true when
// it took argv[i] (advancing i past a value). Returns -1 when the command should go on, else its
// exit code: 0 after --help, 2 for an unknown argument.
template <typename OwnFlag>
int ParseLiveArgs(const char* command, void (*usage)(std::FILE*), int argc, char** argv,
                  LiveFlags* flags, OwnFlag own) {
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (ParseLiveFlag(command, argc, argv, &i, flags) || own(&i)) continue;
    std::fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", command, argv[i]);
    return 2;
  }
  return -1;
}

class LiveSource {
 public:
  // Call after EnterNetns(). Fails only when ctnetlink cannot be opened at all.
  static std::unique_ptr<LiveSource> Open(const LiveOptions& opt, std::string* err);
  // Takes one sample into `w`, timed at the end of its dump, when the count is read; *wall (when
  // not null) gets that instant's wall time, which is what the sample's forecast counts from.
  // False with *err when nothing could be read; a failed dump alone degrades to count-only for
  // that sample (noted in *warn).
  bool SampleInto(watch::Watcher* w, std::string* err, std::string* warn, double* wall = nullptr);
  // "events", or why events are not used.
  const std::string& events_note() const { return events_note_; }
  uint64_t dumps() const { return dumps_; }

 private:
  LiveSource() = default;
  LiveOptions opt_;
  std::unique_ptr<HostReader> reader_;
  std::unique_ptr<EventCounter> events_;
  std::string events_note_;
  uint64_t dumps_ = 0;
};

double MonotonicSeconds();
double UnixSeconds();

}  // namespace ctrack::cli

#endif  // CTRACK_TOOLS_LIVE_SOURCE_H_
