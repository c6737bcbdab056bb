// `ctrack status` and `ctrack snapshot`: the running kernel's table, read through the host layer
// (ctnetlink, /proc, /sys, kernel log, rules), analysed by the simulator's streaming breakdowns
// and printed by the same printers as a replay. Nothing here changes the host.
#include <ctrack/config.h>
#include <ctrack/host.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "ctrack/commands.h"
#include "format/conntrack_format.h"
#include "format/snapshot.h"
#include "format/text.h"
#include "sim/breakdown.h"
#include "sim/sim.h"

namespace ctrack::cli {
namespace {

constexpr const char* kStatusUsage =
    "usage: ctrack status [OPTIONS]\n"
    "One screen on the running kernel's connection tracking table, then exit: count, max and\n"
    "fill; buckets and chain depth; kernel memory now and at max; drop, early_drop,\n"
    "insert_failed and invalid with rates since boot; recent 'table full' kernel messages; who\n"
    "fills the table (state, protocol, zone, source and destination /24 or /64, destination\n"
    "port, heaviest sources); stale and orphaned entries; the rules that make the kernel track;\n"
    "then a verdict (ok / warning / critical) and numbered findings, each with the commands that\n"
    "would fix it and what they cost. It prints commands; it changes nothing on the host.\n"
    "\n"
    "Where:\n"
    "  --netns NAME         a network namespace as `ip netns` names it\n"
    "  --netns-pid PID      the network namespace of process PID\n"
    "Output:\n"
    "  -o json              the whole report as one JSON object\n"
    "  --top N              rows per breakdown (default 10)\n"
    "  --stale-factor X     UDP [UNREPLIED] older than X udp timeouts is stale (default 3;\n"
    "                       needs nf_conntrack_timestamp=1 for the age)\n"
    "  --orphan-idle S      TCP idle longer than S seconds is orphaned (default 600)\n"
    "  --examples N         example entries per stale class (default 3)\n"
    "  --no-rules           do not run nft / iptables-save\n"
    "  --no-kmsg            do not read the kernel log\n"
    "As conntrack (same output, so scripts can switch):\n"
    "  -L [-o extended|default|proc|json]   the table, as `conntrack -L [-o extended]`\n"
    "  -S                   per-CPU counters, as `conntrack -S`\n"
    "  -C                   the entry count, as `conntrack -C`\n"
    "  --raw-dump           only count a ctnetlink dump's messages (the kernel's floor; bench)\n"
    "  -h, --help           this text\n"
    "Needs CAP_NET_ADMIN for ctnetlink; without it, the /proc sources are shown.\n";

constexpr const char* kSnapshotUsage =
    "usage: ctrack snapshot [--netns NAME | --netns-pid PID] -o FILE\n"
    "Writes the running kernel's table, counters and every net.netfilter sysctl to FILE (ctrack\n"
    "snapshot JSON lines, docs/snapshot-format.md; '-' for stdout), for `ctrack simulate\n"
    "--from-snapshot FILE` on another machine. The file appears only when complete.\n"
    "  --netns NAME, --netns-pid PID   as ctrack status\n"
    "  -h, --help           this text\n";

struct Opts {
  NetnsSpec ns;
  bool list = false, stats = false, count = false, json = false, raw = false;
  bool rules = true, kmsg = true;
  ListFormat fmt = ListFormat::kExtended;
  bool fmt_given = false;
  uint32_t top = 10;
  double stale_factor = 3, orphan_idle_s = 600;
  uint32_t examples = 3;
  std::string out;
};

int Fail(const char* cmd, const std::string& msg) {
  std::fprintf(stderr, "ctrack %s: %s\n", cmd, msg.c_str());
  return 1;
}

bool ParseU32(const char* s, uint32_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(s, &end, 10);
  if (errno || end == s || *end || v > 0xffffffffu) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Returns -1 to continue, else an exit code.
int ParseArgs(const char* cmd, const char* usage, int argc, char** argv, Opts* o) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* what) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)what;
      return argv[++i];
    };
    const char* v = nullptr;
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      return 0;
    } else if (a == "--netns") {
      if (!(v = need("NAME"))) return Fail(cmd, "--netns needs a NAME") + 1;
      o->ns.name = v;
    } else if (a == "--netns-pid") {
      uint32_t pid;
      if (!(v = need("PID")) || !ParseU32(v, &pid) || pid == 0) {
        return Fail(cmd, "--netns-pid needs a process id") + 1;
      }
      o->ns.pid = static_cast<int>(pid);
    } else if (a == "-L" || a == "--list" || a == "--dump") {
      o->list = true;
    } else if (a == "-S" || a == "--stats") {
      o->stats = true;
    } else if (a == "-C" || a == "--count") {
      o->count = true;
    } else if (a == "--raw-dump") {
      o->raw = true;
    } else if (a == "-o" || a == "--output") {
      if (!(v = need("FMT"))) return Fail(cmd, a + " needs a value") + 1;
      o->out = v;
    } else if (a == "--top") {
      if (!(v = need("N")) || !ParseU32(v, &o->top)) return Fail(cmd, "--top needs N") + 1;
    } else if (a == "--examples") {
      if (!(v = need("N")) || !ParseU32(v, &o->examples)) {
        return Fail(cmd, "--examples needs N") + 1;
      }
    } else if (a == "--stale-factor" || a == "--orphan-idle") {
      char* end = nullptr;
      if (!(v = need("X"))) return Fail(cmd, a + " needs a number") + 1;
      double d = std::strtod(v, &end);
      if (end == v || *end || !(d > 0)) return Fail(cmd, a + " needs a positive number") + 1;
      (a == "--stale-factor" ? o->stale_factor : o->orphan_idle_s) = d;
    } else if (a == "--no-rules") {
      o->rules = false;
    } else if (a == "--no-kmsg") {
      o->kmsg = false;
    } else {
      return Fail(cmd, "unknown argument '" + a + "' (try --help)") + 1;
    }
  }
  if (!o->ns.name.empty() && o->ns.pid) return Fail(cmd, "--netns and --netns-pid together") + 1;
  return -1;
}

