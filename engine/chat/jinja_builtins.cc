#include "engine/chat/jinja_builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::chat {
namespace {

absl::Status Bad(const std::string& message) { return absl::InvalidArgumentError(message); }

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
// Python's str.title(): a letter after a non-letter starts upper case, the others lower.
std::string Title(std::string s) {
  bool after_letter = false;
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    c = static_cast<char>(after_letter ? std::tolower(u) : std::toupper(u));
    after_letter = std::isalpha(u) != 0;
  }
  return s;
}
std::string Capitalize(std::string s) {
  s = Lower(std::move(s));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

absl::StatusOr<std::string> ReplaceAll(const std::string& s, const std::string& from,
                                       const std::string& to, int64_t count) {
  if (from.empty()) return s;
  int64_t matches = 0;
  for (size_t at = s.find(from); at != std::string::npos && (count < 0 || matches < count);
       at = s.find(from, at + from.size())) {
    ++matches;
  }
  const int64_t size =
      static_cast<int64_t>(s.size()) +
      matches * (static_cast<int64_t>(to.size()) - static_cast<int64_t>(from.size()));
  if (size > kMaxStringBytes) return Bad("replace: a text larger than 64 MiB");
  std::string out;
  out.reserve(static_cast<size_t>(size));
  size_t pos = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    const size_t at = s.find(from, pos);
    if (at == std::string::npos) break;
    out.append(s, pos, at - pos);
    out += to;
    pos = at + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

// Python's str.split(sep=None, maxsplit=-1).
absl::StatusOr<List> Split(const std::string& s, const Value& separator, int64_t max_split) {
  List out;
  const auto full = [&out]() { return static_cast<int64_t>(out.size()) >= kMaxListItems; };
  if (!separator.is_string()) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && IsAsciiSpace(s[i])) ++i;
      if (i >= s.size()) break;
      if (max_split >= 0 && static_cast<int64_t>(out.size()) >= max_split) {
        std::string rest = s.substr(i);
        while (!rest.empty() && IsAsciiSpace(rest.back())) rest.pop_back();
        out.emplace_back(rest);
        break;
      }
      size_t j = i;
      while (j < s.size() && !IsAsciiSpace(s[j])) ++j;
      if (full()) return Bad("split into more than 1000000 pieces");
      out.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  const std::string& sep = separator.string();
  size_t pos = 0;
  while (true) {
    const size_t at = sep.empty() ? std::string::npos : s.find(sep, pos);
    if (at == std::string::npos ||
        (max_split >= 0 && static_cast<int64_t>(out.size()) >= max_split)) {
      out.emplace_back(s.substr(pos));
      break;
    }
    if (full()) return Bad("split into more than 1000000 pieces");
    out.emplace_back(s.substr(pos, at - pos));
    pos = at + sep.size();
  }
  return out;
}

absl::StatusOr<int64_t> IntArgument(const Value& v, int64_t fallback, const char* what) {
  if (v.is_undefined() || v.is_none()) return fallback;
  if (!v.is_int()) return Bad(absl::StrCat(what, " must be an integer, got ", v.TypeName()));
  return v.integer();
}

absl::StatusOr<List> Iterable(const Value& v, const char* what) {
  if (v.is_list()) return v.list();
  if (v.is_dict()) {
    List keys;
    for (const auto& [k, value] : v.dict().entries()) keys.emplace_back(k);
    return keys;
  }
  if (v.is_string()) {
    List chars;
    FAVOR_ASSIGN_OR_RETURN(std::vector<std::string> pieces, CodePoints(v.string()));
    for (std::string& c : pieces) chars.emplace_back(std::move(c));
    return chars;
  }
  if (v.is_undefined() || v.is_none()) return List{};
  return Bad(absl::StrCat(what, " needs a sequence, got ", v.TypeName()));
}

// attribute "a.b" of a dict item, as map/selectattr/sort take it.
Value Attribute(const Value& item, const std::string& path) {
  Value v = item;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t dot = path.find('.', pos);
    const std::string part = path.substr(pos, dot == std::string::npos ? dot : dot - pos);
    if (!v.is_dict()) return Value::MakeUndefined(part);
    const Value* next = v.dict().Find(part);
    if (next == nullptr) return Value::MakeUndefined(part);
    v = *next;
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return v;
}

int Compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number() < b.number() ? -1 : a.number() > b.number();
  if (a.is_string() && b.is_string())
    return a.string().compare(b.string()) < 0 ? -1 : a.string() != b.string();
  return 0;
}

