#include "engine/chat/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::chat {

const Value* Dict::Find(const std::string& key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::Set(const std::string& key, Value value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(key, std::move(value));
}

absl::Status BuildBudget::Charge(int64_t bytes) {
  if (bytes > kMaxStringBytes) {
    return absl::ResourceExhaustedError("a value larger than 64 MiB");
  }
  built_ += bytes;
  if (built_ > kMaxBuiltBytes) {
    return absl::ResourceExhaustedError("the template builds more than 256 MiB of values");
  }
  return absl::OkStatus();
}

Value CallArguments::Get(size_t index, const std::string& name) const {
  for (const auto& [k, v] : keywords) {
    if (k == name) return v;
  }
  if (index < positional.size()) return positional[index];
  return Value::MakeUndefined(name);
}

namespace {

// Python's repr of a float: the shortest digits that read back as the same double.
std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, d);
    if (std::strtod(buffer, nullptr) == d) break;
  }
  std::string text = buffer;
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

// Text as a quoted literal: Python's repr (escapes only backslashes, line breaks, tabs and the
// quote) or JSON (every control character too).
void AppendQuoted(const std::string& s, char quote, bool json, std::string& out) {
  out += quote;
  for (const char c : s) {
    const char* escape = nullptr;
    switch (c) {
      case '\\':
        escape = "\\\\";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      case '\t':
        escape = "\\t";
        break;
      case '\b':
        escape = json ? "\\b" : nullptr;
        break;
      case '\f':
        escape = json ? "\\f" : nullptr;
        break;
      default:
        break;
    }
    if (escape != nullptr) {
      out += escape;
    } else if (c == quote) {
      out += '\\';
      out += c;
    } else if (json && static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  out += quote;
}

std::string QuotePython(const std::string& s) {
  // Python prefers single quotes unless the text has one and no double quote.
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  std::string out;
  AppendQuoted(s, use_double ? '"' : '\'', false, out);
  return out;
}

void AppendJsonString(const std::string& s, std::string& out) { AppendQuoted(s, '"', true, out); }

absl::Status AppendJson(const Value& v, int indent, bool sort_keys, int depth, std::string& out) {
  if (depth > 100) return absl::InvalidArgumentError("tojson: nesting deeper than 100");
  if (static_cast<int64_t>(out.size()) > kMaxStringBytes) {
    return absl::ResourceExhaustedError("tojson: a text larger than 64 MiB");
  }
  const auto newline = [&](int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * level), ' ');
  };
  const char* item_separator = indent < 0 ? ", " : ",";
  if (v.is_undefined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tojson: '", v.undefined_name(), "' is undefined"));
  }
  if (v.is_none()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.boolean() ? "true" : "false";
  } else if (v.is_int()) {
    absl::StrAppend(&out, v.integer());
  } else if (v.is_float()) {
    const double d = v.number();
    out += std::isnan(d)   ? "NaN"
           : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                           : FloatRepr(d);
  } else if (v.is_string()) {
    AppendJsonString(v.string(), out);
  } else if (v.is_list()) {
    const List& list = v.list();
    out += '[';
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += item_separator;
      newline(depth + 1);
      FAVOR_RETURN_IF_ERROR(AppendJson(list[i], indent, sort_keys, depth + 1, out));
    }
    if (!list.empty()) newline(depth);
    out += ']';
  } else if (v.is_dict()) {
    std::vector<const std::pair<std::string, Value>*> entries;
    for (const auto& entry : v.dict().entries()) entries.push_back(&entry);
    if (sort_keys) {
      std::sort(entries.begin(), entries.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
    }
    out += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out += item_separator;
      newline(depth + 1);
      AppendJsonString(entries[i]->first, out);
      out += ": ";
      FAVOR_RETURN_IF_ERROR(AppendJson(entries[i]->second, indent, sort_keys, depth + 1, out));
    }
    if (!entries.empty()) newline(depth);
    out += '}';
  } else {
    return absl::InvalidArgumentError("tojson: a function is not JSON");
  }
  return absl::OkStatus();
}

}  // namespace

bool Value::Truthy() const {
  if (is_undefined() || is_none()) return false;
  if (is_bool()) return boolean();
  if (is_int()) return integer() != 0;
  if (is_float()) return number() != 0.0;
  if (is_string()) return !string().empty();
  if (is_list()) return !list().empty();
  if (is_dict()) return dict().size() > 0;
  return true;
}