// --- small output helpers --------------------------------------------------------------------

std::string Bytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  } else if (b >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.0f KiB", b / 1024.0);
  }
  return buf;
}

uint64_t RoundUp(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }
uint64_t Pow2AtLeast(uint64_t v) {
  uint64_t p = 1024;
  while (p < v) p <<= 1;
  return p;
}

std::string SysctlValue(const HostFacts& f, const std::string& name) {
  for (const auto& [k, v] : f.sysctls) {
    if (k == name) return v;
  }
  return "";
}

Stats SumCpus(const std::vector<CpuStats>& cpus) {
  Stats t;
  for (const CpuStats& c : cpus) {
    t.found += c.st.found;
    t.invalid += c.st.invalid;
    t.insert += c.st.insert;
    t.insert_failed += c.st.insert_failed;
    t.drop += c.st.drop;
    t.early_drop += c.st.early_drop;
    t.error += c.st.error;
    t.search_restart += c.st.search_restart;
    t.clash_resolve += c.st.clash_resolve;
    t.chaintoolong += c.st.chaintoolong;
  }
  return t;
}

// The counters per CPU from /proc/net/stat/nf_conntrack, for when ctnetlink is refused.
std::vector<CpuStats> CpusFromProc(const HostFacts& f) {
  std::vector<CpuStats> out;
  for (size_t c = 0; c < f.proc_stat_cpus.size(); ++c) {
    CpuStats cs;
    cs.cpu = static_cast<uint32_t>(c);
    for (size_t i = 0; i < f.proc_stat_fields.size(); ++i) {
      const std::string& n = f.proc_stat_fields[i];
      uint64_t v = f.proc_stat_cpus[c][i];
      if (n == "found") cs.st.found = v;
      if (n == "invalid") cs.st.invalid = v;
      if (n == "insert") cs.st.insert = v;
      if (n == "insert_failed") cs.st.insert_failed = v;
      if (n == "drop") cs.st.drop = v;
      if (n == "early_drop") cs.st.early_drop = v;
      if (n == "icmp_error") cs.st.error = v;
      if (n == "search_restart") cs.st.search_restart = v;
      if (n == "clashres") cs.st.clash_resolve = v;
      if (n == "chainlength") cs.st.chaintoolong = v;
    }
    out.push_back(cs);
  }
  return out;
}

std::string FormatCpuLine(const CpuStats& c) {
  // conntrack -S: "cpu=%-4u\t" then the counters.
  std::string line = FormatConntrackStats(c.st);
  char head[32];
  std::snprintf(head, sizeof head, "cpu=%-4u", c.cpu);
  return head + line.substr(std::strlen("cpu=0   "));
}

uint64_t NowRealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool IsPermission(const std::string& e) {
  return e.find("Operation not permitted") != std::string::npos ||
         e.find("Permission denied") != std::string::npos;
}

const char* kCapLine =
    "ctnetlink refused: reading the table needs CAP_NET_ADMIN (run as root); still shown from "
    "/proc: count, max, buckets, per-CPU counters, sysctls";

// --- conntrack-compatible modes ----------------------------------------------------------------

int RunCompat(const Opts& o) {
  std::string err;
  std::unique_ptr<HostReader> r = HostReader::Open(&err);
  if (!r) return Fail("status", err);
  int rc = 0;
  if (o.raw) {
    DumpResult d = r->DumpCountOnly();
    if (!d.error.empty()) return Fail("status", d.error);
    std::printf("%" PRIu64 "\n", d.messages);
    return 0;
  }
  if (o.list) {
    // Streams: each entry is printed as it is decoded, in the kernel's dump order (as
    // conntrack -L). Output is buffered; a failed dump exits non-zero after what was printed.
    static char obuf[1 << 16];
    std::setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    std::string line;
    DumpResult d = r->DumpTable(
        nullptr,
        [&](const ConnInfo& ci) {
          switch (o.fmt) {
            case ListFormat::kDefault:
              line = FormatConntrackLine(ci, false);
              break;
            case ListFormat::kProc:
              line = FormatProcLine(ci);
              break;
            case ListFormat::kJson:
              line = FormatJsonLine(ci);
              break;
            default:
              line = FormatConntrackLine(ci, true);
              break;
          }
          line += '\n';
          std::fwrite(line.data(), 1, line.size(), stdout);
        },
        0);
    std::fflush(stdout);
    if (!d.error.empty()) {
      return Fail("status", IsPermission(d.error) ? std::string(kCapLine) : d.error);
    }
    std::fprintf(stderr,
                 "conntrack v1.4.7 (conntrack-tools): %" PRIu64 " flow entries have been shown.\n",
                 d.entries);
  }
  if (o.stats) {
    std::vector<CpuStats> cpus;
    if (!r->StatsPerCpu(&cpus, &err)) {
      if (!IsPermission(err)) return Fail("status", err);
      std::fprintf(stderr, "ctrack status: %s\n", kCapLine);
      HostFacts f = ReadHostFacts(false, false);
      if (!f.proc_stat_error.empty()) return Fail("status", f.proc_stat_error);
      cpus = CpusFromProc(f);
      rc = 0;
    }
    for (const CpuStats& c : cpus) std::fputs(FormatCpuLine(c).c_str(), stdout);
  }
  if (o.count) {
    uint32_t count = 0, max = 0;
    if (!r->Count(&count, &max, &err)) {
      if (!IsPermission(err)) return Fail("status", err);
      std::fprintf(stderr, "ctrack status: %s\n", kCapLine);
      HostFacts f = ReadHostFacts(false, false);
      if (!f.count) return Fail("status", "nf_conntrack_count unreadable");
      count = static_cast<uint32_t>(*f.count);
    }
    std::fputs(FormatConntrackCount(count).c_str(), stdout);
  }
  return rc;
}