absl::StatusOr<Value> Select(const Value& operand, const CallArguments& args, bool by_attribute,
                             bool keep) {
  FAVOR_ASSIGN_OR_RETURN(const List items, Iterable(operand, "select"));
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    const Value a = args.Get(next++, "attribute");
    if (!a.is_string()) return Bad("selectattr needs an attribute name");
    attribute = a.string();
  }
  const Value test = args.Get(next++, "test");
  List test_args(args.positional.begin() + std::min(next, args.positional.size()),
                 args.positional.end());
  List out;
  for (const Value& item : items) {
    const Value subject = by_attribute ? Attribute(item, attribute) : item;
    bool passed = subject.Truthy();
    if (test.is_string()) {
      FAVOR_ASSIGN_OR_RETURN(passed, ApplyTest(test.string(), subject, test_args));
    }
    if (passed == keep) out.push_back(item);
  }
  return Value(std::move(out));
}

absl::StatusOr<Value> Indent(const std::string& s, const CallArguments& args) {
  const Value width = args.Get(0, "width");
  const std::string pad = width.is_string()
                              ? width.string()
                              : std::string(static_cast<size_t>(std::clamp<int64_t>(
                                                width.is_int() ? width.integer() : 4, 0, 1000)),
                                            ' ');
  const bool first = args.Get(1, "first").Truthy();
  const bool blank = args.Get(2, "blank").Truthy();
  std::string out;
  size_t pos = 0;
  bool first_line = true;
  while (pos <= s.size()) {
    const size_t newline = s.find('\n', pos);
    const std::string line = s.substr(pos, newline == std::string::npos ? newline : newline - pos);
    if ((!first_line || first) && (blank || !line.empty())) out += pad;
    out += line;
    if (static_cast<int64_t>(out.size()) > kMaxStringBytes) {
      return Bad("indent: a text larger than 64 MiB");
    }
    if (newline == std::string::npos) break;
    out += '\n';
    pos = newline + 1;
    first_line = false;
  }
  return Value(std::move(out));
}

}  // namespace

