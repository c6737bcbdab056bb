// Snapshot model helpers and the JSON-lines writer (docs/snapshot-format.md).
#include "format/snapshot.h"

#include <ctrack/entry.h>

#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "format/conntrack_format.h"
#include "format/text.h"

namespace ctrack {
namespace {

// A JSON string literal (RFC 8259): quotes, backslashes and control bytes escaped; other bytes
// are copied (host names and labels come from the host and are not trusted to be UTF-8, but the
// reader takes bytes back as they were).
void JsonString(std::string* out, std::string_view s) {
  *out += '"';
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20 || u == 0x7f) {
      Appendf(out, "\\u%04x", u);
    } else {
      *out += c;
    }
  }
  *out += '"';
}

const char* L3Name(uint8_t l3num) { return l3num == kAfInet6 ? "ipv6" : "ipv4"; }

void TupleJson(std::string* out, const Tuple& t) {
  *out += "{\"src\":";
  JsonString(out, FormatAddress(t.l3num, t.src));
  *out += ",\"dst\":";
  JsonString(out, FormatAddress(t.l3num, t.dst));
  if (t.protonum == kProtoIcmp || t.protonum == kProtoIcmpv6) {
    Appendf(out, ",\"type\":%u,\"code\":%u,\"id\":%u", t.icmp_type(), t.icmp_code(), t.src_id);
  } else if (t.protonum == kProtoGre) {
    Appendf(out, ",\"srckey\":%u,\"dstkey\":%u", t.src_id, t.dst_id);
  } else if (ProtoInfo(t.protonum).has_ports) {
    Appendf(out, ",\"sport\":%u,\"dport\":%u", t.src_id, t.dst_id);
  }
  *out += '}';
}

void StatsJson(std::string* out, const Stats& s) {
  Appendf(out,
          "\"found\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"insert\":%" PRIu64
          ",\"insert_failed\":%" PRIu64 ",\"drop\":%" PRIu64 ",\"early_drop\":%" PRIu64,
          s.found, s.invalid, s.insert, s.insert_failed, s.drop, s.early_drop);
  Appendf(out,
          ",\"error\":%" PRIu64 ",\"search_restart\":%" PRIu64 ",\"clash_resolve\":%" PRIu64
          ",\"chaintoolong\":%" PRIu64,
          s.error, s.search_restart, s.clash_resolve, s.chaintoolong);
}

}  // namespace

