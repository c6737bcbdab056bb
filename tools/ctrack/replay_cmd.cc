// `ctrack replay CAPTURE...`: flags -> Config -> Conntrack -> printers. No tracking logic here.
#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctrack/cli_util.h"
#include "ctrack/commands.h"
#include "format/conntrack_format.h"
#include "format/verdicts.h"
#include "io/capture.h"
#include "io/replay.h"

namespace ctrack::cli {
namespace {

constexpr const char* kUsage =
    "usage: ctrack replay [OPTIONS] CAPTURE...\n"
    "Replays pcap/pcapng captures, in order, through one connection tracking table and prints\n"
    "the table at the time of the last packet (as `conntrack -L -o extended`, sorted).\n"
    "\n"
    "Settings:\n"
    "  --set NAME=VALUE     any nf_conntrack sysctl, e.g. --set nf_conntrack_tcp_loose=0\n"
    "                       (prefix net.netfilter. optional); repeatable\n"
    "  --max N              nf_conntrack_max\n"
    "  --buckets N          nf_conntrack_buckets\n"
    "  --zone N             conntrack zone of every packet (default 0)\n"
    "  --times-from FILE    take packet i's time from column t_replay of row i of a kernel-ct\n"
    "                       verdicts.tsv ('-' keeps the previous packet's time)\n"
    "Output (stdout; -L when none is given):\n"
    "  -L, --list           the final table\n"
    "  -o, --output FMT     table format: extended (default), default (conntrack -L), proc\n"
    "                       (/proc/net/nf_conntrack), json; with -S, proc prints\n"
    "                       /proc/net/stat/nf_conntrack\n"
    "  -S, --stats          counters as `conntrack -S`\n"
    "  -C, --count          entry count as `conntrack -C`\n"
    "  --verdicts FILE      per-packet verdicts in kernel-ct's verdicts.tsv layout\n"
    "  -q, --quiet          no progress line on stderr\n"
    "  -h, --help           this text\n";

// Path of the temporary verdicts file, removed if the run is interrupted.
char g_temp_path[4096];

void OnSignal(int sig) {
  if (g_temp_path[0] != '\0') unlink(g_temp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "ctrack replay: %s\n", msg.c_str());
  return 1;
}

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "ctrack replay: %s (try 'ctrack replay --help')\n", msg.c_str());
  return 2;
}

struct Options {
  Config cfg;
  std::vector<std::string> captures;
  bool list = false;
  bool stats = false;
  bool count = false;
  bool format_given = false;
  ListFormat format = ListFormat::kExtended;
  std::string verdicts_path;
  std::string times_path;
  uint16_t zone = 0;
  bool quiet = false;
};

// Returns "" or an error; `*usage` tells a usage error (exit 2) from others.
std::string ParseArgs(int argc, char** argv, Options* o, bool* help) {
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    auto value = [&](std::string* out) -> bool {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      *help = true;
      return "";
    } else if (a == "--set") {
      if (!value(&v)) return "--set needs NAME=VALUE";
      size_t eq = v.find('=');
      if (eq == std::string::npos) return "--set " + v + ": expected NAME=VALUE";
      std::string err =
          o->cfg.Set(std::string_view(v).substr(0, eq), std::string_view(v).substr(eq + 1));
      if (!err.empty()) return "--set " + err;
    } else if (a == "--max" || a == "--buckets") {
      if (!value(&v)) return std::string(a) + " needs a value";
      std::string err = o->cfg.Set(a == "--max" ? "nf_conntrack_max" : "nf_conntrack_buckets", v);
      if (!err.empty()) return std::string(a) + ": " + err;
    } else if (a == "--zone") {
      if (!value(&v)) return "--zone needs a value";
      unsigned z = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), z);
      if (ec != std::errc() || p != v.data() + v.size() || z > 65535) {
        return "--zone: '" + v + "' is not a zone id (0..65535)";
      }
      o->zone = static_cast<uint16_t>(z);
    } else if (a == "-L" || a == "--list") {
      o->list = true;
    } else if (a == "-S" || a == "--stats") {
      o->stats = true;
    } else if (a == "-C" || a == "--count") {
      o->count = true;
    } else if (a == "-o" || a == "--output") {
      if (!value(&v)) return std::string(a) + " needs a format";
      if (!ParseListFormat(v, &o->format)) {
        return "unknown output format '" + v + "' (extended, default, proc, json)";
      }
      o->format_given = true;
    } else if (a == "--verdicts") {
      if (!value(&v)) return "--verdicts needs a file name";
      o->verdicts_path = v;
    } else if (a == "--times-from") {
      if (!value(&v)) return "--times-from needs a file name";
      o->times_path = v;
    } else if (a == "-q" || a == "--quiet") {
      o->quiet = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return "unknown option '" + std::string(a) + "'";
    } else {
      o->captures.emplace_back(a);
    }
  }
  if (o->captures.empty()) return "no capture given";
  if (!o->list && !o->stats && !o->count) o->list = true;
  return "";
}

// The --verdicts file: rows go to a temporary file beside the target (removed by OnSignal when
// the run is interrupted), renamed over the target by Commit() only.
class VerdictsFile {
 public:
  // Returns "" or an error naming the file.
  std::string Open(const std::string& path) {
    path_ = path;
    temp_ = path + ".tmpXXXXXX";
    if (temp_.size() >= sizeof g_temp_path) return path + ": name too long";
    std::memcpy(g_temp_path, temp_.c_str(), temp_.size() + 1);
    signal(SIGINT, OnSignal);
    signal(SIGTERM, OnSignal);
    int fd = mkstemp(g_temp_path);
    if (fd < 0) {
      g_temp_path[0] = '\0';
      return path + ": " + std::strerror(errno);
    }
    temp_ = g_temp_path;
    f_ = fdopen(fd, "w");
    std::fputs(VerdictsHeader(), f_);
    return "";
  }