// --- the status report ------------------------------------------------------------------------

struct Finding {
  std::string severity;  // "critical", "warning", "info"
  std::string title;
  std::vector<std::string> commands;
  std::string cost;
};

int Rank(const std::string& s) { return s == "critical" ? 2 : s == "warning" ? 1 : 0; }

struct Live {
  HostFacts facts;
  bool have_netlink = false;
  std::string netlink_error;
  uint32_t count = 0, max = 0;
  std::vector<CpuStats> cpus;
  Stats total;
  std::unique_ptr<TableBreakdown> bd;
  DumpResult dump;
  Config cfg;
};

Config ConfigFromSysctls(const HostFacts& f) {
  Config c;
  for (const auto& [k, v] : f.sysctls) (void)c.Set(k, v);  // names the engine lacks are skipped
  return c;
}

void Collect(const Opts& o, Live* L) {
  L->facts = ReadHostFacts(o.rules, o.kmsg);
  L->cfg = ConfigFromSysctls(L->facts);
  L->bd = std::make_unique<TableBreakdown>(L->cfg, o.stale_factor, o.orphan_idle_s, o.examples);
  if (!L->facts.module_loaded) return;
  std::string err;
  std::unique_ptr<HostReader> r = HostReader::Open(&err);
  if (!r) {
    L->netlink_error = err;
  } else if (!r->Count(&L->count, &L->max, &err) || !r->StatsPerCpu(&L->cpus, &err)) {
    L->netlink_error = err;
  } else {
    uint64_t now = NowRealtimeNs();
    TableBreakdown* bd = L->bd.get();
    L->dump = r->DumpTable([bd] { bd->Reset(); },
                           [bd, now](const ConnInfo& ci) { bd->AddLive(ci, now); });
    if (!L->dump.error.empty()) {
      L->netlink_error = L->dump.error;
    } else {
      L->have_netlink = true;
    }
  }
  if (!L->have_netlink) {
    if (L->facts.count) L->count = static_cast<uint32_t>(*L->facts.count);
    if (L->facts.max) L->max = static_cast<uint32_t>(*L->facts.max);
    if (L->cpus.empty()) L->cpus = CpusFromProc(L->facts);
  }
  L->total = SumCpus(L->cpus);
}

struct Derived {
  uint64_t buckets = 0;
  double fill = 0;
  double depth_now = 0, depth_max = 0;
  uint32_t objsize = 256;
  uint32_t ext = 0;  // per-entry extension bytes (acct / timestamp)
  uint64_t mem_now = 0, mem_max = 0;
  bool init_netns = true;
};

Derived Derive(const Live& L) {
  Derived d;
  d.buckets = L.facts.buckets.value_or(L.facts.hashsize.value_or(0));
  d.fill = L.max ? static_cast<double>(L.count) / L.max : 0;
  if (d.buckets) {
    d.depth_now = 2.0 * L.count / static_cast<double>(d.buckets);
    d.depth_max = 2.0 * L.max / static_cast<double>(d.buckets);
  }
  if (L.facts.slab.present && L.facts.slab.objsize) d.objsize = L.facts.slab.objsize;
  bool acct = SysctlValue(L.facts, "nf_conntrack_acct") == "1";
  bool ts = SysctlValue(L.facts, "nf_conntrack_timestamp") == "1";
  d.ext = (acct || ts) ? 128 : 0;
  uint64_t per = d.objsize + d.ext;
  // The slab is global (every namespace); this namespace's share is its count.
  d.mem_now = L.count * per + d.buckets * 8;
  d.mem_max = static_cast<uint64_t>(L.max) * per + d.buckets * 8;
  // nf_conntrack_max is writable only in the initial namespace.
  d.init_netns = access("/proc/sys/net/nf_conntrack_max", F_OK) == 0;
  return d;
}

// What the finding rules read. `where` is appended to a finding whose fix only the initial
// namespace can apply.
struct FindingInputs {
  const Opts& o;
  const Live& L;
  const Derived& d;
  std::string where;
  uint64_t per;   // kernel bytes per entry
  bool pressure;  // the table is near full, or has dropped or early-dropped
};

using FindingRule = void (*)(const FindingInputs& in, std::vector<Finding>* out);

void NoNetlinkFinding(const FindingInputs& in, std::vector<Finding>* out) {
  if (in.L.have_netlink) return;
  out->push_back(
      {"warning",
       IsPermission(in.L.netlink_error) ? kCapLine : "ctnetlink unavailable: " + in.L.netlink_error,
       {},
       "the breakdowns and stale detectors need the entries"});
}

// The two lines that set the hash size now and at the next module load.
void AddHashsizeCommands(uint64_t buckets, Finding* f) {
  f->commands.push_back("echo " + std::to_string(buckets) +
                        " > /sys/module/nf_conntrack/parameters/hashsize");
  f->commands.push_back("echo 'options nf_conntrack hashsize=" + std::to_string(buckets) +
                        "' > /etc/modprobe.d/nf_conntrack.conf");
}

