// Snapshot readers: ctrack's JSON-lines snapshots and the text forms a user can paste from a host
// without ctrack. Every input byte is untrusted: lines are parsed with explicit bounds, numbers
// are range-checked, and the first problem is reported as "NAME:LINE: what".
#include <arpa/inet.h>
#include <ctrack/entry.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "format/snapshot.h"

namespace ctrack {
namespace {

// --- a small JSON reader (RFC 8259), enough for the snapshot format -------------------------

struct JValue {
  enum Type : uint8_t { kNull, kBool, kInt, kString, kArray, kObject } type = kNull;
  bool b = false;
  bool negative = false;
  uint64_t u = 0;  // magnitude of an integer
  std::string s;
  std::vector<JValue> arr;
  // An object's members in input order: keys[i] names vals[i]. Two vectors, not one of pairs:
  // a pair needs JValue complete, which it is not inside its own definition (GCC accepts it,
  // clang does not), while a vector may hold an incomplete type.
  std::vector<std::string> keys;
  std::vector<JValue> vals;

  const JValue* Get(std::string_view key) const {
    if (type != kObject) return nullptr;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &vals[i];
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view in) : in_(in) {}

  // Parses one value spanning the whole input; "" on success.
  std::string ParseDocument(JValue* out) {
    SkipSpace();
    if (!Value(out, 0)) return err_;
    SkipSpace();
    if (pos_ != in_.size()) return At("text after the JSON value");
    return "";
  }

 private:
  static constexpr int kMaxDepth = 16;