int64_t CodePointCount(const std::string& s) {
  int64_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

absl::StatusOr<std::vector<std::string>> CodePoints(const std::string& s) {
  if (CodePointCount(s) > kMaxListItems) {
    return Bad("a string of more than 1000000 characters taken apart");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    n = std::min(n, s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string Strip(const std::string& s, const std::string& characters, bool left, bool right) {
  const auto strip = [&](char c) {
    return characters.empty() ? IsAsciiSpace(c) : characters.find(c) != std::string::npos;
  };
  size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end && strip(s[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip(s[end - 1])) --end;
  }
  return s.substr(begin, end - begin);
}

absl::StatusOr<Value> ApplyFilter(const std::string& name, const Value& v,
                                  const CallArguments& args) {
  if (name == "trim" || name == "strip") {
    const Value chars = args.Get(0, "chars");  // Like jinja2, on the text of any value.
    return Value(Strip(v.Str(), chars.is_string() ? chars.string() : "", true, true));
  }
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value(CodePointCount(v.string()));
    if (v.is_list()) return Value(static_cast<int64_t>(v.list().size()));
    if (v.is_dict()) return Value(static_cast<int64_t>(v.dict().size()));
    if (v.is_undefined()) return Value(int64_t{0});
    return Bad(absl::StrCat("length of a ", v.TypeName()));
  }
  if (name == "tojson") {
    FAVOR_ASSIGN_OR_RETURN(const int64_t indent, IntArgument(args.Get(0, "indent"), -1, "indent"));
    FAVOR_ASSIGN_OR_RETURN(std::string json,
                           v.Json(static_cast<int>(std::clamp<int64_t>(indent, -1, 64)),
                                  args.Get(99, "sort_keys").Truthy()));
    return Value(std::move(json));
  }
  if (name == "string") return Value(v.Str());
  if (name == "safe" || name == "escape" || name == "e" || name == "forceescape") {
    if (name == "safe") return v;
    std::string out;
    for (const char c : v.Str()) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&#34;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out += c;
      }
    }
    return Value(std::move(out));
  }
  if (name == "int") {
    if (v.is_int()) return v;
    if (v.is_float()) return Value(static_cast<int64_t>(v.number()));
    if (v.is_bool()) return Value(static_cast<int64_t>(v.boolean()));
    if (v.is_string())
      return Value(static_cast<int64_t>(std::strtoll(v.string().c_str(), nullptr, 10)));
    return Value(int64_t{0});
  }
  if (name == "float") {
    if (v.is_number()) return Value(v.number());
    if (v.is_string()) return Value(std::strtod(v.string().c_str(), nullptr));
    return Value(0.0);
  }
  if (name == "abs") {
    if (v.is_int()) return Value(v.integer() < 0 ? -v.integer() : v.integer());
    if (v.is_float()) return Value(std::fabs(v.number()));
    return Bad("abs needs a number");
  }
  if (name == "round") {
    if (!v.is_number()) return Bad("round needs a number");
    FAVOR_ASSIGN_OR_RETURN(const int64_t digits,
                           IntArgument(args.Get(0, "precision"), 0, "precision"));
    const double scale = std::pow(10.0, static_cast<double>(digits));
    return Value(std::round(v.number() * scale) / scale);
  }
  if (name == "lower" || name == "upper" || name == "title" || name == "capitalize") {
    const std::string s = v.Str();
    if (name == "lower") return Value(Lower(s));
    if (name == "upper") return Value(Upper(s));
    if (name == "title") return Value(Title(s));
    return Value(Capitalize(s));
  }
  if (name == "replace") {
    const Value from = args.Get(0, "old"), to = args.Get(1, "new");
    if (!from.is_string() || !to.is_string()) return Bad("replace needs two strings");
    FAVOR_ASSIGN_OR_RETURN(const int64_t count, IntArgument(args.Get(2, "count"), -1, "count"));
    FAVOR_ASSIGN_OR_RETURN(std::string replaced,
                           ReplaceAll(v.Str(), from.string(), to.string(), count));
    return Value(std::move(replaced));
  }
  if (name == "join") {
    FAVOR_ASSIGN_OR_RETURN(const List items, Iterable(v, "join"));
    const Value separator = args.Get(0, "d");
    const Value attribute = args.Get(1, "attribute");
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0 && separator.is_string()) out += separator.string();
      out += (attribute.is_string() ? Attribute(items[i], attribute.string()) : items[i]).Str();
      if (static_cast<int64_t>(out.size()) > kMaxStringBytes) {
        return Bad("join: a text larger than 64 MiB");
      }
    }
    return Value(std::move(out));
  }
  if (name == "first" || name == "last") {
    FAVOR_ASSIGN_OR_RETURN(const List items, Iterable(v, name.c_str()));
    if (items.empty()) return Value::MakeUndefined(name);
    return name == "first" ? items.front() : items.back();
  }
  if (name == "default" || name == "d") {
    const bool boolean = args.Get(1, "boolean").Truthy();
    if (v.is_undefined() || (boolean && !v.Truthy())) {
      const Value fallback = args.Get(0, "default_value");
      return fallback.is_undefined() ? Value("") : fallback;
    }
    return v;
  }
  if (name == "list") {
    FAVOR_ASSIGN_OR_RETURN(List items, Iterable(v, "list"));
    return Value(std::move(items));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      FAVOR_ASSIGN_OR_RETURN(const std::vector<std::string> chars, CodePoints(v.string()));
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value(std::move(out));
    }
    FAVOR_ASSIGN_OR_RETURN(List items, Iterable(v, "reverse"));
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (name == "items" || name == "dictsort") {
    if (!v.is_dict()) {
      if (v.is_undefined()) return Value(List{});
      return Bad(absl::StrCat(name, " needs a dict, got ", v.TypeName()));
    }
    List out;
    for (const auto& [k, value] : v.dict().entries()) out.emplace_back(List{Value(k), value});
    if (name == "dictsort") {
      std::stable_sort(out.begin(), out.end(), [](const Value& a, const Value& b) {
        return a.list()[0].string() < b.list()[0].string();
      });
    }
    return Value(std::move(out));
  }
  if (name == "unique") {
    FAVOR_ASSIGN_OR_RETURN(const List items, Iterable(v, "unique"));
    // Hashed by what Python would hash (1 and 1.0 alike), so a long list is not quadratic.
    List out;
    std::unordered_set<std::string> seen;
    for (const Value& item : items) {
      if (item.is_list() || item.is_dict()) return Bad("unique: unhashable list or dict items");
      const bool integral = item.is_float() && item.number() == std::floor(item.number()) &&
                            std::fabs(item.number()) < 1e18;
      const std::string key = item.is_string() ? "s" + item.string()
                              : integral ? "n" + absl::StrCat(static_cast<int64_t>(item.number()))
                              : item.is_bool() ? "n" + absl::StrCat(item.boolean() ? 1 : 0)
                                               : "n" + item.Repr();
      if (seen.insert(key).second) out.push_back(item);
    }
    return Value(std::move(out));
  }
  if (name == "sort") {
    FAVOR_ASSIGN_OR_RETURN(List items, Iterable(v, "sort"));
    const bool reverse = args.Get(0, "reverse").Truthy();
    const Value attribute = args.Get(2, "attribute");
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      const Value x = attribute.is_string() ? Attribute(a, attribute.string()) : a;
      const Value y = attribute.is_string() ? Attribute(b, attribute.string()) : b;
      return reverse ? Compare(y, x) < 0 : Compare(x, y) < 0;
    });
    return Value(std::move(items));
  }
  if (name == "map") {
    FAVOR_ASSIGN_OR_RETURN(const List items, Iterable(v, "map"));
    const Value attribute = args.Get(99, "attribute");
    List out;
    if (attribute.is_string()) {
      const Value fallback = args.Get(99, "default");
      for (const Value& item : items) {
        Value mapped = Attribute(item, attribute.string());
        out.push_back(mapped.is_undefined() && !fallback.is_undefined() ? fallback : mapped);
      }
      return Value(std::move(out));
    }
    const Value filter = args.Get(0, "filter");
    if (!filter.is_string()) return Bad("map needs a filter name or attribute=");
    CallArguments rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    for (const Value& item : items) {
      FAVOR_ASSIGN_OR_RETURN(Value mapped, ApplyFilter(filter.string(), item, rest));
      out.push_back(std::move(mapped));
    }
    return Value(std::move(out));
  }
  if (name == "select" || name == "reject") return Select(v, args, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") {
    return Select(v, args, true, name == "selectattr");
  }
  if (name == "indent") return Indent(v.Str(), args);
  if (name == "wordcount") {
    FAVOR_ASSIGN_OR_RETURN(const List words, Split(v.Str(), Value(), -1));
    return Value(static_cast<int64_t>(words.size()));
  }
  if (name == "min" || name == "max" || name == "sum") {
    FAVOR_ASSIGN_OR_RETURN(const List items, Iterable(v, name.c_str()));
    if (name == "sum") {
      Value total(int64_t{0});
      for (const Value& item : items) {
        if (!item.is_number()) return Bad("sum of a non-number");
        total = total.is_int() && item.is_int() ? Value(total.integer() + item.integer())
                                                : Value(total.number() + item.number());
      }
      return total;
    }
    if (items.empty()) return Value::MakeUndefined(name);
    Value best = items[0];
    for (const Value& item : items) {
      if ((name == "min") == (Compare(item, best) < 0)) best = item;
    }
    return best;
  }
  return absl::UnimplementedError(absl::StrCat("unsupported filter '", name, "'"));
}