// Under pressure: double nf_conntrack_max, and the buckets to keep chains short at the new max.
void RaiseMaxFindings(const FindingInputs& in, std::vector<Finding>* out) {
  const Live& L = in.L;
  const Derived& d = in.d;
  const HostFacts& f = L.facts;
  bool full_recent = false;
  for (const TableFullLine& l : f.table_full) {
    if (f.uptime_s - l.seconds_since_boot < 3600) full_recent = true;
  }
  std::string sev = (d.fill >= 0.9 || full_recent || L.total.drop > 0) ? "critical" : "warning";
  uint64_t want = std::max<uint64_t>(static_cast<uint64_t>(L.count) * 2, uint64_t{L.max} * 2);
  want = RoundUp(want, 1024);
  char title[512];
  std::snprintf(title, sizeof title,
                "table %.0f%% full (%u of %u); drop=%" PRIu64 " early_drop=%" PRIu64
                ", %zu table-full message(s): raise nf_conntrack_max to %" PRIu64 "%s",
                d.fill * 100, L.count, L.max, L.total.drop, L.total.early_drop, f.table_full.size(),
                want, in.where.c_str());
  Finding fd{sev, title, {}, ""};
  fd.commands.push_back("sysctl -w net.netfilter.nf_conntrack_max=" + std::to_string(want));
  fd.commands.push_back("echo 'net.netfilter.nf_conntrack_max = " + std::to_string(want) +
                        "' > /etc/sysctl.d/90-conntrack.conf");
  fd.cost = "up to " + Bytes(static_cast<double>((want - L.max) * in.per)) +
            " more kernel memory when full (" + std::to_string(in.per) + " B per entry)";
  out->push_back(fd);
  uint64_t want_b = Pow2AtLeast(want / 2);
  if (!d.buckets || d.buckets >= want_b) return;
  Finding fb{"warning",
             "hash buckets " + std::to_string(d.buckets) + " for max " + std::to_string(want) +
                 " would mean " + std::to_string(2 * want / d.buckets) +
                 " nodes per bucket when full: raise the hash size to " + std::to_string(want_b) +
                 in.where,
             {},
             ""};
  AddHashsizeCommands(want_b, &fb);
  fb.cost = Bytes(static_cast<double>((want_b - d.buckets) * 8)) +
            " more (8 B per bucket); resizing rehashes every entry once";
  out->push_back(fb);
}

// Without pressure: chains deeper than 8 nodes once the table fills at the current max.
void BucketDepthFinding(const FindingInputs& in, std::vector<Finding>* out) {
  const Live& L = in.L;
  const Derived& d = in.d;
  uint64_t want_b = Pow2AtLeast(L.max / 2);
  Finding fb{"warning",
             "nf_conntrack_max " + std::to_string(L.max) + " over " + std::to_string(d.buckets) +
                 " buckets: " + std::to_string(static_cast<int>(d.depth_max)) +
                 " nodes per bucket when full (rule of thumb: buckets >= max/2)" + in.where,
             {},
             ""};
  AddHashsizeCommands(want_b, &fb);
  fb.cost = Bytes(static_cast<double>((want_b > d.buckets ? want_b - d.buckets : 0) * 8)) +
            " more (8 B per bucket)";
  out->push_back(fb);
}

void LimitFindings(const FindingInputs& in, std::vector<Finding>* out) {
  if (in.pressure && in.L.max) {
    RaiseMaxFindings(in, out);
  } else if (in.d.buckets && in.d.depth_max > 8) {
    BucketDepthFinding(in, out);
  }
}

void InsertFailedFinding(const FindingInputs& in, std::vector<Finding>* out) {
  const Stats& t = in.L.total;
  if (t.insert_failed == 0) return;
  out->push_back({"warning",
                  "insert_failed=" + std::to_string(t.insert_failed) +
                      ": confirmations lost a race (parallel packets of one new flow, often UDP "
                      "DNS A+AAAA through NAT); chaintoolong=" +
                      std::to_string(t.chaintoolong),
                  {"# DNS clients: options single-request-reopen in /etc/resolv.conf"},
                  "none on the kernel"});
}

// Heavy UDP destination ports: candidates for NOTRACK (DNS above all).
void NotrackFindings(const FindingInputs& in, std::vector<Finding>* out) {
  uint64_t n = in.L.bd->entries();
  if (!in.L.have_netlink || n < 100) return;
  for (const auto& [name, cnt] : in.L.bd->Result(5).dst_port) {
    if (name.rfind("udp/", 0) != 0) continue;
    double share = static_cast<double>(cnt) / static_cast<double>(n);
    if (share < 0.2) continue;
    std::string port = name.substr(4);
    Finding fn{share >= 0.5 ? "warning" : "info",
               std::to_string(cnt) + " entries (" + std::to_string(static_cast<int>(share * 100)) +
                   "%) are UDP to port " + port + (port == "53" ? " (DNS)" : "") +
                   ": if no rule needs them tracked (no NAT, no ct state match on them), "
                   "exempt them from tracking",
               {},
               ""};
    fn.commands.push_back(
        "nft add table inet raw_notrack; nft add chain inet raw_notrack pre '{ type filter "
        "hook prerouting priority raw; }'; nft add chain inet raw_notrack out '{ type filter "
        "hook output priority raw; }'");
    fn.commands.push_back("nft add rule inet raw_notrack pre udp dport " + port +
                          " notrack; nft add rule inet raw_notrack out udp sport " + port +
                          " notrack");
    fn.commands.push_back("iptables -t raw -A PREROUTING -p udp --dport " + port +
                          " -j NOTRACK; iptables -t raw -A OUTPUT -p udp --sport " + port +
                          " -j NOTRACK  (and ip6tables)");
    fn.cost = "frees up to " + Bytes(static_cast<double>(cnt * in.per)) +
              "; those packets then match only `ct state untracked`";
    out->push_back(fn);
  }
}

// The timeout that bounds each stale class, and what shortening it costs. The last row (no
// name) is the UDP class's.
struct StaleFix {
  const char* name;
  std::vector<const char*> commands;
  const char* cost;
};

const std::vector<StaleFix>& StaleFixes() {
  static const std::vector<StaleFix> kFixes = {
      {"tcp_idle_established",
       {"sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400",
        "echo 'net.netfilter.nf_conntrack_tcp_timeout_established = 86400' >> "
        "/etc/sysctl.d/90-conntrack.conf"},
       "none in memory; idle TCP flows over a day lose their state (keepalives keep live ones)"},
      {"tcp_syn_only",
       {"sysctl -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent=30"},
       "none in memory; handshakes slower than 30 s fail"},
      {"tcp_half_closed",
       {"sysctl -w net.netfilter.nf_conntrack_tcp_timeout_close_wait=30",
        "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_fin_wait=30"},
       "none in memory"},
      {nullptr,
       {"sysctl -w net.netfilter.nf_conntrack_udp_timeout=10"},
       "none in memory; UDP answers later than 10 s start a new entry"},
  };
  return kFixes;
}

