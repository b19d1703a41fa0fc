// JSON text as template values, keys in the order the text gives them (Python's json.loads keeps
// it, and tojson in a template writes it back so): chat messages, tools, tokenizer_config.json.
#pragma once

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "engine/chat/jinja_value.h"

namespace favor::chat {

// `source` names the text in errors.
absl::StatusOr<Value> ParseJsonValue(absl::string_view text, absl::string_view source);

// Refuses JSON text nested deeper than 512 before a parser recurses into it.
absl::Status CheckJsonNesting(absl::string_view text, absl::string_view source);
// A parsed document as a template value (HTTP requests parse their JSON once and hand the
// messages on).
Value ValueFromJson(const nlohmann::ordered_json& json);

}  // namespace favor::chat
