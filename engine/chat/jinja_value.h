// The values a chat template computes with: Jinja's (Python's) None, booleans, integers, floats,
// strings, lists, dicts (insertion-ordered, as Python's), callables (macros, builtins) and
// undefined. Lists and dicts are shared, as Python objects are: `namespace` attributes and
// list.append() change them in place.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace favor::chat {

class Value;
using List = std::vector<Value>;

class Dict;

// What one template may build: each string at most kMaxStringBytes, each list at most
// kMaxListItems, and all the strings and list items it creates together at most kMaxBuiltBytes
// (a model file's template must not be able to exhaust memory).
inline constexpr int64_t kMaxStringBytes = 64 << 20;
inline constexpr int64_t kMaxListItems = 1'000'000;
inline constexpr int64_t kMaxBuiltBytes = 256 << 20;

// The bytes a render has built so far, against kMaxBuiltBytes.
class BuildBudget {
 public:
  // Counts `bytes` more, or fails when a limit would be passed.
  absl::Status Charge(int64_t bytes);

 private:
  int64_t built_ = 0;
};

struct CallArguments;
using Function = std::function<absl::StatusOr<Value>(CallArguments&)>;

struct Undefined {
  std::string name;  // What was looked up, for the error when it is used.
};
struct None {};

class Value {
 public:
  Value() : data_(Undefined{}) {}
  static Value MakeUndefined(std::string name) { return Value(Undefined{std::move(name)}); }
  static Value MakeNone() { return Value(None{}); }
  Value(bool b) : data_(b) {}                       // NOLINT: values convert as Python's do.
  Value(int64_t i) : data_(i) {}                    // NOLINT
  Value(int i) : data_(static_cast<int64_t>(i)) {}  // NOLINT
  Value(double d) : data_(d) {}                     // NOLINT
  // Strings are shared, as Python's are: a copy of a value never copies its text.
  Value(std::string s) : data_(std::make_shared<const std::string>(std::move(s))) {}  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}                                     // NOLINT
  Value(List list) : data_(std::make_shared<List>(std::move(list))) {}                // NOLINT
  Value(Dict dict);  // NOLINT (defined below, once Dict is complete)
  static Value MakeFunction(Function f) { return Value(std::make_shared<Function>(std::move(f))); }

  bool is_undefined() const { return std::holds_alternative<Undefined>(data_); }
  bool is_none() const { return std::holds_alternative<None>(data_); }
  bool is_bool() const { return std::holds_alternative<bool>(data_); }
  bool is_int() const { return std::holds_alternative<int64_t>(data_); }
  bool is_float() const { return std::holds_alternative<double>(data_); }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const {
    return std::holds_alternative<std::shared_ptr<const std::string>>(data_);
  }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<List>>(data_); }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<Dict>>(data_); }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<Function>>(data_); }

  bool boolean() const { return std::get<bool>(data_); }
  int64_t integer() const { return std::get<int64_t>(data_); }
  double number() const {
    return is_int() ? static_cast<double>(integer()) : std::get<double>(data_);
  }
  const std::string& string() const { return *std::get<std::shared_ptr<const std::string>>(data_); }
  List& list() const { return *std::get<std::shared_ptr<List>>(data_); }
  Dict& dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  const Function& function() const { return *std::get<std::shared_ptr<Function>>(data_); }
  const std::string& undefined_name() const { return std::get<Undefined>(data_).name; }

  // Python's truth: empty strings, lists and dicts, zero, None and undefined are false.
  bool Truthy() const;
  // What {{ value }} prints: str() (None as "None", True as "True", lists as their repr).
  std::string Str() const;
  // Python's repr(): strings quoted.
  std::string Repr() const;
  // json.dumps as Hugging Face's tojson filter calls it (ensure_ascii=False); indent < 0: on one
  // line with ", " and ": ".
  absl::StatusOr<std::string> Json(int indent, bool sort_keys) const;
  // Python's type name, for errors.
  std::string TypeName() const;

  friend bool operator==(const Value& a, const Value& b);
  // Python's ==, to a nesting depth of 100.
  static bool Equal(const Value& a, const Value& b, int depth);
  // Whether this value is, or holds (to a depth of 100, beyond which it says yes), the list or
  // dict at `container`: storing it there would make a cycle, which shared ownership would leak.
  bool Holds(const void* container, int depth = 0) const;
  // The address of the list or dict (identity), null otherwise.
  const void* container() const;
  // What building this value cost: its text, or its items (shallow).
  int64_t BuiltBytes() const;

 private:
  std::string ReprAt(int depth) const;
  explicit Value(Undefined u) : data_(std::move(u)) {}
  explicit Value(None n) : data_(n) {}
  explicit Value(std::shared_ptr<Function> f) : data_(std::move(f)) {}

  std::variant<Undefined, None, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<List>, std::shared_ptr<Dict>, std::shared_ptr<Function>>
      data_;
};

// A dict in insertion order (Python's), looked up by key.
class Dict {
 public:
  const Value* Find(const std::string& key) const;
  void Set(const std::string& key, Value value);
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  std::vector<std::pair<std::string, Value>>& mutable_entries() { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

inline Value::Value(Dict dict) : data_(std::make_shared<Dict>(std::move(dict))) {}

// A call's arguments: positional, then keyword.
struct CallArguments {
  BuildBudget* budget = nullptr;  // The render's (builtins charge what they build to it).
  List positional;
  std::vector<std::pair<std::string, Value>> keywords;
  // The keyword `name`, else the positional argument at `index`, else undefined.
  Value Get(size_t index, const std::string& name) const;
};

}  // namespace favor::chat