void StaleFindings(const FindingInputs& in, std::vector<Finding>* out) {
  uint64_t n = in.L.bd->entries();
  for (const StaleClass& s : in.L.bd->Stale()) {
    if (!s.count || n == 0) continue;
    double share = static_cast<double>(s.count) / static_cast<double>(n);
    Finding fs{share >= 0.25 ? "warning" : "info",
               std::to_string(s.count) + " " + s.name + ": " + s.description,
               {},
               ""};
    const StaleFix* fix = &StaleFixes().back();
    for (const StaleFix& x : StaleFixes()) {
      if (x.name && s.name == x.name) fix = &x;
    }
    for (const char* c : fix->commands) fs.commands.push_back(c);
    fs.cost = fix->cost;
    for (const std::string& e : s.examples) fs.commands.push_back("# e.g. " + e);
    out->push_back(fs);
  }
}

// No rule that makes the kernel track: an empty table is expected, a full one is a surprise.
void TrackingRuleFindings(const FindingInputs& in, std::vector<Finding>* out) {
  const RuleFacts& r = in.L.facts.rules;
  if (!in.o.rules || !r.tracking.empty()) return;
  if (in.L.count == 0) {
    out->push_back({"info",
                    "no rule makes the kernel track in this namespace (no nft ct / nat rule" +
                        std::string(r.iptables_available ? ", no iptables state/conntrack/nat"
                                                         : "; iptables-save not available") +
                        "): the table stays empty",
                    {},
                    "none"});
  } else {
    out->push_back(
        {"info",
         std::to_string(in.L.count) + " entries but no tracking rule found" +
             (r.iptables_available ? ""
                                   : " (iptables-save not available: " + r.iptables_error + ")") +
             ": something else (OVS, a helper, a legacy table) enables tracking",
         {},
         "none"});
  }
}

void KubeProxyFinding(const FindingInputs& in, std::vector<Finding>* out) {
  const HostFacts& f = in.L.facts;
  if (f.kube_proxy.empty()) return;
  Finding fk{"info",
             "kube-proxy runs here and sets nf_conntrack_max itself at start "
             "(max(--conntrack-max-per-core x cores, --conntrack-min)); set it there, not only "
             "by sysctl",
             {},
             "as nf_conntrack_max"};
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  uint64_t want =
      std::max<uint64_t>(RoundUp(uint64_t{in.L.max} * (in.pressure ? 2 : 1), 1024), 1024);
  fk.commands.push_back("# kube-proxy config: conntrack.maxPerCore: " +
                        std::to_string(want / static_cast<uint64_t>(std::max(1L, cores))) +
                        ", conntrack.min: " + std::to_string(want) +
                        "  (--conntrack-max-per-core / --conntrack-min)");
  for (const std::string& c : f.kube_proxy) fk.commands.push_back("# running: " + c);
  out->push_back(fk);
}

// The rules in the order their findings are listed within one severity.
constexpr FindingRule kFindingRules[] = {
    NoNetlinkFinding, LimitFindings,        InsertFailedFinding, NotrackFindings,
    StaleFindings,    TrackingRuleFindings, KubeProxyFinding,
};

std::vector<Finding> Findings(const Opts& o, const Live& L, const Derived& d) {
  std::vector<Finding> out;
  const HostFacts& f = L.facts;
  if (!f.module_loaded) {
    out.push_back({"info",
                   "nf_conntrack is not loaded: nothing is tracked on this host (no table, no "
                   "limit to hit)",
                   {},
                   "none"});
    return out;
  }
  FindingInputs in{
      o,
      L,
      d,
      d.init_netns ? "" : " (global: run these in the host's initial namespace)",
      d.objsize + d.ext,
      d.fill >= 0.75 || L.total.drop > 0 || L.total.early_drop > 0 || !f.table_full.empty()};
  for (FindingRule rule : kFindingRules) rule(in, &out);
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return Rank(a.severity) > Rank(b.severity);
  });
  return out;
}

std::string Verdict(const std::vector<Finding>& fs) {
  int r = 0;
  for (const Finding& f : fs) r = std::max(r, Rank(f.severity));
  return r == 2 ? "critical" : r == 1 ? "warning" : "ok";
}

void RankedText(std::string* s, const char* title, const Ranked& r, uint64_t total) {
  if (r.empty()) return;
  Appendf(s, "  %s:", title);
  for (const auto& [k, v] : r) {
    Appendf(s, " %s %" PRIu64 " (%.0f%%)", k.c_str(), v, total ? 100.0 * v / total : 0);
  }
  *s += '\n';
}

std::string RankedJson(const Ranked& r) {
  std::string s = "[";
  for (size_t i = 0; i < r.size(); ++i) {
    if (i) s += ", ";
    s += "{\"key\": " + JsonQuote(r[i].first) + ", \"entries\": " + std::to_string(r[i].second) +
         "}";
  }
  return s + "]";
}

std::string Rate(uint64_t v, double up) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3g/s", up > 0 ? static_cast<double>(v) / up : 0.0);
  return b;
}

std::string WallTime(const HostFacts& f, double since_boot) {
  time_t t = static_cast<time_t>(static_cast<double>(time(nullptr)) - (f.uptime_s - since_boot));
  tm tmv;
  gmtime_r(&t, &tmv);
  char b[64];
  std::strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S UTC", &tmv);
  return b;
}