  std::string At(const char* what) {
    return std::string(what) + " at column " + std::to_string(pos_ + 1);
  }
  bool Fail(const char* what) {
    if (err_.empty()) err_ = At(what);
    return false;
  }
  void SkipSpace() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\r' || in_[pos_] == '\n')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return Fail("bad literal");
    pos_ += word.size();
    return true;
  }
  bool Value(JValue* v, int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    if (pos_ >= in_.size()) return Fail("unexpected end of line");
    char c = in_[pos_];
    if (c == '{') return Object(v, depth);
    if (c == '[') return Array(v, depth);
    if (c == '"') {
      v->type = JValue::kString;
      return String(&v->s);
    }
    if (c == 't' || c == 'f') {
      v->type = JValue::kBool;
      v->b = c == 't';
      return Literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') {
      v->type = JValue::kNull;
      return Literal("null");
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(v);
    return Fail("unexpected character");
  }
  bool Number(JValue* v) {
    v->type = JValue::kInt;
    if (in_[pos_] == '-') {
      v->negative = true;
      ++pos_;
    }
    size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    if (pos_ == start) return Fail("bad number");
    if (pos_ < in_.size() && (in_[pos_] == '.' || in_[pos_] == 'e' || in_[pos_] == 'E')) {
      return Fail("only integers are expected");
    }
    auto [p, ec] = std::from_chars(in_.data() + start, in_.data() + pos_, v->u);
    if (ec != std::errc() || p != in_.data() + pos_) return Fail("number out of range");
    return true;
  }
  static void PutUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xe0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  bool String(std::string* out) {
    ++pos_;  // opening quote
    out->clear();
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string");
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (pos_ >= in_.size()) break;
      char e = in_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *out += e;
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        case 'u': {
          if (pos_ + 4 > in_.size()) return Fail("short \\u escape");
          uint32_t cp = 0;
          auto [p, ec] = std::from_chars(in_.data() + pos_, in_.data() + pos_ + 4, cp, 16);
          if (ec != std::errc() || p != in_.data() + pos_ + 4) return Fail("bad \\u escape");
          pos_ += 4;
          PutUtf8(cp, out);  // surrogates are kept as their own code units
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }
  bool Array(JValue* v, int depth) {
    v->type = JValue::kArray;
    ++pos_;
    SkipSpace();
    if (pos_ < in_.size() && in_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      SkipSpace();
      v->arr.emplace_back();
      if (!Value(&v->arr.back(), depth + 1)) return false;
      SkipSpace();
      if (pos_ >= in_.size()) return Fail("unterminated array");
      if (in_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (in_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }
  bool Object(JValue* v, int depth) {
    v->type = JValue::kObject;
    ++pos_;
    SkipSpace();
    if (pos_ < in_.size() && in_[pos_] == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (pos_ >= in_.size() || in_[pos_] != '"') return Fail("expected a key");
      std::string key;
      if (!String(&key)) return false;
      SkipSpace();
      if (pos_ >= in_.size() || in_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      SkipSpace();
      v->keys.push_back(std::move(key));
      v->vals.emplace_back();
      if (!Value(&v->vals.back(), depth + 1)) return false;
      SkipSpace();
      if (pos_ >= in_.size()) return Fail("unterminated object");
      if (in_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (in_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string err_;
};

// Typed field access; each returns "" or what is wrong with the field.
std::string GetUint(const JValue& o, const char* key, uint64_t max, uint64_t* out,
                    bool required = true) {
  const JValue* v = o.Get(key);
  if (v == nullptr) return required ? std::string("missing \"") + key + "\"" : "";
  if (v->type != JValue::kInt || v->negative || v->u > max) {
    return std::string("\"") + key + "\" is not a number in range";
  }
  *out = v->u;
  return "";
}

std::string GetInt(const JValue& o, const char* key, int64_t* out, bool required = true) {
  const JValue* v = o.Get(key);
  if (v == nullptr) return required ? std::string("missing \"") + key + "\"" : "";
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (v->type != JValue::kInt || v->u > kMax) {
    return std::string("\"") + key + "\" is not a number in range";
  }
  *out = v->negative ? -static_cast<int64_t>(v->u) : static_cast<int64_t>(v->u);
  return "";
}

std::string GetString(const JValue& o, const char* key, std::string* out, bool required = false) {
  const JValue* v = o.Get(key);
  if (v == nullptr) return required ? std::string("missing \"") + key + "\"" : "";
  if (v->type != JValue::kString) return std::string("\"") + key + "\" is not a string";
  *out = v->s;
  return "";
}

// --- shared pieces --------------------------------------------------------------------------

bool ParseAddress(std::string_view text, uint8_t l3num, uint8_t* out) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::memset(out, 0, 16);
  return inet_pton(l3num == kAfInet6 ? AF_INET6 : AF_INET, buf, out) == 1;
}

template <typename T>
bool ParseDec(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

template <typename T>
bool ParseHex(std::string_view s, T* out) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

// State number from its name as the tools print it.
bool StateByName(uint8_t protonum, std::string_view name, uint8_t* out) {
  const ProtoDesc& pd = ProtoInfo(protonum);
  if (!pd.has_states) return false;
  for (uint8_t s = 0; s < pd.state_count; ++s) {
    if (name == StateName(protonum, s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

// NAT status bits implied by a reply tuple that is not the inverse (the kernel sets SRC_NAT /
// DST_NAT and their _DONE bits when it rewrites; a dump in text shows only the tuples).
uint16_t NatBits(const Tuple& orig, const Tuple& reply) {
  Tuple inv;
  if (!InvertTuple(orig, &inv) || inv == reply) return 0;
  uint16_t bits = 0;
  if (std::memcmp(inv.src, reply.src, 16) != 0 || inv.src_id != reply.src_id) {
    bits |= kDstNat | kDstNatDone;
  }
  if (std::memcmp(inv.dst, reply.dst, 16) != 0 || inv.dst_id != reply.dst_id) {
    bits |= kSrcNat | kSrcNatDone;
  }
  return bits;
}

// The kernel-only fields are carried twice (SnapshotEntry for the file, ConnInfo for the
// printers); the readers fill both.
void MirrorKernelFields(SnapshotEntry* e) {
  if (e->use != 0) e->ci.use = e->use;
  e->ci.has_timestamp = e->has_timestamp;
  e->ci.ts_start_ns = static_cast<uint64_t>(std::max<int64_t>(e->start_ns, 0));
  e->ci.ts_stop_ns = static_cast<uint64_t>(std::max<int64_t>(e->stop_ns, 0));
  e->ci.helper = e->helper;
}

std::string CheckEntry(const SnapshotEntry& e) {
  const ConnInfo& ci = e.ci;
  Tuple inv;
  if (!InvertTuple(ci.orig, &inv)) return "ICMP type without a reply type in a tracked entry";
  if (ci.orig.protonum == kProtoIcmp || ci.orig.protonum == kProtoIcmpv6) {
    if (ci.reply.icmp_type() != inv.icmp_type())
      return "reply ICMP type does not answer the original";
  }
  return "";
}

// --- JSON snapshot lines --------------------------------------------------------------------

std::string TupleFromJson(const JValue& j, uint8_t l3num, uint8_t protonum, uint16_t zone,
                          Tuple* t) {
  if (j.type != JValue::kObject) return "tuple is not an object";
  std::memset(t, 0, sizeof *t);
  t->l3num = l3num;
  t->protonum = protonum;
  t->zone = zone;
  std::string src, dst;
  if (std::string e = GetString(j, "src", &src, true); !e.empty()) return e;
  if (std::string e = GetString(j, "dst", &dst, true); !e.empty()) return e;
  if (!ParseAddress(src, l3num, t->src)) return "bad address \"" + src + "\"";
  if (!ParseAddress(dst, l3num, t->dst)) return "bad address \"" + dst + "\"";
  uint64_t a = 0, b = 0, c = 0;
  if (protonum == kProtoIcmp || protonum == kProtoIcmpv6) {
    if (std::string e = GetUint(j, "type", 255, &a); !e.empty()) return e;
    if (std::string e = GetUint(j, "code", 255, &b); !e.empty()) return e;
    if (std::string e = GetUint(j, "id", 0xffff, &c); !e.empty()) return e;
    t->dst_id = static_cast<uint16_t>(a << 8 | b);
    t->src_id = static_cast<uint16_t>(c);
  } else if (protonum == kProtoGre) {
    if (std::string e = GetUint(j, "srckey", 0xffff, &a); !e.empty()) return e;
    if (std::string e = GetUint(j, "dstkey", 0xffff, &b); !e.empty()) return e;
    t->src_id = static_cast<uint16_t>(a);
    t->dst_id = static_cast<uint16_t>(b);
  } else if (ProtoInfo(protonum).has_ports) {
    if (std::string e = GetUint(j, "sport", 0xffff, &a); !e.empty()) return e;
    if (std::string e = GetUint(j, "dport", 0xffff, &b); !e.empty()) return e;
    t->src_id = static_cast<uint16_t>(a);
    t->dst_id = static_cast<uint16_t>(b);
  }
  return "";
}

std::string StatsFromJson(const JValue& j, Stats* s) {
  if (j.type != JValue::kObject) return "stats are not an object";
  const uint64_t m = std::numeric_limits<uint64_t>::max();
  struct F {
    const char* key;
    uint64_t* v;
  } fields[] = {{"found", &s->found},
                {"invalid", &s->invalid},
                {"insert", &s->insert},
                {"insert_failed", &s->insert_failed},
                {"drop", &s->drop},
                {"early_drop", &s->early_drop},
                {"error", &s->error},
                {"search_restart", &s->search_restart},
                {"clash_resolve", &s->clash_resolve},
                {"chaintoolong", &s->chaintoolong}};
  for (const F& f : fields) {
    if (std::string e = GetUint(j, f.key, m, f.v, false); !e.empty()) return e;
  }
  return "";
}

std::string HeaderFromJson(const JValue& j, SnapshotHeader* h) {
  uint64_t version = 0;
  if (std::string e = GetUint(j, "ctrack_snapshot", 1000, &version); !e.empty()) return e;
  if (version != static_cast<uint64_t>(kSnapshotVersion)) {
    return "snapshot format version " + std::to_string(version) + " is not supported (this is " +
           std::to_string(kSnapshotVersion) + ")";
  }
  h->version = static_cast<int>(version);
  for (auto [key, field] : {std::pair{"source", &h->source}, std::pair{"kernel", &h->kernel},
                            std::pair{"host", &h->host}}) {
    if (std::string e = GetString(j, key, field); !e.empty()) return e;
  }
  if (std::string e = GetInt(j, "time_ns", &h->time_ns, false); !e.empty()) return e;
  uint64_t buckets = 0;
  if (std::string e = GetUint(j, "buckets", 0xffffffffu, &buckets, false); !e.empty()) return e;
  h->buckets = static_cast<uint32_t>(buckets);
  if (std::string e = GetInt(j, "count", &h->count, false); !e.empty()) return e;
  if (const JValue* s = j.Get("sysctls")) {
    if (s->type != JValue::kObject) return "\"sysctls\" is not an object";
    for (size_t i = 0; i < s->keys.size(); ++i) {
      const std::string& k = s->keys[i];
      const JValue& v = s->vals[i];
      if (v.type == JValue::kString) {
        h->sysctls.emplace_back(k, v.s);
      } else if (v.type == JValue::kInt) {
        h->sysctls.emplace_back(k, (v.negative ? "-" : "") + std::to_string(v.u));
      } else {
        return "sysctl \"" + k + "\" is not a string";
      }
    }
  }
  if (const JValue* s = j.Get("stats")) {
    h->has_stats = true;
    if (std::string e = StatsFromJson(*s, &h->total); !e.empty()) return e;
  }
  if (const JValue* s = j.Get("stats_per_cpu")) {
    if (s->type != JValue::kArray) return "\"stats_per_cpu\" is not an array";
    if (s->arr.size() > 65536) return "too many CPUs";
    h->has_stats = true;
    for (const JValue& c : s->arr) {
      SnapshotCpuStats cs;
      uint64_t cpu = 0;
      if (std::string e = GetUint(c, "cpu", 65535, &cpu); !e.empty()) return e;
      cs.cpu = static_cast<uint32_t>(cpu);
      if (std::string e = StatsFromJson(c, &cs.stats); !e.empty()) return e;
      const uint64_t m = std::numeric_limits<uint64_t>::max();
      for (auto [key, field] :
           {std::pair{"entries", &cs.entries}, std::pair{"new", &cs.new_},
            std::pair{"ignore", &cs.ignore}, std::pair{"delete", &cs.delete_},
            std::pair{"expect_new", &cs.expect_new}, std::pair{"expect_create", &cs.expect_create},
            std::pair{"expect_delete", &cs.expect_delete}}) {
        if (std::string e = GetUint(c, key, m, field, false); !e.empty()) return e;
      }
      h->per_cpu.push_back(cs);
    }
  }
  return "";
}

// An entry's "tcp" object: {"wscale":[orig,reply],"flags":[orig,reply]}.
std::string TcpFromJson(const JValue& tcp, ConnInfo* ci) {
  const JValue* ws = tcp.Get("wscale");
  const JValue* fl = tcp.Get("flags");
  for (const JValue* a : {ws, fl}) {
    if (a == nullptr || a->type != JValue::kArray || a->arr.size() != 2) {
      return "\"tcp\" needs \"wscale\" and \"flags\" pairs";
    }
    for (const JValue& x : a->arr) {
      if (x.type != JValue::kInt || x.negative || x.u > 255) return "bad \"tcp\" value";
    }
  }
  for (int d = 0; d < 2; ++d) {
    if (ws->arr[d].u > 14) return "window scale above 14";
    ci->tcp_wscale[d] = static_cast<uint8_t>(ws->arr[d].u);
    ci->tcp_flags[d] = static_cast<uint8_t>(fl->arr[d].u);
  }
  return "";
}

// An entry's "counters" object: {"packets":[orig,reply],"bytes":[orig,reply]}.
std::string CountersFromJson(const JValue& c, ConnInfo* ci) {
  const JValue* pk = c.Get("packets");
  const JValue* by = c.Get("bytes");
  for (const JValue* a : {pk, by}) {
    if (a == nullptr || a->type != JValue::kArray || a->arr.size() != 2) {
      return "\"counters\" needs \"packets\" and \"bytes\" pairs";
    }
    for (const JValue& x : a->arr) {
      if (x.type != JValue::kInt || x.negative) return "bad counter";
    }
  }
  ci->has_acct = true;
  for (int d = 0; d < 2; ++d) {
    ci->packets[d] = pk->arr[d].u;
    ci->bytes[d] = by->arr[d].u;
  }
  return "";
}

std::string EntryFromJson(const JValue& j, SnapshotEntry* out) {
  *out = SnapshotEntry{};
  ConnInfo& ci = out->ci;
  std::string l3;
  if (std::string e = GetString(j, "l3", &l3, true); !e.empty()) return e;
  uint8_t l3num;
  if (l3 == "ipv4") {
    l3num = kAfInet;
  } else if (l3 == "ipv6") {
    l3num = kAfInet6;
  } else {
    return "unknown \"l3\" \"" + l3 + "\"";
  }
  uint64_t protonum = 0, zone = 0, v = 0;
  if (std::string e = GetUint(j, "protonum", 255, &protonum); !e.empty()) return e;
  if (std::string e = GetUint(j, "zone", 0xffff, &zone, false); !e.empty()) return e;
  const JValue* orig = j.Get("orig");
  const JValue* reply = j.Get("reply");
  if (orig == nullptr || reply == nullptr) return "missing \"orig\" or \"reply\"";
  uint8_t p = static_cast<uint8_t>(protonum);
  uint16_t z = static_cast<uint16_t>(zone);
  if (std::string e = TupleFromJson(*orig, l3num, p, z, &ci.orig); !e.empty()) return "orig: " + e;
  if (std::string e = TupleFromJson(*reply, l3num, p, z, &ci.reply); !e.empty()) {
    return "reply: " + e;
  }
  if (j.Get("id") != nullptr) {
    if (std::string e = GetUint(j, "id", 0xffffffffu, &v); !e.empty()) return e;
    ci.id = static_cast<uint32_t>(v);
    out->has_id = true;
  }
  if (ProtoInfo(p).has_states) {
    std::string state;
    if (std::string e = GetString(j, "state", &state, true); !e.empty()) return e;
    if (!StateByName(p, state, &ci.state)) return "unknown state \"" + state + "\"";
  }
  if (std::string e = GetUint(j, "status", 0xffff, &v); !e.empty()) return e;
  ci.status = static_cast<uint16_t>(v);
  if (std::string e = GetInt(j, "timeout", &ci.timeout_s); !e.empty()) return e;
  if (ci.timeout_s < 0 || ci.timeout_s > 0x7fffffff) return "\"timeout\" out of range";
  if (std::string e = GetUint(j, "mark", 0xffffffffu, &v, false); !e.empty()) return e;
  ci.mark = static_cast<uint32_t>(v);
  if (const JValue* tcp = j.Get("tcp"); tcp != nullptr && p == kProtoTcp) {
    if (std::string e = TcpFromJson(*tcp, &ci); !e.empty()) return e;
  }
  if (const JValue* gre = j.Get("gre"); gre != nullptr && p == kProtoGre) {
    if (std::string e = GetUint(*gre, "timeout", 0x7fffffff, &v); !e.empty()) return e;
    ci.gre_timeout_s = static_cast<uint32_t>(v);
    if (std::string e = GetUint(*gre, "stream_timeout", 0x7fffffff, &v); !e.empty()) return e;
    ci.gre_stream_timeout_s = static_cast<uint32_t>(v);
  }
  if (const JValue* c = j.Get("counters")) {
    if (std::string e = CountersFromJson(*c, &ci); !e.empty()) return e;
  }
  if (j.Get("start_ns") != nullptr) {
    out->has_timestamp = true;
    if (std::string e = GetInt(j, "start_ns", &out->start_ns); !e.empty()) return e;
    if (std::string e = GetInt(j, "stop_ns", &out->stop_ns, false); !e.empty()) return e;
  }
  if (std::string e = GetUint(j, "use", 0xffffffffu, &v, false); !e.empty()) return e;
  out->use = static_cast<uint32_t>(v);
  if (std::string e = GetString(j, "helper", &out->helper); !e.empty()) return e;
  if (std::string e = GetString(j, "labels", &out->labels); !e.empty()) return e;
  MirrorKernelFields(out);
  return CheckEntry(*out);
}

// --- conntrack -L / /proc/net/nf_conntrack ---------------------------------------------------

// Splits a line into tokens at spaces; a token starting with '[' runs to its ']' (the tools print
// "[start=Tue Dec  1 19:35:42 2026]" with spaces inside). Returns false on an unclosed bracket.
bool Tokenize(std::string_view line, std::vector<std::string_view>* out) {
  out->clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t start = i;
    if (line[i] == '[') {
      size_t close = line.find(']', i);
      if (close == std::string_view::npos) return false;
      i = close + 1;
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    }
    out->push_back(line.substr(start, i - start));
    if (out->size() > 256) return false;
  }
  return true;
}

// ctime()'s text ("Tue Dec  1 19:35:42 2026", local time) to Unix ns; false if it is not that.
bool ParseCtime(std::string_view s, int64_t* out_ns) {
  char buf[64];
  if (s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  struct tm tm {};
  const char* end = strptime(buf, "%a %b %d %H:%M:%S %Y", &tm);
  if (end == nullptr || *end != '\0') return false;
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  // Before 1970 or past 2262 is no conntrack timestamp, and would overflow the ns count.
  if (t < 0 || t > static_cast<time_t>(INT64_MAX / 1000000000)) return false;
  *out_ns = static_cast<int64_t>(t) * 1000000000;
  return true;
}

// What a `conntrack -L` line has said so far: the leading columns, then per tuple the key=value
// fields (the first src/dst/ids belong to the original tuple, the second to the reply) and the
// [FLAGS].
struct ListHalf {
  bool src = false, dst = false;
  std::string_view src_text, dst_text;
  bool a = false, b = false, c = false;  // sport/type/srckey, dport/code/dstkey, id
  uint64_t va = 0, vb = 0, vc = 0;
};

struct ListLine {
  uint8_t l3num = 0;
  bool have_l3 = false;
  uint8_t protonum = 0;
  ListHalf half[2];
  int cur = -1;
  bool unreplied = false, assured = false, offload = false, hw_offload = false;
  uint16_t zone = 0;
};

// The leading columns: [l3name l3num] l4name l4num timeout [state], then /proc's GRE per-entry
// timeouts. Leaves *i at the first key=value or [FLAG] token.
std::string ParseListHeader(const std::vector<std::string_view>& tok, size_t* pos, ListLine* st,
                            ConnInfo& ci) {
  size_t& i = *pos;
  auto need = [&](size_t n) { return i + n <= tok.size(); };
  if (need(2) && (tok[0] == "ipv4" || tok[0] == "ipv6")) {
    uint8_t n = 0;
    if (!ParseDec(tok[1], &n) || (n != kAfInet && n != kAfInet6)) return "bad layer-3 number";
    if ((tok[0] == "ipv4") != (n == kAfInet)) return "layer-3 name and number disagree";
    st->l3num = n;
    st->have_l3 = true;
    i = 2;
  }
  if (!need(3)) return "too few fields for an entry";
  uint8_t& protonum = st->protonum;
  if (!ParseDec(tok[i + 1], &protonum))
    return "bad protocol number '" + std::string(tok[i + 1]) + "'";
  i += 2;
  int64_t timeout = 0;
  if (!ParseDec(tok[i], &timeout) || timeout < 0 || timeout > 0x7fffffff) {
    return "bad timeout '" + std::string(tok[i]) + "'";
  }
  ci.timeout_s = timeout;
  ++i;
  if (ProtoInfo(protonum).has_states) {
    if (!need(1) || !StateByName(protonum, tok[i], &ci.state)) {
      return "bad or missing state" + (need(1) ? " '" + std::string(tok[i]) + "'" : std::string());
    }
    ++i;
  }
  // /proc's GRE per-entry timeouts: "timeout=30, stream_timeout=180".
  if (protonum == kProtoGre && need(1) && tok[i].substr(0, 8) == "timeout=") {
    std::string_view v = tok[i].substr(8);
    if (!v.empty() && v.back() == ',') v.remove_suffix(1);
    if (!ParseDec(v, &ci.gre_timeout_s)) return "bad GRE timeout";
    ++i;
    if (!need(1) || tok[i].substr(0, 15) != "stream_timeout=" ||
        !ParseDec(tok[i].substr(15), &ci.gre_stream_timeout_s)) {
      return "bad GRE stream_timeout";
    }
    ++i;
  }
  return "";
}

// A bracketed token t ("[ASSURED]", "[start=...]").
std::string ParseListFlag(std::string_view t, ListLine* st, SnapshotEntry* out) {
  if (t.size() < 2 || t.back() != ']') return "bad bracketed field";
  std::string_view in = t.substr(1, t.size() - 2);
  if (in == "UNREPLIED") {
    st->unreplied = true;
  } else if (in == "ASSURED") {
    st->assured = true;
  } else if (in == "OFFLOAD") {
    st->offload = true;
  } else if (in == "HW_OFFLOAD") {
    st->hw_offload = true;
  } else if (in.substr(0, 6) == "start=" || in.substr(0, 5) == "stop=") {
    bool start = in[2] == 'a';
    int64_t ns = 0;
    if (!ParseCtime(in.substr(start ? 6 : 5), &ns)) return "bad time in '" + std::string(t) + "'";
    out->has_timestamp = true;
    (start ? out->start_ns : out->stop_ns) = ns;
  } else {
    return "unknown flag '" + std::string(t) + "'";
  }
  return "";
}

// The value v of field k as a number no larger than max (the GRE keys are hex, the rest decimal).
bool ListFieldNum(std::string_view k, std::string_view v, uint64_t max, uint64_t* dst) {
  uint64_t x = 0;
  bool ok = (k == "srckey" || k == "dstkey") ? ParseHex(v, &x) : ParseDec(v, &x);
  if (!ok || x > max) return false;
  *dst = x;
  return true;
}

// A key=value token t.
std::string ParseListField(std::string_view t, ListLine* st, SnapshotEntry* out) {
  ConnInfo& ci = out->ci;
  size_t eq = t.find('=');
  if (eq == std::string_view::npos || eq == 0) return "unexpected field '" + std::string(t) + "'";
  std::string_view k = t.substr(0, eq), v = t.substr(eq + 1);
  auto num = [&](uint64_t max, uint64_t* dst) { return ListFieldNum(k, v, max, dst); };
  std::string bad = "bad value in '" + std::string(t) + "'";
  int& cur = st->cur;
  ListHalf* half = st->half;
  const uint8_t protonum = st->protonum;
  if (k == "src") {
    if (cur == 1) return "more than two tuples";
    ++cur;
    half[cur].src = true;
    half[cur].src_text = v;
  } else if (k == "dst") {
    if (cur < 0 || half[cur].dst) return "dst= without its src=";
    half[cur].dst = true;
    half[cur].dst_text = v;
  } else if (k == "sport" || k == "type" || k == "srckey") {
    if (cur < 0 || half[cur].a || !num(k == "type" ? 255 : 0xffff, &half[cur].va)) return bad;
    half[cur].a = true;
  } else if (k == "dport" || k == "code" || k == "dstkey") {
    if (cur < 0 || half[cur].b || !num(k == "code" ? 255 : 0xffff, &half[cur].vb)) return bad;
    half[cur].b = true;
  } else if (k == "id" && cur >= 0 && !half[cur].c &&
             (protonum == kProtoIcmp || protonum == kProtoIcmpv6) && !(cur == 1 && half[1].c)) {
    // ICMP's id inside a tuple; the entry id (`-o id`) comes last, after use=.
    if (!num(0xffff, &half[cur].vc)) return bad;
    half[cur].c = true;
  } else if (k == "packets" || k == "bytes") {
    uint64_t x = 0;
    if (cur < 0 || !num(std::numeric_limits<uint64_t>::max(), &x)) return bad;
    ci.has_acct = true;
    (k == "packets" ? ci.packets : ci.bytes)[cur] = x;
  } else if (k == "mark") {
    uint64_t x = 0;
    if (!num(0xffffffffu, &x)) return bad;
    ci.mark = static_cast<uint32_t>(x);
  } else if (k == "zone") {
    uint64_t x = 0;
    if (!num(0xffff, &x)) return bad;
    st->zone = static_cast<uint16_t>(x);
  } else if (k == "zone-orig" || k == "zone-reply") {
    // Directional zones (CTA_TUPLE_ZONE): the lookup zone stays the entry's.
    uint64_t x = 0;
    if (!num(0xffff, &x)) return bad;
    ci.tuple_zone[k == "zone-orig" ? 0 : 1] = static_cast<int32_t>(x);
  } else if (k == "use") {
    uint64_t x = 0;
    if (!num(0xffffffffu, &x)) return bad;
    out->use = static_cast<uint32_t>(x);
  } else if (k == "id") {
    uint64_t x = 0;
    if (!num(0xffffffffu, &x)) return bad;
    ci.id = static_cast<uint32_t>(x);
    out->has_id = true;
  } else if (k == "helper") {
    out->helper = std::string(v);
  } else if (k == "labels") {
    out->labels = std::string(v);
  } else if (k == "delta-time" || k == "secctx" || k == "secmark" || k == "timeout" ||
             k == "stream_timeout") {
    // Informational (delta-time is derived from the start time; secctx/secmark are LSM).
  } else {
    return "unknown field '" + std::string(t) + "'";
  }
  return "";
}

// One direction's tuple from the fields collected for it.
std::string BuildListTuple(const ListHalf& h, const ListLine& st, Tuple* t) {
  const uint8_t protonum = st.protonum;
  std::memset(t, 0, sizeof *t);
  t->l3num = st.l3num;
  t->protonum = protonum;
  t->zone = st.zone;
  if (!h.dst) return "tuple without dst=";
  if (!ParseAddress(h.src_text, st.l3num, t->src)) {
    return "bad address '" + std::string(h.src_text) + "'";
  }
  if (!ParseAddress(h.dst_text, st.l3num, t->dst)) {
    return "bad address '" + std::string(h.dst_text) + "'";
  }
  if (protonum == kProtoIcmp || protonum == kProtoIcmpv6) {
    if (!h.a || !h.b || !h.c) return "ICMP tuple without type=, code= and id=";
    t->dst_id = static_cast<uint16_t>(h.va << 8 | h.vb);
    t->src_id = static_cast<uint16_t>(h.vc);
  } else if (ProtoInfo(protonum).has_ports || protonum == kProtoGre) {
    if (!h.a || !h.b) return "tuple without its ports or keys";
    t->src_id = static_cast<uint16_t>(h.va);
    t->dst_id = static_cast<uint16_t>(h.vb);
  } else if (h.a || h.b || h.c) {
    if (protonum != 33) return "ports on a protocol without ports";  // DCCP: printed as 0
  }
  return "";
}

}  // namespace

std::string ParseConntrackListLine(const std::string& line, SnapshotEntry* out) {
  *out = SnapshotEntry{};
  ConnInfo& ci = out->ci;
  std::vector<std::string_view> tok;
  if (!Tokenize(line, &tok)) return "unclosed '[' or too many fields";
  size_t i = 0;
  ListLine st;
  if (std::string e = ParseListHeader(tok, &i, &st, ci); !e.empty()) return e;
  for (; i < tok.size(); ++i) {
    std::string_view t = tok[i];
    std::string e = t.front() == '[' ? ParseListFlag(t, &st, out) : ParseListField(t, &st, out);
    if (!e.empty()) return e;
  }
  if (st.cur != 1) return "expected two tuples (src=... dst=... twice)";

  // Without the l3 columns (`conntrack -L` default), the family is told by the address.
  if (!st.have_l3) {
    st.l3num = st.half[0].src_text.find(':') != std::string_view::npos ? kAfInet6 : kAfInet;
  }
  Tuple* tuples[2] = {&ci.orig, &ci.reply};
  for (int d = 0; d < 2; ++d) {
    if (std::string e = BuildListTuple(st.half[d], st, tuples[d]); !e.empty()) return e;
  }
  ci.status = kConfirmed;
  if (!st.unreplied) ci.status |= kSeenReply;
  if (st.assured || st.offload || st.hw_offload) ci.status |= kAssured;
  if (st.offload) ci.status |= kOffload;
  if (st.hw_offload) ci.status |= kHwOffload | kOffload;
  ci.status |= NatBits(ci.orig, ci.reply);
  MirrorKernelFields(out);
  return CheckEntry(*out);
}

std::string ParseSnapshotEntryLine(const std::string& line, SnapshotEntry* out) {
  JValue j;
  JsonParser p(line);
  if (std::string e = p.ParseDocument(&j); !e.empty()) return e;
  if (j.type != JValue::kObject) return "not a JSON object";
  return EntryFromJson(j, out);
}

namespace {

// The counters of one `conntrack -S` line ("cpu=0   \tfound=0 invalid=0 ...").
std::string ParseConntrackStatsLine(std::string_view line, SnapshotCpuStats* cs) {
  std::vector<std::string_view> tok;
  if (!Tokenize(line, &tok) || tok.empty()) return "bad counters line";
  for (std::string_view t : tok) {
    size_t eq = t.find('=');
    if (eq == std::string_view::npos) return "unexpected field '" + std::string(t) + "'";
    std::string_view k = t.substr(0, eq);
    uint64_t v = 0;
    if (!ParseDec(t.substr(eq + 1), &v)) return "bad value in '" + std::string(t) + "'";
    Stats& s = cs->stats;
    if (k == "cpu") {
      if (v > 65535) return "bad cpu number";
      cs->cpu = static_cast<uint32_t>(v);
    } else if (k == "found") {
      s.found = v;
    } else if (k == "invalid") {
      s.invalid = v;
    } else if (k == "insert") {
      s.insert = v;
    } else if (k == "insert_failed") {
      s.insert_failed = v;
    } else if (k == "drop") {
      s.drop = v;
    } else if (k == "early_drop") {
      s.early_drop = v;
    } else if (k == "error") {
      s.error = v;
    } else if (k == "search_restart") {
      s.search_restart = v;
    } else if (k == "clash_resolve") {
      s.clash_resolve = v;
    } else if (k == "chaintoolong") {
      s.chaintoolong = v;
    } else if (k == "ignore") {
      cs->ignore = v;
    } else if (k == "new") {
      cs->new_ = v;
    } else if (k == "delete") {
      cs->delete_ = v;
    } else if (k == "searched" || k == "delete_list") {
      // Older kernels' columns, always 0 since 4.x.
    } else {
      return "unknown counter '" + std::string(k) + "'";
    }
  }
  return "";
}

// One hex line of /proc/net/stat/nf_conntrack, by the column names of its header.
std::string ParseProcStatLine(std::string_view line, const std::vector<std::string>& cols,
                              SnapshotCpuStats* cs) {
  std::vector<std::string_view> tok;
  if (!Tokenize(line, &tok)) return "bad counters line";
  if (tok.size() != cols.size()) {
    return "expected " + std::to_string(cols.size()) + " hex columns, found " +
           std::to_string(tok.size());
  }
  for (size_t c = 0; c < cols.size(); ++c) {
    uint64_t v = 0;
    if (tok[c].size() > 16 || !ParseHex(tok[c], &v)) {
      return "bad hex value '" + std::string(tok[c]) + "'";
    }
    const std::string& k = cols[c];
    Stats& s = cs->stats;
    if (k == "entries") cs->entries = v;
    if (k == "clashres") s.clash_resolve = v;
    if (k == "found") s.found = v;
    if (k == "new") cs->new_ = v;
    if (k == "invalid") s.invalid = v;
    if (k == "ignore") cs->ignore = v;
    if (k == "delete") cs->delete_ = v;
    if (k == "chainlength") s.chaintoolong = v;
    if (k == "insert") s.insert = v;
    if (k == "insert_failed") s.insert_failed = v;
    if (k == "drop") s.drop = v;
    if (k == "early_drop") s.early_drop = v;
    if (k == "icmp_error") s.error = v;
    if (k == "expect_new") cs->expect_new = v;
    if (k == "expect_create") cs->expect_create = v;
    if (k == "expect_delete") cs->expect_delete = v;
    if (k == "search_restart") s.search_restart = v;
  }
  return "";
}

void AddStats(const Stats& a, Stats* sum) {
  sum->found += a.found;
  sum->invalid += a.invalid;
  sum->insert += a.insert;
  sum->insert_failed += a.insert_failed;
  sum->drop += a.drop;
  sum->early_drop += a.early_drop;
  sum->error += a.error;
  sum->search_restart += a.search_restart;
  sum->clash_resolve += a.clash_resolve;
  sum->chaintoolong += a.chaintoolong;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool HexColumns(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ' ' ||
           c == '\t';
  });
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Which form the counters lines of a text snapshot took: `conntrack -S` or /proc/net/stat.
enum class StatForm { kNone, kTool, kProc };

// What ReadSnapshotText() has seen so far.
struct TextReadState {
  StatForm stat_form = StatForm::kNone;
  std::vector<std::string> proc_cols;  // the /proc counters header's column names
  bool json = false, header_seen = false, trailer_seen = false;
  bool text_entries = false;
  uint64_t json_entries = 0;
};

// One JSON line of a ctrack snapshot: its header, an entry, or its end line.
std::string ReadJsonLine(std::string_view sv, TextReadState* st, Snapshot* out) {
  JValue j;
  JsonParser p(sv);
  if (std::string e = p.ParseDocument(&j); !e.empty()) return e;
  if (j.type != JValue::kObject) return "not a JSON object";
  if (j.Get("ctrack_snapshot") != nullptr) {
    if (st->header_seen || st->text_entries) return "a second snapshot header";
    if (std::string e = HeaderFromJson(j, &out->header); !e.empty()) return e;
    st->header_seen = st->json = true;
  } else if (j.Get("ctrack_snapshot_end") != nullptr) {
    if (!st->json) return "end line without a snapshot header";
    uint64_t n = 0;
    if (std::string e = GetUint(j, "ctrack_snapshot_end", ~0ull, &n); !e.empty()) {
      return e;
    }
    if (n != st->json_entries) {
      return "end line counts " + std::to_string(n) + " entries, the file has " +
             std::to_string(st->json_entries);
    }
    st->trailer_seen = true;
  } else {
    if (!st->json) return "JSON entry before the snapshot header";
    SnapshotEntry e;
    if (std::string err = EntryFromJson(j, &e); !err.empty()) return err;
    out->entries.push_back(std::move(e));
    ++st->json_entries;
  }
  return "";
}

// One line of `sysctl net.netfilter` output: "net.netfilter.NAME = VALUE".
std::string ReadSysctlLine(std::string_view sv, SnapshotHeader* h) {
  size_t eq = sv.find('=');
  if (eq == std::string_view::npos) return "sysctl line without '='";
  std::string_view k = sv.substr(14, eq - 14), v = sv.substr(eq + 1);
  while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.remove_suffix(1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  if (k.empty()) return "sysctl line without a name";
  h->sysctls.emplace_back(std::string(k), std::string(v));
  if (k == "nf_conntrack_buckets") {
    if (!ParseDec(v, &h->buckets)) return "bad nf_conntrack_buckets";
  }
  if (k == "nf_conntrack_count") {
    if (!ParseDec(v, &h->count)) return "bad nf_conntrack_count";
  }
  return "";
}

// One entry line of `conntrack -L` or /proc/net/nf_conntrack (`line` as read, `sv` without its
// leading blanks); the first one tells which of the two the file is.
std::string ReadListLine(const std::string& line, std::string_view sv, TextReadState* st,
                         Snapshot* out) {
  SnapshotEntry e;
  if (std::string err = ParseConntrackListLine(std::string(sv), &e); !err.empty()) return err;
  if (out->header.source.empty()) {
    out->header.source =
        line.find("zone=") != std::string::npos && line.find(" use=2") != std::string::npos
            ? "proc"
            : "conntrack-L";
  }
  st->text_entries = true;
  out->entries.push_back(std::move(e));
  if (out->entries.size() > (1u << 26)) return "more entries than a table can hold";
  return "";
}

// The totals of a text snapshot's per-CPU counters (a ctrack snapshot's header carries its own),
// and /proc's entries column as the count when nothing else gave it.
void SumTextStats(const TextReadState& st, SnapshotHeader* h) {
  if (h->per_cpu.empty()) return;
  h->has_stats = true;
  if (st.json) return;
  h->total = Stats{};
  for (const SnapshotCpuStats& c : h->per_cpu) AddStats(c.stats, &h->total);
  if (h->count < 0 && st.stat_form == StatForm::kProc) {
    h->count = static_cast<int64_t>(h->per_cpu.front().entries);
  }
}

}  // namespace

std::string ReadSnapshotText(const std::string& text, const std::string& name, Snapshot* out) {
  *out = Snapshot{};
  TextReadState st;
  StatForm& stat_form = st.stat_form;
  const bool& json = st.json;
  const bool& trailer_seen = st.trailer_seen;
  size_t pos = 0, lineno = 0;
  auto fail = [&](const std::string& what) {
    return name + ":" + std::to_string(lineno) + ": " + what;
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view sv(line);
    size_t first = sv.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;
    sv.remove_prefix(first);
    if (trailer_seen) return fail("text after the snapshot's end line");

    if (sv.front() == '{') {
      if (std::string e = ReadJsonLine(sv, &st, out); !e.empty()) return fail(e);
      continue;
    }
    if (json) return fail("text line inside a ctrack snapshot");

    if (StartsWith(sv, "conntrack v") || StartsWith(sv, "conntrack-tools")) continue;
    if (StartsWith(sv, "cpu=")) {
      if (stat_form == StatForm::kProc) return fail("conntrack -S line among /proc counters");
      stat_form = StatForm::kTool;
      SnapshotCpuStats cs;
      if (std::string e = ParseConntrackStatsLine(sv, &cs); !e.empty()) return fail(e);
      out->header.per_cpu.push_back(cs);
      continue;
    }
    if (StartsWith(sv, "entries ")) {
      if (stat_form != StatForm::kNone) return fail("a second counters header");
      stat_form = StatForm::kProc;
      std::vector<std::string_view> tok;
      if (!Tokenize(sv, &tok) || tok.size() < 2) return fail("bad counters header");
      for (std::string_view t : tok) st.proc_cols.emplace_back(t);
      continue;
    }
    if (AllDigits(sv)) {  // `conntrack -C`
      if (!ParseDec(sv, &out->header.count)) return fail("bad count");
      continue;
    }
    if (stat_form == StatForm::kProc && HexColumns(sv)) {
      SnapshotCpuStats cs;
      cs.cpu = static_cast<uint32_t>(out->header.per_cpu.size());
      if (out->header.per_cpu.size() >= 65536) return fail("too many CPU lines");
      if (std::string e = ParseProcStatLine(sv, st.proc_cols, &cs); !e.empty()) return fail(e);
      out->header.per_cpu.push_back(cs);
      continue;
    }
    if (StartsWith(sv, "net.netfilter.")) {
      if (std::string e = ReadSysctlLine(sv, &out->header); !e.empty()) return fail(e);
      continue;
    }
    if (std::string e = ReadListLine(line, sv, &st, out); !e.empty()) return fail(e);
  }
  if (json && !trailer_seen) {
    lineno = lineno == 0 ? 1 : lineno;
    return fail("snapshot ends without its end line (truncated?)");
  }
  if (!json && out->entries.empty() && out->header.per_cpu.empty() && out->header.sysctls.empty() &&
      out->header.count < 0) {
    return name + ": no conntrack entries, counters or settings found";
  }
  SumTextStats(st, &out->header);
  return "";
}

std::string ReadSnapshotFile(const std::string& path, Snapshot* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": " + std::strerror(errno);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return path + ": read error";
  if (text.find('\0') != std::string::npos) return path + ": binary data, not a snapshot";
  return ReadSnapshotText(text, path, out);
}

}  // namespace ctrack
