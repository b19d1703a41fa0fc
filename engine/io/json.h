// A small JSON reader for model metadata (config.json, tokenizer.json, safetensors headers).
// Parses the whole document into a tree; depth and size are bounded so that a hostile file
// cannot exhaust the stack. Numbers are kept as double (and as the source text, for exact ints).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace favor::io {

class Json {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  static absl::StatusOr<Json> Parse(absl::string_view text, absl::string_view source);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_bool() const { return kind_ == Kind::kBool; }

  bool bool_value() const { return bool_; }
  double number() const { return number_; }
  const std::string& string() const { return string_; }
  const std::vector<Json>& array() const { return array_; }
  const std::map<std::string, Json, std::less<>>& object() const { return object_; }

  // Member lookup on an object; nullptr if absent or not an object.
  const Json* Find(absl::string_view key) const;
  // The integer value of a number that is integral and in range, else an error naming `what`.
  absl::StatusOr<int64_t> Int(absl::string_view what) const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<Json> array_;
  std::map<std::string, Json, std::less<>> object_;
};

}  // namespace favor::io