// The table's size, buckets, memory and counters: four lines.
void TableText(std::string* s, const Live& L, const Derived& d) {
  const HostFacts& f = L.facts;
  Appendf(s, "table     %u of %u entries (%.1f%% full)\n", L.count, L.max, d.fill * 100);
  Appendf(s,
          "buckets   %" PRIu64
          " (hashsize %s); %.2f nodes per bucket now, %.2f at max "
          "(rule of thumb: buckets >= max/2, i.e. <= 4 nodes per bucket; the kernel's own default "
          "is buckets = max)\n",
          d.buckets, f.hashsize ? std::to_string(*f.hashsize).c_str() : "?", d.depth_now,
          d.depth_max);
  Appendf(s, "memory    %s now, %s at max (%u B slab object%s per entry, 8 B per bucket)",
          Bytes(static_cast<double>(d.mem_now)).c_str(),
          Bytes(static_cast<double>(d.mem_max)).c_str(), d.objsize,
          d.ext ? " + 128 B extensions" : "");
  if (f.slab.present) {
    Appendf(s, "; slab nf_conntrack: %" PRIu64 " objects in use on the host (%s)",
            f.slab.active_objs,
            Bytes(static_cast<double>(f.slab.active_objs * f.slab.objsize)).c_str());
  }
  *s += '\n';
  const Stats& t = L.total;
  Appendf(s,
          "counters  drop=%" PRIu64 " (%s) early_drop=%" PRIu64 " (%s) insert_failed=%" PRIu64
          " (%s) invalid=%" PRIu64 " (%s) since boot (%.0f s ago); %zu CPUs\n",
          t.drop, Rate(t.drop, f.uptime_s).c_str(), t.early_drop,
          Rate(t.early_drop, f.uptime_s).c_str(), t.insert_failed,
          Rate(t.insert_failed, f.uptime_s).c_str(), t.invalid, Rate(t.invalid, f.uptime_s).c_str(),
          f.uptime_s, L.cpus.size());
}

// The count of 'table full' kernel messages and the last five of them.
void KmsgText(std::string* s, const HostFacts& f) {
  if (!f.kmsg_error.empty()) {
    Appendf(s, "kernel log: unreadable (%s)\n", f.kmsg_error.c_str());
    return;
  }
  Appendf(s, "kernel log (%s): %zu 'table full, dropping packet' message(s)\n",
          f.kmsg_source.c_str(), f.table_full.size());
  size_t from = f.table_full.size() > 5 ? f.table_full.size() - 5 : 0;
  for (size_t i = from; i < f.table_full.size(); ++i) {
    Appendf(s, "  [%12.6f] %s  %s\n", f.table_full[i].seconds_since_boot,
            WallTime(f, f.table_full[i].seconds_since_boot).c_str(), f.table_full[i].text.c_str());
  }
}

void BreakdownText(std::string* s, const Opts& o, const Live& L) {
  uint64_t n = L.bd->entries();
  Attribution a = L.bd->Result(o.top);
  Appendf(s, "who fills the table (%" PRIu64 " entries dumped%s):\n", n,
          L.bd->exact() ? "" : ", counts bounded: may be low by a few");
  RankedText(s, "state", a.by_state, n);
  RankedText(s, "protocol", a.by_proto, n);
  RankedText(s, "zone", L.bd->Zones(o.top), n);
  RankedText(s, "source prefix", a.src_prefix, n);
  RankedText(s, "destination prefix", a.dst_prefix, n);
  RankedText(s, "destination port", a.dst_port, n);
  RankedText(s, "heaviest sources", a.heaviest_sources, n);
  *s += "stale / orphaned:";
  for (const StaleClass& c : L.bd->Stale()) Appendf(s, " %s %" PRIu64, c.name.c_str(), c.count);
  *s += '\n';
}

// The tracking rules (the first five) and every notrack rule.
void RulesText(std::string* s, const RuleFacts& r) {
  Appendf(s, "rules     %zu tracking, %zu notrack%s%s\n", r.tracking.size(), r.notrack.size(),
          r.nft_available ? "" : " (nft unavailable)",
          r.iptables_available ? "" : " (iptables-save unavailable)");
  for (size_t i = 0; i < r.tracking.size() && i < 5; ++i)
    Appendf(s, "  %s\n", r.tracking[i].c_str());
  for (const std::string& x : r.notrack) Appendf(s, "  %s\n", x.c_str());
}

void FindingsText(std::string* s, const std::vector<Finding>& fs) {
  Appendf(s, "verdict: %s\n", Verdict(fs).c_str());
  for (size_t i = 0; i < fs.size(); ++i) {
    Appendf(s, "%zu. [%s] %s\n", i + 1, fs[i].severity.c_str(), fs[i].title.c_str());
    for (const std::string& c : fs[i].commands) Appendf(s, "     %s\n", c.c_str());
    if (!fs[i].cost.empty()) Appendf(s, "     cost: %s\n", fs[i].cost.c_str());
  }
  if (fs.empty()) *s += "no findings\n";
}

std::string Text(const Opts& o, const Live& L, const Derived& d, const std::vector<Finding>& fs) {
  std::string s;
  const HostFacts& f = L.facts;
  std::string where = o.ns.name.empty()
                          ? (o.ns.pid ? "netns of pid " + std::to_string(o.ns.pid) : "this host")
                          : "netns " + o.ns.name;
  Appendf(&s, "ctrack status (%s): %s\n", where.c_str(), Verdict(fs).c_str());
  if (!f.module_loaded) {
    s += "  nf_conntrack is not loaded\n";
  } else {
    TableText(&s, L, d);
    KmsgText(&s, f);
    if (L.have_netlink) BreakdownText(&s, o, L);
    if (o.rules) RulesText(&s, f.rules);
  }
  FindingsText(&s, fs);
  return s;
}

// --- the JSON report ---------------------------------------------------------------------------

// ["a", "b"]: each string quoted.
std::string JsonStrings(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + JsonQuote(v[i]);
  return s + "]";
}

