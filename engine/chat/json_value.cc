#include "engine/chat/json_value.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::chat {
namespace {

using Json = nlohmann::ordered_json;

Value FromJson(const Json& json) {
  switch (json.type()) {
    case Json::value_t::null:
      return Value::MakeNone();
    case Json::value_t::boolean:
      return Value(json.get<bool>());
    case Json::value_t::number_integer:
      return Value(json.get<int64_t>());
    case Json::value_t::number_unsigned:
      return Value(static_cast<int64_t>(json.get<uint64_t>()));
    case Json::value_t::number_float:
      return Value(json.get<double>());
    case Json::value_t::string:
      return Value(json.get<std::string>());
    case Json::value_t::array: {
      List list;
      list.reserve(json.size());
      for (const Json& item : json) list.push_back(FromJson(item));
      return Value(std::move(list));
    }
    case Json::value_t::object: {
      Dict dict;
      for (const auto& [key, item] : json.items()) dict.Set(key, FromJson(item));
      return Value(std::move(dict));
    }
    default:
      return Value::MakeNone();  // Binary and discarded values do not come from text.
  }
}

}  // namespace

absl::Status CheckJsonNesting(absl::string_view text, absl::string_view source) {
  // Depth is bounded by nlohmann's recursion; refuse absurd nesting before it matters.
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      in_string = escaped || c != '"';
      escaped = !escaped && c == '\\';
      continue;
    }
    in_string = c == '"';
    depth += c == '[' || c == '{' ? 1 : c == ']' || c == '}' ? -1 : 0;
    deepest = std::max(deepest, depth);
  }
  if (deepest > 512) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": JSON nested deeper than 512"));
  }
  return absl::OkStatus();
}

Value ValueFromJson(const nlohmann::ordered_json& json) { return FromJson(json); }

absl::StatusOr<Value> ParseJsonValue(absl::string_view text, absl::string_view source) {
  FAVOR_RETURN_IF_ERROR(CheckJsonNesting(text, source));
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  return FromJson(json);
}

}  // namespace favor::chat
