// The chat template a command uses: --chat-template (a built-in's name or a Jinja file), else the
// model's own (favor chat, favor serve).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "engine/chat/chat_template.h"
#include "engine/text/tokenizer.h"

namespace favor::cli {

// `model_path` names the model in the error when it has no template and none was chosen.
absl::StatusOr<chat::ChatTemplate> ChooseTemplate(const std::string& choice,
                                                  const text::Tokenizer& tokenizer,
                                                  const std::string& model_path);

}  // namespace favor::cli