// The counters of `t` as JSON members, without braces.
std::string StatsMembers(const Stats& t) {
  std::string s;
  Appendf(&s,
          "\"found\": %" PRIu64 ", \"invalid\": %" PRIu64 ", \"insert\": %" PRIu64
          ", \"insert_failed\": %" PRIu64 ", \"drop\": %" PRIu64 ", \"early_drop\": %" PRIu64
          ", \"error\": %" PRIu64 ", \"search_restart\": %" PRIu64 ", \"clash_resolve\": %" PRIu64
          ", \"chaintoolong\": %" PRIu64,
          t.found, t.invalid, t.insert, t.insert_failed, t.drop, t.early_drop, t.error,
          t.search_restart, t.clash_resolve, t.chaintoolong);
  return s;
}

// verdict .. uptime_s: the table's size, memory and slab.
void TableJson(std::string* s, const Opts& o, const Live& L, const Derived& d,
               const std::vector<Finding>& fs) {
  const HostFacts& f = L.facts;
  Appendf(s, "\"verdict\": %s", JsonQuote(Verdict(fs)).c_str());
  *s += ", \"netns\": " + JsonQuote(o.ns.name) + ", \"netns_pid\": " + std::to_string(o.ns.pid);
  Appendf(s, ", \"module_loaded\": %s, \"ctnetlink\": %s", f.module_loaded ? "true" : "false",
          L.have_netlink ? "true" : "false");
  *s += ", \"ctnetlink_error\": " + JsonQuote(L.netlink_error);
  Appendf(s, ", \"count\": %u, \"max\": %u, \"fill\": %.6f", L.count, L.max, d.fill);
  Appendf(s, ", \"buckets\": %" PRIu64 ", \"hashsize\": %s", d.buckets,
          f.hashsize ? std::to_string(*f.hashsize).c_str() : "null");
  Appendf(s, ", \"depth_now\": %.4f, \"depth_at_max\": %.4f", d.depth_now, d.depth_max);
  Appendf(s, ", \"memory\": {\"per_entry\": %u, \"now\": %" PRIu64 ", \"at_max\": %" PRIu64 "}",
          d.objsize + d.ext, d.mem_now, d.mem_max);
  Appendf(s,
          ", \"slab\": {\"present\": %s, \"active_objs\": %" PRIu64 ", \"num_objs\": %" PRIu64
          ", \"objsize\": %u}",
          f.slab.present ? "true" : "false", f.slab.active_objs, f.slab.num_objs, f.slab.objsize);
  *s += ", \"slab_error\": " + JsonQuote(f.slab_error);
  Appendf(s, ", \"uptime_s\": %.2f", f.uptime_s);
}

// counters, per_cpu, and proc_stat as /proc/net/stat/nf_conntrack has them.
void CountersJson(std::string* s, const Live& L) {
  const HostFacts& f = L.facts;
  *s += ", \"counters\": {" + StatsMembers(L.total) + "}";
  *s += ", \"per_cpu\": [";
  for (size_t i = 0; i < L.cpus.size(); ++i) {
    Appendf(s, "%s{\"cpu\": %u, ", i ? ", " : "", L.cpus[i].cpu);
    *s += StatsMembers(L.cpus[i].st) + "}";
  }
  *s += "], \"proc_stat\": {\"fields\": " + JsonStrings(f.proc_stat_fields) + ", \"cpus\": [";
  for (size_t c = 0; c < f.proc_stat_cpus.size(); ++c) {
    *s += c ? ", [" : "[";
    for (size_t i = 0; i < f.proc_stat_cpus[c].size(); ++i) {
      *s += (i ? ", " : "") + std::to_string(f.proc_stat_cpus[c][i]);
    }
    *s += "]";
  }
  *s += "]}";
}

void SysctlsKmsgJson(std::string* s, const HostFacts& f) {
  *s += ", \"sysctls\": {";
  for (size_t i = 0; i < f.sysctls.size(); ++i) {
    *s += (i ? ", " : "") + JsonQuote("net.netfilter." + f.sysctls[i].first) + ": " +
          JsonQuote(f.sysctls[i].second);
  }
  *s += "}, \"kmsg\": {\"source\": " + JsonQuote(f.kmsg_source) +
        ", \"error\": " + JsonQuote(f.kmsg_error) + ", \"table_full\": [";
  for (size_t i = 0; i < f.table_full.size(); ++i) {
    Appendf(s, "%s{\"since_boot_s\": %.6f, \"time\": %s, \"text\": %s}", i ? ", " : "",
            f.table_full[i].seconds_since_boot,
            JsonQuote(WallTime(f, f.table_full[i].seconds_since_boot)).c_str(),
            JsonQuote(f.table_full[i].text).c_str());
  }
  *s += "]}";
}

// dump, breakdown and stale: present only when the table was dumped.
void DumpJson(std::string* s, const Opts& o, const Live& L) {
  Attribution a = L.bd->Result(o.top);
  Appendf(s,
          ", \"dump\": {\"entries\": %" PRIu64 ", \"messages\": %" PRIu64
          ", \"attempts\": %u, \"exact\": %s, \"max_undercount\": %" PRIu64 "}",
          L.dump.entries, L.dump.messages, L.dump.attempts, L.bd->exact() ? "true" : "false",
          L.bd->max_error());
  *s += ", \"breakdown\": {\"state\": " + RankedJson(a.by_state) +
        ", \"protocol\": " + RankedJson(a.by_proto) +
        ", \"zone\": " + RankedJson(L.bd->Zones(o.top)) +
        ", \"src_prefix\": " + RankedJson(a.src_prefix) +
        ", \"dst_prefix\": " + RankedJson(a.dst_prefix) +
        ", \"dst_port\": " + RankedJson(a.dst_port) +
        ", \"heaviest_sources\": " + RankedJson(a.heaviest_sources) + "}";
  *s += ", \"stale\": [";
  bool first = true;
  for (const StaleClass& c : L.bd->Stale()) {
    *s += first ? "" : ", ";
    first = false;
    *s += "{\"name\": " + JsonQuote(c.name) + ", \"count\": " + std::to_string(c.count) +
          ", \"description\": " + JsonQuote(c.description) +
          ", \"examples\": " + JsonStrings(c.examples) + "}";
  }
  *s += "]";
}

