// The kernel log's "nf_conntrack: table full, dropping packet" lines with their times: from
// /dev/kmsg (one record per read(), "pri,seq,usec,flags;text"), or from journalctl -k when the
// device cannot be read. The message is printed by nf_conntrack_alloc()'s caller path
// (__nf_conntrack_alloc(), net/netfilter/nf_conntrack_core.c) rate-limited.
#include <ctrack/host.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "host/internal.h"

namespace ctrack {
namespace {

constexpr const char* kNeedle = "table full, dropping packet";
constexpr size_t kKeep = 200;  // the most recent lines kept

void Keep(std::vector<TableFullLine>* out, TableFullLine l) {
  out->push_back(std::move(l));
  if (out->size() > 2 * kKeep) out->erase(out->begin(), out->end() - kKeep);
}

}  // namespace

std::vector<TableFullLine> ParseTableFull(const std::string& text, bool kmsg_format) {
  std::vector<TableFullLine> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(kNeedle) == std::string::npos) continue;
    TableFullLine l;
    if (kmsg_format) {
      // pri,seq,usec,flags;text
      size_t semi = line.find(';');
      if (semi == std::string::npos) continue;
      std::string head = line.substr(0, semi);
      size_t c1 = head.find(','), c2 = c1 == std::string::npos ? c1 : head.find(',', c1 + 1);
      if (c2 == std::string::npos) continue;
      l.seconds_since_boot = std::strtod(head.c_str() + c2 + 1, nullptr) / 1e6;
      l.text = line.substr(semi + 1);
    } else {
      // "[  123.456789] host kernel: nf_conntrack: table full, dropping packet"
      size_t lb = line.find('['), rb = line.find(']');
      if (lb == std::string::npos || rb == std::string::npos || rb < lb) continue;
      l.seconds_since_boot = std::strtod(line.c_str() + lb + 1, nullptr);
      size_t k = line.find("kernel: ", rb);
      l.text = k == std::string::npos ? line.substr(rb + 1) : line.substr(k + 8);
      while (!l.text.empty() && l.text[0] == ' ') l.text.erase(0, 1);
    }
    Keep(&out, std::move(l));
  }
  if (out.size() > kKeep) out.erase(out.begin(), out.end() - kKeep);
  return out;
}

namespace host_internal {

void ReadTableFullLog(HostFacts* f) {
  int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    std::string all;
    char rec[8192];
    bool ok = true;
    for (;;) {
      ssize_t n = read(fd, rec, sizeof rec);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EPIPE) continue;  // records overwritten while reading: skip ahead
        if (errno != EAGAIN) ok = false;
        break;
      }
      if (n == 0) break;
      std::string_view r(rec, static_cast<size_t>(n));
      // Only the first line of a record is its text; the rest are KEY=value continuations.
      size_t nl = r.find('\n');
      std::string_view first = r.substr(0, nl);
      if (first.find(kNeedle) != std::string_view::npos) {
        all.append(first);
        all += '\n';
      }
    }
    close(fd);
    if (ok) {
      f->kmsg_source = "/dev/kmsg";
      f->table_full = ParseTableFull(all, true);
      return;
    }
  }
  std::string kmsg_err = std::string("/dev/kmsg: ") + std::strerror(errno);
  const char* argv[] = {"journalctl", "-k",    "-o",   "short-monotonic", "--no-pager", "-q",
                        "-g",         kNeedle, nullptr};
  std::string out, err;
  if (RunCapture(argv, &out, &err) || !out.empty()) {
    f->kmsg_source = "journalctl -k";
    f->table_full = ParseTableFull(out, false);
    return;
  }
  // journalctl -g exits 1 when nothing matches.
  if (err.find("exit 1)") != std::string::npos) {
    f->kmsg_source = "journalctl -k";
    return;
  }
  f->kmsg_error = kmsg_err + "; journalctl -k: " + err;
}

}  // namespace host_internal
}  // namespace ctrack