std::string Value::Str() const {
  if (is_undefined()) return "";
  if (is_string()) return string();
  return Repr();
}

std::string Value::Repr() const { return ReprAt(0); }

// Nested lists and dicts print to a depth of 100 ("[...]" below it, as Python prints a list that
// holds itself), and stop growing once past kMaxStringBytes (the renderer then refuses the output).
std::string Value::ReprAt(int depth) const {
  if (is_undefined()) return "";
  if ((is_list() || is_dict()) && depth > 100) return is_list() ? "[...]" : "{...}";
  if (is_none()) return "None";
  if (is_bool()) return boolean() ? "True" : "False";
  if (is_int()) return absl::StrCat(integer());
  if (is_float()) return FloatRepr(number());
  if (is_string()) return QuotePython(string());
  if (is_list()) {
    std::string out = "[";
    for (size_t i = 0; i < list().size() && static_cast<int64_t>(out.size()) <= kMaxStringBytes;
         ++i) {
      absl::StrAppend(&out, i > 0 ? ", " : "", list()[i].ReprAt(depth + 1));
    }
    return out + "]";
  }
  if (is_dict()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : dict().entries()) {
      if (static_cast<int64_t>(out.size()) > kMaxStringBytes) break;
      absl::StrAppend(&out, first ? "" : ", ", QuotePython(k), ": ", v.ReprAt(depth + 1));
      first = false;
    }
    return out + "}";
  }
  return "<function>";
}

absl::StatusOr<std::string> Value::Json(int indent, bool sort_keys) const {
  std::string out;
  FAVOR_RETURN_IF_ERROR(AppendJson(*this, indent, sort_keys, 0, out));
  return out;
}

const void* Value::container() const {
  if (is_list()) return &list();
  if (is_dict()) return &dict();
  return nullptr;
}

bool Value::Holds(const void* target, int depth) const {
  if (depth > 100) return true;
  if (container() == target) return true;
  if (is_list()) {
    for (const Value& item : list()) {
      if (item.container() != nullptr && item.Holds(target, depth + 1)) return true;
    }
  } else if (is_dict()) {
    for (const auto& [k, item] : dict().entries()) {
      if (item.container() != nullptr && item.Holds(target, depth + 1)) return true;
    }
  }
  return false;
}

int64_t Value::BuiltBytes() const {
  if (is_string()) return static_cast<int64_t>(string().size());
  if (is_list()) return 16 * static_cast<int64_t>(list().size());
  if (is_dict()) return 48 * static_cast<int64_t>(dict().size());
  return 0;
}

std::string Value::TypeName() const {
  if (is_undefined()) return "undefined";
  if (is_none()) return "NoneType";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return "str";
  if (is_list()) return "list";
  if (is_dict()) return "dict";
  return "function";
}

bool operator==(const Value& a, const Value& b) { return Value::Equal(a, b, 0); }

bool Value::Equal(const Value& a, const Value& b, int depth) {
  if (depth > 100) return false;  // Lists that hold themselves.
  if (a.is_number() && b.is_number() && !a.is_bool() && !b.is_bool()) {
    return a.number() == b.number();
  }
  if (a.is_bool() && b.is_bool()) return a.boolean() == b.boolean();
  if (a.is_string() && b.is_string()) return a.string() == b.string();
  if (a.is_none() && b.is_none()) return true;
  if (a.is_undefined() && b.is_undefined()) return true;
  if (a.is_list() && b.is_list()) {
    if (&a.list() == &b.list()) return true;
    if (a.list().size() != b.list().size()) return false;
    for (size_t i = 0; i < a.list().size(); ++i) {
      if (!Equal(a.list()[i], b.list()[i], depth + 1)) return false;
    }
    return true;
  }
  if (a.is_dict() && b.is_dict()) {
    if (a.dict().size() != b.dict().size()) return false;
    for (const auto& [k, v] : a.dict().entries()) {
      const Value* other = b.dict().Find(k);
      if (other == nullptr || !Equal(*other, v, depth + 1)) return false;
    }
    return true;
  }
  return false;
}

}  // namespace favor::chat