void RulesJson(std::string* s, const HostFacts& f) {
  const RuleFacts& r = f.rules;
  *s += ", \"rules\": {\"nft_available\": " + std::string(r.nft_available ? "true" : "false") +
        ", \"iptables_available\": " + (r.iptables_available ? "true" : "false") +
        ", \"nat\": " + (r.nat ? "true" : "false") + ", \"tracking\": " + JsonStrings(r.tracking) +
        ", \"notrack\": " + JsonStrings(r.notrack) +
        "}, \"kube_proxy\": " + JsonStrings(f.kube_proxy);
}

void FindingsJson(std::string* s, const std::vector<Finding>& fs) {
  *s += ", \"findings\": [";
  for (size_t i = 0; i < fs.size(); ++i) {
    *s += i ? ", " : "";
    *s += "{\"n\": " + std::to_string(i + 1) + ", \"severity\": " + JsonQuote(fs[i].severity) +
          ", \"title\": " + JsonQuote(fs[i].title) +
          ", \"commands\": " + JsonStrings(fs[i].commands) +
          ", \"cost\": " + JsonQuote(fs[i].cost) + "}";
  }
  *s += "]";
}

std::string Json(const Opts& o, const Live& L, const Derived& d, const std::vector<Finding>& fs) {
  std::string s = "{";
  TableJson(&s, o, L, d, fs);
  CountersJson(&s, L);
  SysctlsKmsgJson(&s, L.facts);
  if (L.have_netlink) DumpJson(&s, o, L);
  RulesJson(&s, L.facts);
  FindingsJson(&s, fs);
  s += "}\n";
  return s;
}

}  // namespace

int StatusMain(int argc, char** argv) {
  Opts o;
  int rc = ParseArgs("status", kStatusUsage, argc, argv, &o);
  if (rc >= 0) return rc;
  if (!o.out.empty()) {
    if (o.out == "json" && !o.list) {
      o.json = true;
    } else if (!ParseListFormat(o.out, &o.fmt)) {
      return Fail("status",
                  "unknown output format '" + o.out + "' (extended, default, proc, json)") +
             1;
    }
  }
  std::string err;
  if (!EnterNetns(o.ns, &err)) return Fail("status", err);
  if (o.list || o.stats || o.count || o.raw) {
    if (access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) != 0) {
      return Fail("status", "nf_conntrack is not loaded: there is no table to list");
    }
    return RunCompat(o);
  }
  Live L;
  Collect(o, &L);
  Derived d = Derive(L);
  std::vector<Finding> fs = Findings(o, L, d);
  if (!L.have_netlink && !L.netlink_error.empty() && L.facts.module_loaded) {
    std::fprintf(stderr, "ctrack status: %s\n",
                 IsPermission(L.netlink_error) ? kCapLine : L.netlink_error.c_str());
    // A malformed or truncated message is a hard error: no report built on a partial read.
    if (!IsPermission(L.netlink_error)) return 1;
  }
  std::string out = o.json ? Json(o, L, d, fs) : Text(o, L, d, fs);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int SnapshotMain(int argc, char** argv) {
  Opts o;
  int rc = ParseArgs("snapshot", kSnapshotUsage, argc, argv, &o);
  if (rc >= 0) return rc;
  if (o.out.empty()) return Fail("snapshot", "-o FILE is required ('-' for stdout)") + 1;
  std::string err;
  if (!EnterNetns(o.ns, &err)) return Fail("snapshot", err);
  HostFacts f = ReadHostFacts(false, false);
  if (!f.module_loaded) return Fail("snapshot", "nf_conntrack is not loaded: there is no table");
  std::unique_ptr<HostReader> r = HostReader::Open(&err);
  if (!r) return Fail("snapshot", err);
  SnapshotHeader h;
  h.source = "ctnetlink";
  utsname u;
  if (uname(&u) == 0) {
    h.kernel = u.release;
    h.host = u.nodename;
  }
  h.time_ns = static_cast<int64_t>(NowRealtimeNs());
  h.sysctls = f.sysctls;
  h.buckets = static_cast<uint32_t>(f.buckets.value_or(0));
  std::vector<CpuStats> cpus;
  if (!r->StatsPerCpu(&cpus, &err)) {
    return Fail("snapshot", IsPermission(err) ? std::string(kCapLine) : err);
  }
  for (const CpuStats& c : cpus) {
    SnapshotCpuStats sc;
    sc.cpu = c.cpu;
    sc.stats = c.st;
    h.per_cpu.push_back(sc);
  }
  h.total = SumCpus(cpus);
  h.has_stats = true;
  uint32_t count = 0, max = 0;
  if (!r->Count(&count, &max, &err)) return Fail("snapshot", err);
  h.count = count;
  // The entries go to a temporary file as they stream; a failed or interrupted dump removes it.
  std::unique_ptr<SnapshotWriter> w;
  SnapshotEntry e;
  std::string open_err;
  DumpResult d = r->DumpTable(
      [&] {
        w = std::make_unique<SnapshotWriter>();
        open_err = w->Open(o.out);
        if (open_err.empty()) w->WriteHeader(h);
      },
      [&](const ConnInfo& ci) {
        if (!open_err.empty()) return;
        e.ci = ci;
        e.has_id = true;
        e.has_timestamp = ci.has_timestamp;
        e.start_ns = static_cast<int64_t>(ci.ts_start_ns);
        e.stop_ns = static_cast<int64_t>(ci.ts_stop_ns);
        e.use = ci.use;
        e.helper = ci.helper;
        w->WriteEntry(e);
      });
  if (!open_err.empty()) return Fail("snapshot", open_err);
  if (!d.error.empty()) {
    w.reset();  // removes the temporary file
    return Fail("snapshot", IsPermission(d.error) ? std::string(kCapLine) : d.error);
  }
  std::string fe = w->Finish();
  if (!fe.empty()) return Fail("snapshot", fe);
  return 0;
}

}  // namespace ctrack::cli
