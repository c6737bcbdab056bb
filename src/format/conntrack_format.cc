#include "format/conntrack_format.h"

#include <arpa/inet.h>
#include <ctrack/entry.h>
#include <sys/socket.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string_view>

#include "format/text.h"

namespace ctrack {
namespace {

const char* L3Name(uint8_t l3num) {
  switch (l3num) {
    case kAfInet:
      return "ipv4";
    case kAfInet6:
      return "ipv6";
    default:
      return "unknown";
  }
}

// libnetfilter_conntrack's names: the kernel's plus DCCP, which it knows even though the kernel
// here tracks DCCP as generic.
const char* ToolL4Name(uint8_t protonum) {
  return protonum == kProtoDccp ? "dccp" : L4ProtoName(protonum);
}

// kernel-ct's protocol names in table.jsonl; "unknown" (the kernel's) where it has none.
const char* JsonL4Name(uint8_t protonum) {
  const char* n = OracleL4Name(protonum);
  return n != nullptr ? n : L4ProtoName(protonum);
}

bool IsIcmp(uint8_t protonum) { return protonum == kProtoIcmp || protonum == kProtoIcmpv6; }

enum class Style { kTool, kProc };

// "src=A dst=B <ids> " for one direction.
void AppendTuple(std::string* out, const Tuple& t, Style style) {
  bool full = style == Style::kProc;
  *out += "src=";
  *out += FormatAddress(t.l3num, t.src, full);
  *out += " dst=";
  *out += FormatAddress(t.l3num, t.dst, full);
  *out += ' ';
  if (ProtoInfo(t.protonum).has_ports) {
    Appendf(out, "sport=%u dport=%u ", t.src_id, t.dst_id);
  } else if (IsIcmp(t.protonum)) {
    Appendf(out, "type=%u code=%u id=%u ", t.icmp_type(), t.icmp_code(), t.src_id);
  } else if (t.protonum == kProtoGre) {
    Appendf(out, "srckey=0x%x dstkey=0x%x ", t.src_id, t.dst_id);
  } else if (t.protonum == kProtoDccp && style == Style::kTool) {
    // libnetfilter_conntrack prints DCCP ports it never received from the kernel.
    *out += "sport=0 dport=0 ";
  }
}

void AppendCounters(std::string* out, const ConnInfo& ci, int dir) {
  if (!ci.has_acct) return;
  Appendf(out, "packets=%" PRIu64 " bytes=%" PRIu64 " ", ci.packets[dir], ci.bytes[dir]);
}

// Python's json.dumps of a string we produce ourselves (names, addresses): no escaping needed.
void JsonStr(std::string* out, std::string_view s) {
  *out += '"';
  *out += s;
  *out += '"';
}

void JsonTuple(std::string* out, const Tuple& t) {
  // Keys sorted, as kernel-ct writes them (json.dumps sort_keys).
  *out += '{';
  if (IsIcmp(t.protonum)) {
    *out += "\"dst\": ";
    JsonStr(out, FormatAddress(t.l3num, t.dst));
    Appendf(out, ", \"icmp_code\": %u, \"icmp_id\": %u, \"icmp_type\": %u", t.icmp_code(), t.src_id,
            t.icmp_type());
    Appendf(out, ", \"protonum\": %u, \"src\": ", t.protonum);
    JsonStr(out, FormatAddress(t.l3num, t.src));
  } else if (ProtoInfo(t.protonum).has_ports || t.protonum == kProtoGre) {
    Appendf(out, "\"dport\": %u, \"dst\": ", t.dst_id);
    JsonStr(out, FormatAddress(t.l3num, t.dst));
    Appendf(out, ", \"protonum\": %u, \"sport\": %u, \"src\": ", t.protonum, t.src_id);
    JsonStr(out, FormatAddress(t.l3num, t.src));
  } else {
    *out += "\"dst\": ";
    JsonStr(out, FormatAddress(t.l3num, t.dst));
    Appendf(out, ", \"protonum\": %u, \"src\": ", t.protonum);
    JsonStr(out, FormatAddress(t.l3num, t.src));
  }
  *out += '}';
}

}  // namespace

const char* OracleL4Name(uint8_t protonum) {
  // The protocols kernel-ct names without the kernel tracking them (generic entries).
  switch (protonum) {
    case 2:
      return "igmp";
    case kProtoDccp:
      return "dccp";
    case 50:
      return "esp";
    case 51:
      return "ah";
    default:
      break;
  }
  const ProtoDesc& d = ProtoInfo(protonum);
  return d.protonum == protonum && protonum != 0 ? d.name : nullptr;
}

bool ParseListFormat(const std::string& name, ListFormat* out) {
  if (name == "default") {
    *out = ListFormat::kDefault;
  } else if (name == "extended") {
    *out = ListFormat::kExtended;
  } else if (name == "proc") {
    *out = ListFormat::kProc;
  } else if (name == "json") {
    *out = ListFormat::kJson;
  } else {
    return false;
  }
  return true;
}

std::string FormatAddress(uint8_t l3num, const uint8_t* addr, bool full) {
  char buf[64];
  if (l3num == kAfInet6) {
    if (full) {
      std::snprintf(buf, sizeof buf,
                    "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x",
                    addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7], addr[8],
                    addr[9], addr[10], addr[11], addr[12], addr[13], addr[14], addr[15]);
      return buf;
    }
    if (inet_ntop(AF_INET6, addr, buf, sizeof buf) == nullptr) return "?";
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", addr[0], addr[1], addr[2], addr[3]);
  return buf;
}

std::string FormatConntrackLine(const ConnInfo& ci, bool extended) {
  // Mirrors __snprintf_conntrack_default(), libnetfilter_conntrack src/conntrack/snprintf_default.c
  // (1.0.9, used by conntrack-tools 1.4.7).
  const Tuple& o = ci.orig;
  std::string out;
  out.reserve(256);
  if (extended) Appendf(&out, "%-8s %u ", L3Name(o.l3num), o.l3num);
  Appendf(&out, "%-8s %u ", ToolL4Name(o.protonum), o.protonum);
  Appendf(&out, "%" PRId64 " ", ci.timeout_s);
  if (ProtoInfo(o.protonum).has_states) {
    out += StateName(o.protonum, ci.state);
    out += ' ';
  }
  AppendTuple(&out, o, Style::kTool);
  if (ci.tuple_zone[0] >= 0) Appendf(&out, "zone-orig=%d ", ci.tuple_zone[0]);
  AppendCounters(&out, ci, 0);
  if (!(ci.status & kSeenReply)) out += "[UNREPLIED] ";
  AppendTuple(&out, ci.reply, Style::kTool);
  if (ci.tuple_zone[1] >= 0) Appendf(&out, "zone-reply=%d ", ci.tuple_zone[1]);
  AppendCounters(&out, ci, 1);
  if (ci.status & kAssured) out += "[ASSURED] ";
  Appendf(&out, "mark=%u ", ci.mark);
  if (ci.secmark != 0) Appendf(&out, "secmark=%u ", ci.secmark);
  if (!ci.secctx.empty()) out += "secctx=" + ci.secctx + " ";
  if (o.zone != 0) Appendf(&out, "zone=%u ", o.zone);
  if (ci.has_timestamp) {
    // Seconds since creation, up to the stop time or now (libnetfilter_conntrack's delta-time).
    int64_t start = static_cast<int64_t>(ci.ts_start_ns / 1000000000u);
    int64_t stop = ci.ts_stop_ns ? static_cast<int64_t>(ci.ts_stop_ns / 1000000000u)
                                 : static_cast<int64_t>(std::time(nullptr));
    Appendf(&out, "delta-time=%" PRId64 " ", stop - start);
  }
  if (!ci.helper.empty()) out += "helper=" + ci.helper + " ";
  Appendf(&out, "use=%u", ci.use);
  return out;
}

std::string FormatProcLine(const ConnInfo& ci) {
  // Mirrors ct_seq_show(), net/netfilter/nf_conntrack_standalone.c (v6.18).
  const Tuple& o = ci.orig;
  std::string out;
  out.reserve(320);
  Appendf(&out, "%-8s %u %-8s %u ", L3Name(o.l3num), o.l3num, L4ProtoName(o.protonum), o.protonum);
  Appendf(&out, "%" PRId64 " ", ci.timeout_s);
  if (ProtoInfo(o.protonum).has_states) {
    out += StateName(o.protonum, ci.state);
    out += ' ';
  } else if (o.protonum == kProtoGre) {
    Appendf(&out, "timeout=%u, stream_timeout=%u ", ci.gre_timeout_s, ci.gre_stream_timeout_s);
  }
  AppendTuple(&out, o, Style::kProc);
  AppendCounters(&out, ci, 0);
  if (!(ci.status & kSeenReply)) out += "[UNREPLIED] ";
  AppendTuple(&out, ci.reply, Style::kProc);
  AppendCounters(&out, ci, 1);
  if (ci.status & kHwOffload) {
    out += "[HW_OFFLOAD] ";
  } else if (ci.status & kOffload) {
    out += "[OFFLOAD] ";
  } else if (ci.status & kAssured) {
    out += "[ASSURED] ";
  }
  Appendf(&out, "mark=%u zone=%u use=2", ci.mark, o.zone);
  return out;
}

std::string FormatJsonLine(const ConnInfo& ci) {
  // Field names and order (sorted) as kernel-ct's table.jsonl, without the kernel's random `id`.
  const Tuple& o = ci.orig;
  std::string out;
  out.reserve(512);
  Appendf(&out, "{\"assured\": %s", (ci.status & kAssured) ? "true" : "false");
  if (ci.has_acct) {
    Appendf(&out, ", \"counters_orig\": {\"bytes\": %" PRIu64 ", \"packets\": %" PRIu64 "}",
            ci.bytes[0], ci.packets[0]);
    Appendf(&out, ", \"counters_reply\": {\"bytes\": %" PRIu64 ", \"packets\": %" PRIu64 "}",
            ci.bytes[1], ci.packets[1]);
  }
  Appendf(&out, ", \"entry\": %u, \"l3\": ", ci.id);
  JsonStr(&out, L3Name(o.l3num));
  Appendf(&out, ", \"mark\": %u, \"orig\": ", ci.mark);
  JsonTuple(&out, o);
  out += ", \"proto\": ";
  JsonStr(&out, JsonL4Name(o.protonum));
  Appendf(&out, ", \"protonum\": %u, \"reply\": ", o.protonum);
  JsonTuple(&out, ci.reply);
  if (ProtoInfo(o.protonum).has_states) {
    out += ", \"state\": ";
    JsonStr(&out, StateName(o.protonum, ci.state));
  }
  out += ", \"status\": [";
  std::string names = StatusNames(ci.status);
  bool first = true;
  size_t pos = 0;
  while (!names.empty() && names != "-" && pos <= names.size()) {
    size_t comma = names.find(',', pos);
    if (comma == std::string::npos) comma = names.size();
    if (!first) out += ", ";
    JsonStr(&out, std::string_view(names).substr(pos, comma - pos));
    first = false;
    pos = comma + 1;
  }
  out += ']';
  if (o.protonum == kProtoTcp) {
    Appendf(&out,
            ", \"tcp\": {\"flags_orig\": %u, \"flags_reply\": %u, \"wscale_orig\": %u, "
            "\"wscale_reply\": %u}",
            ci.tcp_flags[0], ci.tcp_flags[1], ci.tcp_wscale[0], ci.tcp_wscale[1]);
  }
  Appendf(&out, ", \"timeout\": %" PRId64 ", \"unreplied\": %s, \"use\": 1, \"zone\": %u}",
          ci.timeout_s, (ci.status & kSeenReply) ? "false" : "true", o.zone);
  return out;
}

std::string FormatTable(const std::vector<ConnInfo>& entries, ListFormat fmt) {
  std::string out;
  if (fmt == ListFormat::kJson) {
    std::vector<const ConnInfo*> order;
    order.reserve(entries.size());
    for (const ConnInfo& ci : entries) order.push_back(&ci);
    std::sort(order.begin(), order.end(),
              [](const ConnInfo* a, const ConnInfo* b) { return a->id < b->id; });
    for (const ConnInfo* ci : order) {
      out += FormatJsonLine(*ci);
      out += '\n';
    }
    return out;
  }
  std::vector<std::string> lines;
  lines.reserve(entries.size());
  for (const ConnInfo& ci : entries) {
    switch (fmt) {
      case ListFormat::kDefault:
        lines.push_back(FormatConntrackLine(ci, false));
        break;
      case ListFormat::kExtended:
        lines.push_back(FormatConntrackLine(ci, true));
        break;
      default:
        lines.push_back(FormatProcLine(ci));
        break;
    }
  }
  std::sort(lines.begin(), lines.end());
  for (const std::string& l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

std::string FormatConntrackStats(const Stats& st) {
  // conntrack-tools prints "cpu=%-4u\t" then the counters, each followed by a space.
  std::string out = "cpu=0   \t";
  Appendf(&out,
          "found=%" PRIu64 " invalid=%" PRIu64 " insert=%" PRIu64 " insert_failed=%" PRIu64 " ",
          st.found, st.invalid, st.insert, st.insert_failed);
  Appendf(&out, "drop=%" PRIu64 " early_drop=%" PRIu64 " error=%" PRIu64 " ", st.drop,
          st.early_drop, st.error);
  Appendf(&out, "search_restart=%" PRIu64 " clash_resolve=%" PRIu64 " chaintoolong=%" PRIu64 " \n",
          st.search_restart, st.clash_resolve, st.chaintoolong);
  return out;
}

std::string FormatConntrackCount(uint32_t count) { return std::to_string(count) + "\n"; }

std::string FormatProcStat(const Stats& st, uint32_t count) {
  // Mirrors ct_cpu_seq_show(), net/netfilter/nf_conntrack_standalone.c (v6.18): %08x values, two
  // spaces after `entries` and after `icmp_error`. The kernel prints 32-bit values.
  std::string out =
      "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop "
      "early_drop icmp_error  expect_new expect_create expect_delete search_restart\n";
  auto h = [](uint64_t v) { return static_cast<unsigned>(v & 0xffffffffu); };
  Appendf(&out, "%08x  %08x %08x %08x %08x %08x %08x %08x ", count, h(st.clash_resolve),
          h(st.found), 0u, h(st.invalid), 0u, 0u, h(st.chaintoolong));
  Appendf(&out, "%08x %08x %08x %08x %08x  %08x %08x %08x %08x\n", h(st.insert),
          h(st.insert_failed), h(st.drop), h(st.early_drop), h(st.error), 0u, 0u, 0u,
          h(st.search_restart));
  return out;
}

}  // namespace ctrack
