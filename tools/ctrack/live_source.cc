#include "ctrack/live_source.h"

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ctrack/cli_util.h"

namespace ctrack::cli {

double MonotonicSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

double UnixSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

int ParseNetnsFlag(int argc, char** argv, int* i, NetnsSpec* ns, std::string* err) {
  const char* a = argv[*i];
  bool by_name = std::strcmp(a, "--netns") == 0, by_pid = std::strcmp(a, "--netns-pid") == 0;
  if (!by_name && !by_pid) return 0;
  if (*i + 1 >= argc) {
    *err = std::string(a) + " needs a value";
    return -1;
  }
  const char* v = argv[++*i];
  if (by_name) {
    if (!*v || std::strchr(v, '/') || std::strcmp(v, ".") == 0 || std::strcmp(v, "..") == 0) {
      *err = std::string("--netns: bad namespace name '") + v + "'";
      return -1;
    }
    ns->name = v;
  } else {
    char* end = nullptr;
    long pid = std::strtol(v, &end, 10);
    if (!*v || *end || pid <= 0 || pid > 0x3fffffff) {
      *err = std::string("--netns-pid: bad pid '") + v + "'";
      return -1;
    }
    ns->pid = static_cast<int>(pid);
  }
  return 1;
}

bool ParseLiveFlag(const char* command, int argc, char** argv, int* i, LiveFlags* flags) {
  std::string err;
  int r = ParseNetnsFlag(argc, argv, i, &flags->ns, &err);
  if (r < 0) {
    std::fprintf(stderr, "%s: %s\n", command, err.c_str());
    std::exit(2);
  }
  if (r > 0) return true;
  const char* a = argv[*i];
  if (std::strcmp(a, "--interval") == 0) {
    flags->interval = FlagNumber(command, argc, argv, i, 0.2, 3600);
  } else if (std::strcmp(a, "--top") == 0) {
    flags->opt.top = static_cast<uint32_t>(FlagNumber(command, argc, argv, i, 1, 100));
  } else if (std::strcmp(a, "--no-dump") == 0) {
    flags->opt.dump = false;
  } else if (std::strcmp(a, "--no-events") == 0) {
    flags->opt.events = false;
  } else {
    return false;
  }
  return true;
}

std::unique_ptr<LiveSource> LiveSource::Open(const LiveOptions& opt, std::string* err) {
  std::unique_ptr<LiveSource> s(new LiveSource());
  s->opt_ = opt;
  s->reader_ = HostReader::Open(err);
  if (!s->reader_) return nullptr;
  if (opt.events) {
    std::string e;
    s->events_ = EventCounter::Start(&e);
    s->events_note_ = s->events_ ? "events" : e;
  } else {
    s->events_note_ = "events off (--no-events)";
  }
  return s;
}

bool LiveSource::SampleInto(watch::Watcher* w, std::string* err, std::string* warn, double* wall) {
  watch::Sample s;
  // Timeouts first: the dump's histograms are sized by them.
  HostFacts f = ReadHostFacts(/*rules=*/false, /*kmsg=*/false);
  if (!f.module_loaded) {
    *err = "nf_conntrack is not loaded (no /proc/sys/net/netfilter/nf_conntrack_max)";
    return false;
  }
  // The namespace's own timeouts: every sysctl the engine knows by name.
  Config cfg;
  for (const auto& [name, value] : f.sysctls) (void)cfg.Set(name, value);
  w->SetTimeouts(cfg);
  // The dump first, then the count and counters: the sample describes the instant the dump
  // ended (entries dumped early are at most one dump duration older).
  if (opt_.dump) {
    w->BeginTable();
    DumpResult d =
        reader_->DumpTable([&] { w->BeginTable(); }, [&](const ConnInfo& ci) { w->AddEntry(ci); });
    ++dumps_;
    if (d.error.empty()) {
      s.has_table = true;
    } else {
      w->BeginTable();
      *warn = "table dump: " + d.error;
    }
  }
  s.t = MonotonicSeconds();
  if (wall) *wall = UnixSeconds();
  uint32_t count = 0, max = 0;
  std::string e;
  if (reader_->Count(&count, &max, &e)) {
    s.count = count;
    s.max = max;
  } else if (f.count && f.max) {
    s.count = *f.count;
    s.max = *f.max;
  } else {
    *err = e;
    return false;
  }
  s.buckets = f.buckets.value_or(0);
  std::vector<CpuStats> cpus;
  if (reader_->StatsPerCpu(&cpus, &e)) {
    s.has_stats = true;
    for (const CpuStats& c : cpus) {
      s.stats.found += c.st.found;
      s.stats.invalid += c.st.invalid;
      s.stats.insert += c.st.insert;
      s.stats.insert_failed += c.st.insert_failed;
      s.stats.drop += c.st.drop;
      s.stats.early_drop += c.st.early_drop;
      s.stats.error += c.st.error;
      s.stats.search_restart += c.st.search_restart;
      s.stats.clash_resolve += c.st.clash_resolve;
      s.stats.chaintoolong += c.st.chaintoolong;
    }
  }
  for (size_t k = 0; k < f.proc_stat_fields.size(); ++k) {
    if (f.proc_stat_fields[k] != "ignore") continue;
    for (const auto& row : f.proc_stat_cpus)
      if (k < row.size()) s.ignore += row[k];
  }
  if (f.slab.present) s.entry_bytes = f.slab.objsize;
  if (events_) {
    EventTotals et = events_->totals();
    s.has_events = true;
    s.events_new = et.new_events;
    s.events_destroy = et.destroy_events;
    s.events_overrun = et.overruns;
  }
  w->Observe(s);
  return true;
}

}  // namespace ctrack::cli
