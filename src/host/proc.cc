// The facts beside the table from /proc and /sys: net.netfilter.* sysctls, the hash size,
// /proc/net/stat/nf_conntrack, the nf_conntrack slab, uptime, kube-proxy's flags.
#include <ctrack/host.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "host/internal.h"

namespace ctrack {
namespace host_internal {

bool ReadFile(const std::string& path, std::string* out, std::string* err) {
  out->clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = path + ": " + std::strerror(errno);
    return false;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (err) *err = path + ": " + std::strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

bool RunCapture(const char* const* argv, std::string* out, std::string* err) {
  out->clear();
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) {
    *err = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  pid_t pid = fork();
  if (pid < 0) {
    *err = std::string("fork: ") + std::strerror(errno);
    close(pipefd[0]);
    close(pipefd[1]);
    return false;
  }
  if (pid == 0) {
    dup2(pipefd[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    execvp(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  close(pipefd[1]);
  char buf[65536];
  for (;;) {
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    // Rulesets can be large; keep at most 64 MB of them.
    if (out->size() < (64u << 20)) out->append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    *err = std::string(argv[0]) + ": not installed";
    return false;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *err = std::string(argv[0]) + " failed (exit " +
           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")";
    return false;
  }
  return true;
}

}  // namespace host_internal

namespace {

using host_internal::ReadFile;

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\n");
  return s.substr(a, b - a + 1);
}

std::optional<uint64_t> ToU64(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno || end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

void ReadSysctls(HostFacts* f) {
  const std::string base = "/proc/sys/net/netfilter";
  std::vector<std::string> names;
  // Depth-first over the directory (nf_log/ has one file per family).
  std::vector<std::string> dirs = {""};
  while (!dirs.empty()) {
    std::string rel = dirs.back();
    dirs.pop_back();
    DIR* d = opendir((base + (rel.empty() ? "" : "/" + rel)).c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string name = rel.empty() ? e->d_name : rel + "/" + e->d_name;
      if (e->d_type == DT_DIR) {
        dirs.push_back(name);
      } else {
        names.push_back(name);
      }
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::string v;
    if (!ReadFile(base + "/" + n, &v, nullptr)) continue;
    std::string key = n;
    std::replace(key.begin(), key.end(), '/', '.');
    f->sysctls.emplace_back(key, Trim(v));
  }
  for (const auto& [k, v] : f->sysctls) {
    if (k == "nf_conntrack_count") f->count = ToU64(v);
    if (k == "nf_conntrack_max") f->max = ToU64(v);
    if (k == "nf_conntrack_buckets") f->buckets = ToU64(v);
  }
}

void ReadKubeProxy(HostFacts* f) {
  DIR* d = opendir("/proc");
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::string cmd;
    if (!ReadFile(std::string("/proc/") + e->d_name + "/cmdline", &cmd, nullptr)) continue;
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    cmd = Trim(cmd);
    std::string argv0 = cmd.substr(0, cmd.find(' '));
    if (argv0.size() >= 10 && argv0.compare(argv0.size() - 10, 10, "kube-proxy") == 0) {
      f->kube_proxy.push_back(cmd.substr(0, 4096));
    }
  }
  closedir(d);
}

}  // namespace

std::string ParseProcStat(const std::string& text, std::vector<std::string>* fields,
                          std::vector<std::vector<uint64_t>>* cpus) {
  fields->clear();
  cpus->clear();
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line)) return "empty";
  std::istringstream hs(line);
  std::string w;
  while (hs >> w) fields->push_back(w);
  if (fields->empty() || (*fields)[0] != "entries") return "no 'entries' header";
  while (std::getline(in, line)) {
    if (Trim(line).empty()) continue;
    std::istringstream ls(line);
    std::vector<uint64_t> row;
    while (ls >> w) {
      char* end = nullptr;
      errno = 0;
      unsigned long long v = std::strtoull(w.c_str(), &end, 16);
      if (errno || *end != '\0') return "not a hex value: '" + w.substr(0, 32) + "'";
      row.push_back(v);
    }
    if (row.size() != fields->size()) return "row with " + std::to_string(row.size()) + " values";
    cpus->push_back(std::move(row));
  }
  return "";
}

SlabInfo ParseSlabInfo(const std::string& text) {
  // "name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ..."
  SlabInfo s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    ls >> name;
    if (name != "nf_conntrack") continue;
    uint64_t active = 0, num = 0;
    uint32_t size = 0;
    if (ls >> active >> num >> size) {
      s.present = true;
      s.active_objs = active;
      s.num_objs = num;
      s.objsize = size;
    }
    break;
  }
  return s;
}

HostFacts ReadHostFacts(bool rules, bool kmsg) {
  HostFacts f;
  std::string text, err;
  f.module_loaded = access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) == 0;
  ReadSysctls(&f);
  if (ReadFile("/sys/module/nf_conntrack/parameters/hashsize", &text, nullptr)) {
    f.hashsize = ToU64(Trim(text));
  }
  if (ReadFile("/proc/net/stat/nf_conntrack", &text, &err)) {
    std::string e = ParseProcStat(text, &f.proc_stat_fields, &f.proc_stat_cpus);
    if (!e.empty()) f.proc_stat_error = "/proc/net/stat/nf_conntrack: " + e;
  } else {
    f.proc_stat_error = err;
  }
  if (ReadFile("/proc/slabinfo", &text, &err)) {
    f.slab = ParseSlabInfo(text);
  } else {
    f.slab_error = err;
  }
  if (ReadFile("/proc/uptime", &text, nullptr)) f.uptime_s = std::atof(text.c_str());
  if (kmsg) host_internal::ReadTableFullLog(&f);
  if (rules) host_internal::ReadRules(&f.rules);
  ReadKubeProxy(&f);
  return f;
}

}  // namespace ctrack