  bool is_open() const { return f_ != nullptr; }
  void Write(const std::string& row) { std::fputs(row.c_str(), f_); }

  // Closes and removes the temporary file.
  void Abandon() {
    if (f_ == nullptr) return;
    std::fclose(f_);
    f_ = nullptr;
    unlink(temp_.c_str());
    g_temp_path[0] = '\0';
  }

  // Flushes, closes and renames over the target. Returns "" or an error (the temporary file is
  // removed then).
  std::string Commit() {
    bool bad = std::fflush(f_) != 0 || std::ferror(f_);
    bad = (std::fclose(f_) != 0) || bad;
    f_ = nullptr;
    if (bad || std::rename(temp_.c_str(), path_.c_str()) != 0) {
      std::string err = path_ + ": " + std::strerror(errno);
      unlink(temp_.c_str());
      g_temp_path[0] = '\0';
      return err;
    }
    g_temp_path[0] = '\0';
    return "";
  }

 private:
  std::string path_, temp_;
  FILE* f_ = nullptr;
};

// Opens every capture before any work so that a bad name fails fast. Returns "" or an error.
std::string OpenCaptures(const std::vector<std::string>& paths,
                         std::vector<std::unique_ptr<CaptureReader>>* owned,
                         std::vector<CaptureReader*>* readers) {
  for (const std::string& path : paths) {
    owned->push_back(std::make_unique<CaptureReader>());
    readers->push_back(owned->back().get());
    if (std::string err = readers->back()->Open(path); !err.empty()) return err;
  }
  return "";
}

// Where the replay ended: packets read and the time of the last one.
struct ReplayEnd {
  uint64_t packets = 0;
  Timestamp now = 0;
};

// Runs every packet of `readers` through `ct`, with a verdict row each into *vf when it is open.
// Returns "" or the replay's error.
std::string Track(const Options& o, const ReplayTimes* times,
                  const std::vector<CaptureReader*>& readers, Conntrack* ct, VerdictsFile* vf,
                  Progress* progress, ReplayEnd* end) {
  Timestamp first_ts = 0;
  std::string row;
  return Replay(readers, times, o.times_path, [&](const ReplayPacket& p) {
    const CaptureRecord& rec = p.rec;
    const Timestamp now = end->now = p.now;
    if (p.index == 0) first_ts = o.times_path.empty() ? rec.ts : 0;
    const FrameFacts facts = DecodeFrame(rec.linktype, rec.data, rec.caplen, rec.wirelen);
    PacketResult r = ct->Process(facts, now, o.zone);
    if (vf->is_open()) {
      ConnInfo ci;
      bool have = r.conn != kNoConn && ct->Get(r.conn, now, &ci);
      FrameInfo fi = DescribeFrame(facts);
      row = FormatVerdictRow(p.index, r, have ? &ci : nullptr, fi, rec.caplen < rec.wirelen,
                             now - first_ts);
      vf->Write(row);
    }
    end->packets = p.index + 1;
    if ((end->packets & 0xfff) == 0) progress->Tick(end->packets);
  });
}

// The table (-L), counters (-S) and count (-C) at `now`, in that order, on stdout.
int PrintResults(const Options& o, Conntrack* ct, Timestamp now) {
  std::string out;
  if (o.list) {
    // A listing reaps what has expired by now, as a ctnetlink dump does.
    ct->ExpireAll(now);
    std::vector<ConnInfo> entries;
    ct->ForEach(now, [&](const ConnInfo& ci) { entries.push_back(ci); });
    out += FormatTable(entries, o.format);
  }
  if (o.stats) {
    out += (o.format_given && o.format == ListFormat::kProc)
               ? FormatProcStat(ct->stats(), ct->count())
               : FormatConntrackStats(ct->stats());
  }
  if (o.count) out += FormatConntrackCount(ct->count());
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return Fail(std::string("standard output: ") + std::strerror(errno));
  }
  return 0;
}

}  // namespace

int ReplayMain(int argc, char** argv) {
  Options o;
  bool help = false;
  if (std::string err = ParseArgs(argc, argv, &o, &help); !err.empty()) return UsageError(err);
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (std::string err = o.cfg.Validate(); !err.empty()) return UsageError(err);

  ReplayTimes times;
  if (!o.times_path.empty()) {
    if (std::string err = LoadReplayTimes(o.times_path, &times); !err.empty()) return Fail(err);
  }
  std::vector<std::unique_ptr<CaptureReader>> owned;
  std::vector<CaptureReader*> readers;
  if (std::string err = OpenCaptures(o.captures, &owned, &readers); !err.empty()) return Fail(err);
  VerdictsFile vf;
  if (!o.verdicts_path.empty()) {
    if (std::string err = vf.Open(o.verdicts_path); !err.empty()) return Fail(err);
  }

  Conntrack ct(o.cfg);
  Progress progress("ctrack replay", !o.quiet && isatty(STDERR_FILENO));
  ReplayEnd end;
  std::string replay_err =
      Track(o, o.times_path.empty() ? nullptr : &times, readers, &ct, &vf, &progress, &end);
  if (!replay_err.empty()) {
    progress.Done();
    vf.Abandon();
    return Fail(replay_err);
  }
  for (const CaptureReader* reader : readers) {
    if (!reader->warning().empty()) {
      std::fprintf(stderr, "ctrack replay: warning: %s\n", reader->warning().c_str());
    }
  }
  progress.Done(end.packets);
  if (vf.is_open()) {
    if (std::string err = vf.Commit(); !err.empty()) return Fail(err);
  }
  return PrintResults(o, &ct, end.now);
}

}  // namespace ctrack::cli
