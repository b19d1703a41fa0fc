// A conversation turned into a prompt: the model's own chat template (Jinja, from its file) or a
// built-in one by name, rendered as transformers' apply_chat_template renders it. A template that
// refuses a system message (Gemma's) gets it merged into the first user turn, as llama.cpp does.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/chat/jinja_template.h"

namespace favor::chat {

// {"role": role, "content": content}.
Value Message(const std::string& role, const std::string& content);

class ChatTemplate {
 public:
  // `source` is Jinja; `bos_token` and `eos_token` are the texts it may print for them; `origin`
  // names it in errors ("the model's", "chatml").
  static absl::StatusOr<ChatTemplate> Create(const std::string& source, std::string bos_token,
                                             std::string eos_token, std::string origin);
  // A built-in: chatml, llama2, llama3, mistral, gemma, phi3, zephyr.
  static absl::StatusOr<ChatTemplate> Named(const std::string& name, std::string bos_token,
                                            std::string eos_token);
  static std::vector<std::string> Names();

  // The prompt for `messages` (a list of message dicts); add_generation_prompt opens the
  // assistant's turn; `tools` (a list, or undefined) is passed to the template as such.
  absl::StatusOr<std::string> Apply(const List& messages, bool add_generation_prompt,
                                    const Value& tools = Value()) const;

  bool supports_system_role() const { return supports_system_role_; }
  const std::string& origin() const { return origin_; }

 private:
  ChatTemplate(JinjaTemplate t, std::string bos, std::string eos, std::string origin)
      : template_(std::move(t)),
        bos_(std::move(bos)),
        eos_(std::move(eos)),
        origin_(std::move(origin)) {}
  absl::StatusOr<std::string> Render(const List& messages, bool add_generation_prompt,
                                     const Value& tools) const;

  JinjaTemplate template_;
  std::string bos_, eos_, origin_;
  bool supports_system_role_ = true;
};

}  // namespace favor::chat
