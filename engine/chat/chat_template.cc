#include "engine/chat/chat_template.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"

namespace favor::chat {
namespace {

struct BuiltIn {
  const char* name;
  const char* source;
};

// The common formats, as Jinja (data, run by the same interpreter): for models whose file has no
// template, or one the interpreter cannot run.
constexpr BuiltIn kBuiltIns[] = {
    {"chatml",
     "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
     "message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
     "{{ '<|im_start|>assistant\\n' }}{% endif %}"},
    {"llama2",
     "{% set ns = namespace(open=false) %}{% for m in messages %}{% if m['role'] == 'system' %}"
     "{{ '[INST] <<SYS>>\\n' + m['content'] + '\\n<</SYS>>\\n\\n' }}{% set ns.open = true %}"
     "{% elif m['role'] == 'user' %}{% if not ns.open %}{{ ('' if loop.first else bos_token) + "
     "'[INST] ' }}{% endif %}{{ m['content'] + ' [/INST]' }}{% set ns.open = false %}"
     "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}"},
    {"llama3",
     "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
     "'<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
     "{% endif %}"},
    {"mistral",
     "{{ bos_token }}{% set ns = namespace(system='') %}{% for m in messages %}"
     "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\\n\\n' %}"
     "{% elif m['role'] == 'user' %}{{ '[INST]' + ns.system + m['content'] + '[/INST]' }}"
     "{% set ns.system = '' %}{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}"
     "{% endif %}{% endfor %}"},
    {"gemma",
     "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
     "{{ raise_exception('System role not supported') }}{% endif %}"
     "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
     "{{ '<start_of_turn>' + role + '\\n' + m['content'] | trim + '<end_of_turn>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"},
    {"phi3",
     "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
    {"zephyr",
     "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
};

constexpr const char* kSystemProbe = "<<favor system probe>>";

}  // namespace

Value Message(const std::string& role, const std::string& content) {
  Dict message;
  message.Set("role", Value(role));
  message.Set("content", Value(content));
  return Value(std::move(message));
}

absl::StatusOr<ChatTemplate> ChatTemplate::Create(const std::string& source, std::string bos_token,
                                                  std::string eos_token, std::string origin) {
  auto parsed = JinjaTemplate::Parse(source);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat(origin, " chat template: ", parsed.status().message()));
  }
  ChatTemplate t(*std::move(parsed), std::move(bos_token), std::move(eos_token), std::move(origin));
  // Whether a system message comes through: rendered with one, the template either refuses it
  // or drops it (Gemma's, Phi-3-mini's), or prints it.
  const auto probe =
      t.Render({Message("system", kSystemProbe), Message("user", "u")}, false, Value());
  t.supports_system_role_ = probe.ok() && probe->find(kSystemProbe) != std::string::npos;
  return t;
}

absl::StatusOr<ChatTemplate> ChatTemplate::Named(const std::string& name, std::string bos_token,
                                                 std::string eos_token) {
  for (const BuiltIn& b : kBuiltIns) {
    if (name == b.name) return Create(b.source, std::move(bos_token), std::move(eos_token), name);
  }
  return absl::NotFoundError(absl::StrCat("unknown chat template '", name,
                                          "' (built-in: ", absl::StrJoin(Names(), ", "), ")"));
}

std::vector<std::string> ChatTemplate::Names() {
  std::vector<std::string> names;
  for (const BuiltIn& b : kBuiltIns) names.emplace_back(b.name);
  return names;
}

absl::StatusOr<std::string> ChatTemplate::Render(const List& messages, bool add_generation_prompt,
                                                 const Value& tools) const {
  Dict variables;
  variables.Set("messages", Value(messages));
  variables.Set("add_generation_prompt", Value(add_generation_prompt));
  variables.Set("bos_token", Value(bos_));
  variables.Set("eos_token", Value(eos_));
  if (!tools.is_undefined()) variables.Set("tools", tools);
  return template_.Render(variables);
}

absl::StatusOr<std::string> ChatTemplate::Apply(const List& messages, bool add_generation_prompt,
                                                const Value& tools) const {
  for (const Value& m : messages) {
    if (!m.is_dict() || m.dict().Find("role") == nullptr || !m.dict().Find("role")->is_string()) {
      return absl::InvalidArgumentError("every message needs a role");
    }
  }
  List conversation = messages;
  const auto role_of = [](const Value& m) { return m.dict().Find("role")->string(); };
  if (!supports_system_role_ && !conversation.empty() && role_of(conversation[0]) == "system") {
    // Merged into the first user turn (as llama.cpp's polyfill does), or made one.
    const Value* system_content = conversation[0].dict().Find("content");
    const std::string system = system_content != nullptr ? system_content->Str() : "";
    conversation.erase(conversation.begin());
    if (!conversation.empty() && role_of(conversation[0]) == "user") {
      Dict first = conversation[0].dict();
      const Value* content = first.Find("content");
      first.Set("content", Value(system + "\n" + (content != nullptr ? content->Str() : "")));
      conversation[0] = Value(std::move(first));
    } else {
      conversation.insert(conversation.begin(), Message("user", system));
    }
  }
  auto rendered = Render(conversation, add_generation_prompt, tools);
  if (!rendered.ok()) {
    return absl::Status(rendered.status().code(),
                        absl::StrCat(origin_, " chat template: ", rendered.status().message()));
  }
  return rendered;
}

}  // namespace favor::chat
