// Chat templates (they come in model files): parsed, and rendered with a conversation that has a
// system prompt, turns, tools and a tool call. Any input must give a template or an error, and
// rendering must end in bounded time and memory with a prompt or an error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/chat/chat_template.h"
#include "engine/chat/json_value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  auto chat_template = favor::chat::ChatTemplate::Create(source, "<s>", "</s>", "fuzzed");
  if (!chat_template.ok()) return 0;
  static const favor::chat::Value kTools =
      favor::chat::ParseJsonValue(
          R"([{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}])",
          "tools")
          .value();
  favor::chat::Dict call;
  call.Set("name", favor::chat::Value("f"));
  favor::chat::Dict arguments;
  arguments.Set("x", favor::chat::Value(int64_t{1}));
  call.Set("arguments", favor::chat::Value(std::move(arguments)));
  favor::chat::Dict tool_call;
  tool_call.Set("type", favor::chat::Value("function"));
  tool_call.Set("function", favor::chat::Value(std::move(call)));
  favor::chat::Value assistant = favor::chat::Message("assistant", "");
  assistant.dict().Set(
      "tool_calls",
      favor::chat::Value(favor::chat::List{favor::chat::Value(std::move(tool_call))}));
  const favor::chat::List messages = {favor::chat::Message("system", "You are terse."),
                                      favor::chat::Message("user", "Hi"),
                                      favor::chat::Message("assistant", "Hello!"),
                                      favor::chat::Message("user", "f(1)?"),
                                      assistant,
                                      favor::chat::Message("tool", "{\"y\": 2}")};
  (void)chat_template->Apply(messages, true, kTools);
  (void)chat_template->Apply(messages, false);
  return 0;
}
