// A small JSON reader for test fixtures (kernel-ct's meta.json and table.jsonl). Not for
// untrusted input at scale: recursive, allocates freely.
#ifndef CTRACK_TESTING_JSON_H_
#define CTRACK_TESTING_JSON_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ctrack::testing {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  // Parses one JSON text. On failure returns false and sets *error.
  static bool Parse(std::string_view text, Json* out, std::string* error);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }

  bool boolean() const { return type_ == Type::kBool && bool_; }
  double number() const { return type_ == Type::kNumber ? number_ : 0; }
  int64_t integer() const { return static_cast<int64_t>(number()); }
  const std::string& str() const { return string_; }
  const std::vector<Json>& array() const { return array_; }
  const std::map<std::string, Json>& object() const { return object_; }

  // Member lookup; a null value when absent or not an object.
  const Json& operator[](const std::string& key) const;
  bool has(const std::string& key) const { return object_.count(key) != 0; }

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::map<std::string, Json> object_;
};

}  // namespace ctrack::testing

#endif  // CTRACK_TESTING_JSON_H_