absl::StatusOr<bool> ApplyTest(const std::string& name, const Value& v, const List& args) {
  const Value arg = args.empty() ? Value::MakeUndefined("argument") : args[0];
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number() && !v.is_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.boolean();
  if (name == "false") return v.is_bool() && !v.boolean();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "callable") return v.is_callable();
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int()) return Bad(absl::StrCat("'", name, "' test of a ", v.TypeName()));
    if (name == "divisibleby") {
      if (!arg.is_int() || arg.integer() == 0) return Bad("divisibleby needs a nonzero integer");
      return v.integer() % arg.integer() == 0;
    }
    return (v.integer() % 2 != 0) == (name == "odd");
  }
  if (name == "eq" || name == "equalto" || name == "==" || name == "sameas") return v == arg;
  if (name == "ne" || name == "!=") return !(v == arg);
  if (name == "lt" || name == "lessthan") return Compare(v, arg) < 0;
  if (name == "le") return Compare(v, arg) <= 0;
  if (name == "gt" || name == "greaterthan") return Compare(v, arg) > 0;
  if (name == "ge") return Compare(v, arg) >= 0;
  if (name == "in") {
    if (arg.is_list())
      return std::find(arg.list().begin(), arg.list().end(), v) != arg.list().end();
    if (arg.is_string() && v.is_string()) return arg.string().find(v.string()) != std::string::npos;
    if (arg.is_dict() && v.is_string()) return arg.dict().Find(v.string()) != nullptr;
    return false;
  }
  if (name == "lower") return v.is_string() && Lower(v.string()) == v.string();
  if (name == "upper") return v.is_string() && Upper(v.string()) == v.string();
  return absl::UnimplementedError(absl::StrCat("unsupported test '", name, "'"));
}