void SysctlsFromConfig(const Config& cfg, SnapshotHeader* h) {
  h->sysctls.clear();
#define CTRACK_SNAP_SYSCTL(name, def, lo, hi)                 \
  if (std::string_view(#name).substr(0, 3) == "nf_") {        \
    h->sysctls.emplace_back(#name, std::to_string(cfg.name)); \
  }
  CTRACK_SYSCTLS(CTRACK_SNAP_SYSCTL)
#undef CTRACK_SNAP_SYSCTL
  h->buckets = cfg.nf_conntrack_buckets;
}

std::string ApplySysctls(const SnapshotHeader& h, Config* cfg) {
  for (const auto& [name, value] : h.sysctls) {
    // Only the tunables the engine models; the host has more (nf_conntrack_helper, nf_log.*,
    // nf_conntrack_count, nf_conntrack_expect_max, ...), which do not change tracking here.
    bool known = false;
#define CTRACK_SNAP_KNOWN(n, def, lo, hi) \
  if (name == #n && name.rfind("nf_", 0) == 0) known = true;
    CTRACK_SYSCTLS(CTRACK_SNAP_KNOWN)
#undef CTRACK_SNAP_KNOWN
    if (!known) continue;
    std::string err = cfg->Set(name, value);
    if (!err.empty()) return "sysctl " + err;
  }
  if (h.buckets != 0) {
    std::string err = cfg->Set("nf_conntrack_buckets", std::to_string(h.buckets));
    if (!err.empty()) return "buckets: " + err;
  }
  return "";
}

std::string FormatSnapshotHeader(const SnapshotHeader& h) {
  std::string out;
  out.reserve(4096);
  Appendf(&out, "{\"ctrack_snapshot\":%d,\"source\":", h.version);
  JsonString(&out, h.source);
  out += ",\"kernel\":";
  JsonString(&out, h.kernel);
  out += ",\"host\":";
  JsonString(&out, h.host);
  Appendf(&out, ",\"time_ns\":%" PRId64 ",\"buckets\":%u,\"count\":%" PRId64, h.time_ns, h.buckets,
          h.count);
  out += ",\"sysctls\":{";
  bool first = true;
  for (const auto& [name, value] : h.sysctls) {
    if (!first) out += ',';
    first = false;
    JsonString(&out, name);
    out += ':';
    JsonString(&out, value);
  }
  out += '}';
  if (h.has_stats) {
    out += ",\"stats\":{";
    StatsJson(&out, h.total);
    out += "},\"stats_per_cpu\":[";
    for (size_t i = 0; i < h.per_cpu.size(); ++i) {
      const SnapshotCpuStats& c = h.per_cpu[i];
      if (i) out += ',';
      Appendf(&out, "{\"cpu\":%u,", c.cpu);
      StatsJson(&out, c.stats);
      Appendf(&out,
              ",\"entries\":%" PRIu64 ",\"new\":%" PRIu64 ",\"ignore\":%" PRIu64
              ",\"delete\":%" PRIu64,
              c.entries, c.new_, c.ignore, c.delete_);
      Appendf(&out,
              ",\"expect_new\":%" PRIu64 ",\"expect_create\":%" PRIu64 ",\"expect_delete\":%" PRIu64
              "}",
              c.expect_new, c.expect_create, c.expect_delete);
    }
    out += ']';
  }
  out += '}';
  return out;
}

std::string FormatSnapshotEntry(const SnapshotEntry& e) {
  const ConnInfo& ci = e.ci;
  const Tuple& o = ci.orig;
  std::string out;
  out.reserve(512);
  out += '{';
  if (e.has_id) Appendf(&out, "\"id\":%u,", ci.id);
  Appendf(&out,
          "\"l3\":\"%s\",\"proto\":\"%s\",\"protonum\":%u,\"zone\":%u,\"orig\":", L3Name(o.l3num),
          L4ProtoName(o.protonum), o.protonum, o.zone);
  TupleJson(&out, o);
  out += ",\"reply\":";
  TupleJson(&out, ci.reply);
  if (ProtoInfo(o.protonum).has_states) {
    Appendf(&out, ",\"state\":\"%s\"", StateName(o.protonum, ci.state));
  }
  Appendf(&out, ",\"status\":%u,\"status_names\":", ci.status);
  JsonString(&out, StatusNames(ci.status));
  Appendf(&out, ",\"timeout\":%" PRId64 ",\"mark\":%u", ci.timeout_s, ci.mark);
  if (o.protonum == kProtoTcp) {
    Appendf(&out, ",\"tcp\":{\"wscale\":[%u,%u],\"flags\":[%u,%u]}", ci.tcp_wscale[0],
            ci.tcp_wscale[1], ci.tcp_flags[0], ci.tcp_flags[1]);
  }
  if (o.protonum == kProtoGre) {
    Appendf(&out, ",\"gre\":{\"timeout\":%u,\"stream_timeout\":%u}", ci.gre_timeout_s,
            ci.gre_stream_timeout_s);
  }
  if (ci.has_acct) {
    Appendf(&out,
            ",\"counters\":{\"packets\":[%" PRIu64 ",%" PRIu64 "],\"bytes\":[%" PRIu64 ",%" PRIu64
            "]}",
            ci.packets[0], ci.packets[1], ci.bytes[0], ci.bytes[1]);
  }
  if (e.has_timestamp) {
    Appendf(&out, ",\"start_ns\":%" PRId64 ",\"stop_ns\":%" PRId64, e.start_ns, e.stop_ns);
  }
  if (e.use != 0) Appendf(&out, ",\"use\":%u", e.use);
  if (!e.helper.empty()) {
    out += ",\"helper\":";
    JsonString(&out, e.helper);
  }
  if (!e.labels.empty()) {
    out += ",\"labels\":";
    JsonString(&out, e.labels);
  }
  out += '}';
  return out;
}

std::string FormatSnapshotTrailer(uint64_t entries) {
  return "{\"ctrack_snapshot_end\":" + std::to_string(entries) + "}";
}

SnapshotWriter::~SnapshotWriter() {
  if (f_ != nullptr && !to_stdout_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

std::string SnapshotWriter::Open(const std::string& path) {
  path_ = path;
  entries_ = 0;
  failed_ = false;
  if (path == "-") {
    to_stdout_ = true;
    f_ = stdout;
    return "";
  }
  tmp_ = path + ".tmp";
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (f_ == nullptr) return path + ": " + std::strerror(errno);
  return "";
}

void SnapshotWriter::WriteHeader(const SnapshotHeader& h) {
  if (f_ == nullptr) return;
  std::string line = FormatSnapshotHeader(h);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size()) failed_ = true;
}

void SnapshotWriter::WriteEntry(const SnapshotEntry& e) {
  if (f_ == nullptr) return;
  std::string line = FormatSnapshotEntry(e);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size()) failed_ = true;
  ++entries_;
}

std::string SnapshotWriter::Finish() {
  if (f_ == nullptr) return path_ + ": not open";
  std::string line = FormatSnapshotTrailer(entries_) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size()) failed_ = true;
  if (std::fflush(f_) != 0) failed_ = true;
  int saved = errno;
  if (to_stdout_) {
    f_ = nullptr;
    return failed_ ? std::string("standard output: ") + std::strerror(saved) : "";
  }
  if (std::fclose(f_) != 0) failed_ = true;
  f_ = nullptr;
  if (failed_) {
    std::remove(tmp_.c_str());
    return path_ + ": write failed: " + std::strerror(saved ? saved : EIO);
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::string err = path_ + ": " + std::strerror(errno);
    std::remove(tmp_.c_str());
    return err;
  }
  return "";
}

}  // namespace ctrack
