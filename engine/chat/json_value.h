// JSON text as template values, keys in the order the text gives them (Python's json.loads keeps
// it, and tojson in a template writes it back so): chat messages, tools, tokenizer_config.json.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "engine/chat/jinja_value.h"

namespace favor::chat {

// `source` names the text in errors.
absl::StatusOr<Value> ParseJsonValue(absl::string_view text, absl::string_view source);

}  // namespace favor::chat