absl::StatusOr<Value> CallMethod(const Value& object, const std::string& name,
                                 const CallArguments& args, bool& found) {
  found = true;
  if (object.is_string()) {
    const std::string& s = object.string();
    const Value a = args.Get(0, "");
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const std::string chars = a.is_string() ? a.string() : "";
      return Value(Strip(s, chars, name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit") {
      FAVOR_ASSIGN_OR_RETURN(const int64_t max_split,
                             IntArgument(args.Get(1, "maxsplit"), -1, "maxsplit"));
      if (name == "rsplit" && max_split >= 0) return Bad("rsplit with maxsplit is not supported");
      FAVOR_ASSIGN_OR_RETURN(List pieces, Split(s, args.Get(0, "sep"), max_split));
      return Value(std::move(pieces));
    }
    if (name == "startswith" || name == "endswith") {
      List prefixes = a.is_list() ? a.list() : List{a};
      for (const Value& p : prefixes) {
        if (!p.is_string()) return Bad(absl::StrCat(name, " needs a string"));
        const std::string& t = p.string();
        const bool match =
            t.size() <= s.size() &&
            (name == "startswith" ? s.compare(0, t.size(), t) == 0
                                  : s.compare(s.size() - t.size(), t.size(), t) == 0);
        if (match) return Value(true);
      }
      return Value(false);
    }
    if (name == "lower") return Value(Lower(s));
    if (name == "upper") return Value(Upper(s));
    if (name == "title") return Value(Title(s));
    if (name == "capitalize") return Value(Capitalize(s));
    if (name == "replace") {
      const Value to = args.Get(1, "new");
      if (!a.is_string() || !to.is_string()) return Bad("replace needs two strings");
      FAVOR_ASSIGN_OR_RETURN(const int64_t count, IntArgument(args.Get(2, "count"), -1, "count"));
      FAVOR_ASSIGN_OR_RETURN(std::string replaced, ReplaceAll(s, a.string(), to.string(), count));
      return Value(std::move(replaced));
    }
    if (name == "find" || name == "count") {
      if (!a.is_string()) return Bad(absl::StrCat(name, " needs a string"));
      if (name == "find") {
        const size_t at = s.find(a.string());
        return Value(at == std::string::npos ? int64_t{-1} : CodePointCount(s.substr(0, at)));
      }
      int64_t n = 0;
      for (size_t at = s.find(a.string()); !a.string().empty() && at != std::string::npos;
           at = s.find(a.string(), at + a.string().size())) {
        ++n;
      }
      return Value(n);
    }
    if (name == "join") {
      FAVOR_ASSIGN_OR_RETURN(const List items, Iterable(a, "join"));
      std::string out;
      for (size_t i = 0; i < items.size(); ++i) {
        absl::StrAppend(&out, i > 0 ? s : "", items[i].Str());
        if (static_cast<int64_t>(out.size()) > kMaxStringBytes) {
          return Bad("join: a text larger than 64 MiB");
        }
      }
      return Value(std::move(out));
    }
    if (name == "splitlines") {
      FAVOR_ASSIGN_OR_RETURN(const std::string text, ReplaceAll(s, "\r\n", "\n", -1));
      FAVOR_ASSIGN_OR_RETURN(List lines, Split(text, Value("\n"), -1));
      return Value(std::move(lines));
    }
    if (name == "isdigit" || name == "isspace" || name == "isalpha") {
      if (s.empty()) return Value(false);
      for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        const bool ok = name == "isdigit"   ? std::isdigit(u) != 0
                        : name == "isspace" ? IsAsciiSpace(c)
                                            : std::isalpha(u) != 0;
        if (!ok) return Value(false);
      }
      return Value(true);
    }
  } else if (object.is_dict()) {
    Dict& d = object.dict();
    if (name == "items" || name == "keys" || name == "values") {
      List out;
      for (const auto& [k, v] : d.entries()) {
        if (name == "items") out.emplace_back(List{Value(k), v});
        if (name == "keys") out.emplace_back(k);
        if (name == "values") out.push_back(v);
      }
      return Value(std::move(out));
    }
    if (name == "get") {
      const Value key = args.Get(0, "key");
      const Value* v = key.is_string() ? d.Find(key.string()) : nullptr;
      if (v != nullptr) return *v;
      const Value fallback = args.Get(1, "default");
      return fallback.is_undefined() ? Value::MakeNone() : fallback;
    }
    if (d.Find(name) == nullptr && name == "update") {
      const Value other = args.Get(0, "other");
      if (other.is_dict()) {
        if (other.Holds(&d)) return Bad("a dict cannot hold itself (or nest deeper than 100)");
        for (const auto& [k, v] : other.dict().entries()) d.Set(k, v);
      }
      return Value::MakeNone();
    }
  } else if (object.is_list()) {
    List& l = object.list();
    if (name == "append") {
      if (static_cast<int64_t>(l.size()) >= kMaxListItems) return Bad("a list longer than 1000000");
      const Value item = args.Get(0, "object");
      if (item.Holds(&l)) return Bad("a list cannot hold itself (or nest deeper than 100)");
      l.push_back(item);
      return Value::MakeNone();
    }
    if (name == "pop") {
      if (l.empty()) return Bad("pop from an empty list");
      Value last = l.back();
      l.pop_back();
      return last;
    }
    if (name == "index") {
      const auto it = std::find(l.begin(), l.end(), args.Get(0, "value"));
      if (it == l.end()) return Bad("list.index: value not in list");
      return Value(static_cast<int64_t>(it - l.begin()));
    }
    if (name == "count") {
      return Value(static_cast<int64_t>(std::count(l.begin(), l.end(), args.Get(0, "value"))));
    }
  }
  found = false;
  return Value::MakeUndefined(name);
}

