#include "tools/chat_template_choice.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "tools/prompt_text.h"

namespace favor::cli {

absl::StatusOr<chat::ChatTemplate> ChooseTemplate(const std::string& choice,
                                                  const text::Tokenizer& tokenizer,
                                                  const std::string& model_path) {
  const std::string bos = tokenizer.IdToPiece(tokenizer.bos_id());
  const std::string eos = tokenizer.IdToPiece(tokenizer.eos_id());
  if (!choice.empty()) {
    if (IsRegularFile(choice)) {
      FAVOR_ASSIGN_OR_RETURN(const std::string source, ReadPromptFile(choice));
      return chat::ChatTemplate::Create(source, bos, eos, choice);
    }
    return chat::ChatTemplate::Named(choice, bos, eos);
  }
  if (tokenizer.chat_template().empty()) {
    return absl::NotFoundError(
        absl::StrCat(model_path, " has no chat template; choose one with --chat-template (",
                     absl::StrJoin(chat::ChatTemplate::Names(), ", "), ", or a .jinja file)"));
  }
  auto own = chat::ChatTemplate::Create(tokenizer.chat_template(), bos, eos, "the model's");
  if (!own.ok()) {
    return absl::Status(own.status().code(),
                        absl::StrCat(own.status().message(), " (use --chat-template NAME)"));
  }
  return own;
}

}  // namespace favor::cli
