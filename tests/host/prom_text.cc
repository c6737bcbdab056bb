#include "host/prom_text.h"

#include <cmath>
#include <cstdlib>
#include <set>

namespace ctrack::testing {
namespace {

bool NameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }
bool LabelStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool LabelChar(char c) { return LabelStart(c) || (c >= '0' && c <= '9'); }

bool ValidName(const std::string& s) {
  if (s.empty() || !NameStart(s[0])) return false;
  for (char c : s)
    if (!NameChar(c)) return false;
  return true;
}

bool ParseNumber(const std::string& s, double* v) {
  if (s == "+Inf" || s == "Inf") return *v = INFINITY, true;
  if (s == "-Inf") return *v = -INFINITY, true;
  if (s == "NaN") return *v = NAN, true;
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
      return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end && *end == 0;
}

bool EndsWith(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

const PromSample* PromDoc::Find(const std::string& name,
                                const std::map<std::string, std::string>& want) const {
  for (const PromSample& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : want) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) ok = false;
    }
    if (ok) return &s;
  }
  return nullptr;
}

std::string ParsePromText(const std::string& text, bool om, PromDoc* doc) {
  *doc = PromDoc();
  std::set<std::string> help_seen, type_seen, closed, series;
  std::string current;  // family whose lines are being read
  bool eof = false;
  size_t pos = 0;
  int line_no = 0;
  if (text.empty()) return "empty exposition";
  if (text.back() != '\n') return "exposition does not end with a newline";
  auto family_of = [&](const std::string& name) -> std::string {
    // The family a sample belongs to: its name, or for counters its name without _total.
    if (om && EndsWith(name, "_total")) {
      std::string base = name.substr(0, name.size() - 6);
      if (doc->types.count(base) && doc->types[base] == "counter") return base;
    }
    return name;
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    auto err = [&](const std::string& why) {
      return "line " + std::to_string(line_no) + ": " + why;
    };
    if (eof) return err("content after # EOF");
    if (line.empty()) {
      if (om) return err("empty line (OpenMetrics)");
      continue;
    }
    if (line[0] == '#') {
      if (line == "# EOF") {
        if (!om) return err("# EOF in Prometheus text format");
        eof = true;
        continue;
      }
      bool help = line.rfind("# HELP ", 0) == 0, type = line.rfind("# TYPE ", 0) == 0;
      if (!help && !type) {
        if (om) return err("comment line (OpenMetrics allows only HELP/TYPE/UNIT/EOF)");
        continue;
      }
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      std::string name = rest.substr(0, sp);
      if (!ValidName(name)) return err("bad metric name '" + name + "'");
      if (sp == std::string::npos) return err("HELP/TYPE without text");
      std::string arg = rest.substr(sp + 1);
      if (name != current) {
        if (closed.count(name)) return err("family '" + name + "' interleaved");
        if (!current.empty()) closed.insert(current);
        current = name;
      }
      if (help) {
        if (!help_seen.insert(name).second) return err("second HELP for " + name);
      } else {
        static const std::set<std::string> kTypes = {"counter",        "gauge",    "histogram",
                                                     "summary",        "untyped",  "unknown",
                                                     "gaugehistogram", "stateset", "info"};
        if (!kTypes.count(arg)) return err("bad type '" + arg + "'");
        if (!type_seen.insert(name).second) return err("second TYPE for " + name);
        if (om && arg == "counter" && EndsWith(name, "_total"))
          return err("OpenMetrics counter family named with _total: " + name);
        if (!om && arg == "counter" && !EndsWith(name, "_total"))
          return err("counter without _total: " + name);
        doc->types[name] = arg;
      }
      continue;
    }
    // A sample: name [{labels}] value [timestamp]
    size_t i = 0;
    while (i < line.size() && NameChar(line[i])) ++i;
    PromSample s;
    s.name = line.substr(0, i);
    if (!ValidName(s.name)) return err("bad sample name");
    std::string fam = family_of(s.name);
    if (fam != current) {
      if (closed.count(fam)) return err("family '" + fam + "' interleaved");
      if (!current.empty()) closed.insert(current);
      current = fam;
    }
    if (!type_seen.count(fam)) return err("sample of '" + fam + "' without a TYPE before it");
    if (doc->types[fam] == "counter" && !EndsWith(s.name, "_total"))
      return err("counter sample without _total: " + s.name);
    std::string key = s.name + "{";
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool first = true;
      while (i < line.size() && line[i] != '}') {
        if (!first) {
          if (line[i] != ',') return err("expected ',' between labels");
          ++i;
        }
        first = false;
        size_t ls = i;
        if (i >= line.size() || !LabelStart(line[i])) return err("bad label name");
        while (i < line.size() && LabelChar(line[i])) ++i;
        std::string lname = line.substr(ls, i - ls);
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
          return err("expected =\" after label " + lname);
        i += 2;
        std::string val;
        for (;;) {
          if (i >= line.size()) return err("unterminated label value");
          char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) return err("dangling escape");
            char e = line[i++];
            if (e == 'n')
              val += '\n';
            else if (e == '\\' || e == '"')
              val += e;
            else
              return err("bad escape");
          } else {
            val += c;
          }
        }
        if (!s.labels.emplace(lname, val).second) return err("duplicate label " + lname);
      }
      if (i >= line.size()) return err("unterminated label set");
      ++i;
    }
    for (const auto& [k, v] : s.labels) key += k + "=" + v + ",";
    if (!series.insert(key).second) return err("duplicate series " + key);
    if (i >= line.size() || line[i] != ' ') return err("expected one space before the value");
    ++i;
    std::string rest = line.substr(i);
    size_t sp = rest.find(' ');
    std::string num = rest.substr(0, sp);
    if (!ParseNumber(num, &s.value)) return err("bad value '" + num + "'");
    if (sp != std::string::npos) {
      double ts;
      if (!ParseNumber(rest.substr(sp + 1), &ts)) return err("bad timestamp");
    }
    doc->samples.push_back(std::move(s));
  }
  if (om && !eof) return "no # EOF at the end (OpenMetrics)";
  return "";
}

}  // namespace ctrack::testing