Dict GlobalFunctions() {
  Dict globals;
  globals.Set("range", Value::MakeFunction([](CallArguments& args) -> absl::StatusOr<Value> {
                int64_t start = 0, stop = 0, step = 1;
                for (const Value& v : args.positional) {
                  if (!v.is_int()) return Bad("range needs integers");
                }
                if (args.positional.size() == 1) {
                  stop = args.positional[0].integer();
                } else if (args.positional.size() >= 2) {
                  start = args.positional[0].integer();
                  stop = args.positional[1].integer();
                  if (args.positional.size() >= 3) step = args.positional[2].integer();
                } else {
                  return Bad("range needs 1 to 3 arguments");
                }
                if (step == 0) return Bad("range step must not be zero");
                List out;
                for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                  if (static_cast<int64_t>(out.size()) >= kMaxListItems) {
                    return Bad("range longer than 1000000");
                  }
                  out.emplace_back(i);
                }
                return Value(std::move(out));
              }));
  globals.Set("namespace", Value::MakeFunction([](CallArguments& args) -> absl::StatusOr<Value> {
                Dict ns;
                if (!args.positional.empty() && args.positional[0].is_dict()) {
                  ns = args.positional[0].dict();
                }
                for (const auto& [k, v] : args.keywords) ns.Set(k, v);
                return Value(std::move(ns));
              }));
  globals.Set("dict", Value::MakeFunction([](CallArguments& args) -> absl::StatusOr<Value> {
                Dict d;
                for (const auto& [k, v] : args.keywords) d.Set(k, v);
                return Value(std::move(d));
              }));
  globals.Set("raise_exception",
              Value::MakeFunction([](CallArguments& args) -> absl::StatusOr<Value> {
                return absl::FailedPreconditionError(
                    absl::StrCat("the chat template refused: ", args.Get(0, "message").Str()));
              }));
  globals.Set("strftime_now", Value::MakeFunction([](CallArguments& args) -> absl::StatusOr<Value> {
                const Value format = args.Get(0, "format");
                if (!format.is_string()) return Bad("strftime_now needs a format");
                const std::time_t now = std::time(nullptr);
                std::tm local{};
                localtime_r(&now, &local);
                char buffer[256];
                const size_t n =
                    std::strftime(buffer, sizeof(buffer), format.string().c_str(), &local);
                return Value(std::string(buffer, n));
              }));
  return globals;
}

}  // namespace favor::chat
