// A Jinja template (the subset chat templates use: engine/chat/jinja_ast.h), parsed once and
// rendered with variables as Hugging Face's apply_chat_template does: jinja2 with trim_blocks,
// lstrip_blocks and the loop controls, default undefined (prints nothing, fails when used).
// Errors, including raise_exception's, are one line that names the template line.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_value.h"

namespace favor::chat {

class JinjaTemplate {
 public:
  static absl::StatusOr<JinjaTemplate> Parse(const std::string& source);

  // Renders with `variables` (messages, add_generation_prompt, bos_token, ...) over the globals.
  absl::StatusOr<std::string> Render(const Dict& variables) const;

 private:
  explicit JinjaTemplate(std::shared_ptr<const Body> body) : body_(std::move(body)) {}
  std::shared_ptr<const Body> body_;
};

}  // namespace favor::chat
