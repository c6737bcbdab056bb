#include "testing/json.h"

#include <cstdlib>

namespace ctrack::testing {

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  bool Run(Json* out, std::string* error) {
    bool ok = Value(out, 0);
    SkipWs();
    if (ok && pos_ != s_.size()) ok = Fail("trailing characters");
    if (!ok) *error = error_;
    return ok;
  }

 private:
  bool Fail(const char* what) {
    if (error_.empty()) error_ = std::string(what) + " at offset " + std::to_string(pos_);
    return false;
  }
  void SkipWs() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return Fail("bad literal");
    pos_ += word.size();
    return true;
  }
  bool String(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected string");
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (pos_ >= s_.size()) return Fail("bad escape");
      char e = s_[pos_++];
      switch (e) {
        case 'n':
          *out += '\n';
          break;
        case 't':
          *out += '\t';
          break;
        case 'r':
          *out += '\r';
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return Fail("bad \\u escape");
          unsigned cp = static_cast<unsigned>(
              std::strtoul(std::string(s_.substr(pos_, 4)).c_str(), nullptr, 16));
          pos_ += 4;
          // Fixtures are ASCII; anything else is kept as UTF-8 of the BMP code point.
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
          break;
        }
        default:
          *out += e;
      }
    }
    if (pos_ >= s_.size()) return Fail("unterminated string");
    ++pos_;
    return true;
  }
  bool Value(Json* out, int depth) {
    if (depth > 64) return Fail("nesting too deep");
    SkipWs();
    if (pos_ >= s_.size()) return Fail("unexpected end");
    char c = s_[pos_];
    if (c == '{') {
      out->type_ = Json::Type::kObject;
      ++pos_;
      SkipWs();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      while (true) {
        SkipWs();
        std::string key;
        if (!String(&key)) return false;
        SkipWs();
        if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':'");
        ++pos_;
        if (!Value(&out->object_[key], depth + 1)) return false;
        SkipWs();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '}') {
          ++pos_;
          return true;
        }
        return Fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      out->type_ = Json::Type::kArray;
      ++pos_;
      SkipWs();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      while (true) {
        out->array_.emplace_back();
        if (!Value(&out->array_.back(), depth + 1)) return false;
        SkipWs();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == ']') {
          ++pos_;
          return true;
        }
        return Fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      out->type_ = Json::Type::kString;
      return String(&out->string_);
    }
    if (c == 't') {
      out->type_ = Json::Type::kBool;
      out->bool_ = true;
      return Literal("true");
    }
    if (c == 'f') {
      out->type_ = Json::Type::kBool;
      return Literal("false");
    }
    if (c == 'n') return Literal("null");
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::string_view("+-.eE0123456789").find(s_[pos_]) != std::string_view::npos)) {
      ++pos_;
    }
    if (start == pos_) return Fail("unexpected character");
    out->type_ = Json::Type::kNumber;
    out->number_ = std::strtod(std::string(s_.substr(start, pos_ - start)).c_str(), nullptr);
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

bool Json::Parse(std::string_view text, Json* out, std::string* error) {
  *out = Json();
  return JsonParser(text).Run(out, error);
}

const Json& Json::operator[](const std::string& key) const {
  static const Json kNull;
  auto it = object_.find(key);
  return it == object_.end() ? kNull : it->second;
}

}  // namespace ctrack::testing
