// Chat templates as prompts: the built-in ones against the renderings llama.cpp's
// test-chat-template.cpp expects for the same formats (the conversation of that test), and the
// system-message merge for templates that refuse one.
#include <fstream>
#include <sstream>
#include <string>

#include "engine/chat/chat_template.h"
#include "gtest/gtest.h"

namespace favor::chat {
namespace {

List LlamaCppConversation() {
  return {Message("system", "You are a helpful assistant"),
          Message("user", "Hello"),
          Message("assistant", "Hi there"),
          Message("user", "Who are you"),
          Message("assistant", "   I am an assistant   "),
          Message("user", "Another question")};
}

struct Expected {
  const char* name;
  const char* bos;
  const char* eos;
  const char* output;
};

// llama.cpp's expected outputs (tests/test-chat-template.cpp at c392e509, MIT): OpenHermes
// (chatml), FusionNet (llama2), Llama-3, Mistral-Nemo v3-tekken, gemma-7b-it with its system
// message merged, Phi-3-mini, and zephyr's format.
constexpr Expected kExpected[] = {
    {"chatml", "", "",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>"
     "\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
     "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother "
     "question<|im_end|>\n<|im_start|>assistant\n"},
    {"llama2", "<s>", "</s>",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] "
     "Who are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]"},
    {"llama3", "", "",
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant"
     "<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are "
     "you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>"
     "assistant<|end_header_id|>\n\n"},
    {"mistral", "", "</s>",
     "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am "
     "an assistant   </s>[INST]Another question[/INST]"},
    {"gemma", "", "",
     "<start_of_turn>user\nYou are a helpful assistant\nHello<end_of_turn>\n<start_of_turn>model\n"
     "Hi there<end_of_turn>\n<start_of_turn>user\nWho are "
     "you<end_of_turn>\n<start_of_turn>model\nI "
     "am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n"
     "<start_of_turn>model\n"},
    {"phi3", "", "",
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi "
     "there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n"
     "<|user|>\nAnother question<|end|>\n<|assistant|>\n"},
    {"zephyr", "", "</s>",
     "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi "
     "there</s>\n<|user|>\nWho are you</s>\n<|assistant|>\n   I am an assistant   </s>\n<|user|>\n"
     "Another question</s>\n<|assistant|>\n"},
};

TEST(ChatTemplate, BuiltInsGiveLlamaCppsPrompts) {
  for (const Expected& e : kExpected) {
    auto t = ChatTemplate::Named(e.name, e.bos, e.eos);
    ASSERT_TRUE(t.ok()) << t.status();
    const auto prompt = t->Apply(LlamaCppConversation(), true);
    ASSERT_TRUE(prompt.ok()) << e.name << ": " << prompt.status();
    EXPECT_EQ(*prompt, e.output) << e.name;
  }
  EXPECT_EQ(ChatTemplate::Names().size(), std::size(kExpected));
}

TEST(ChatTemplate, ASystemMessageIsMergedWhereTheTemplateRefusesIt) {
  std::ifstream in(std::string(FAVOR_SOURCE_DIR) +
                   "/tests/data/chat_templates/google-gemma-2-2b-it.jinja");
  std::stringstream source;
  source << in.rdbuf();
  auto gemma2 = ChatTemplate::Create(source.str(), "<bos>", "<eos>", "Gemma 2's");
  ASSERT_TRUE(gemma2.ok()) << gemma2.status();
  EXPECT_FALSE(gemma2->supports_system_role());
  const auto merged = gemma2->Apply({Message("system", "Be brief."), Message("user", "Hi")}, true);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(*merged,
            "<bos><start_of_turn>user\nBe brief.\nHi<end_of_turn>\n<start_of_turn>model\n");
  // A system message alone becomes the user's.
  EXPECT_EQ(gemma2->Apply({Message("system", "Be brief.")}, true).value(),
            "<bos><start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>model\n");
  auto chatml = ChatTemplate::Named("chatml", "", "");
  EXPECT_TRUE(chatml->supports_system_role());
}

TEST(ChatTemplate, ErrorsNameTheTemplate) {
  EXPECT_NE(ChatTemplate::Named("vicuna", "", "")
                .status()
                .message()
                .find("unknown chat template 'vicuna' (built-in: chatml, llama2, llama3"),
            std::string::npos);
  const auto broken = ChatTemplate::Create("{% for m in messages %}", "", "", "the model's");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("the model's chat template: chat template line 1: "
                                           "missing {% endfor %}"),
            std::string::npos)
      << broken.status();
  auto gemma = ChatTemplate::Named("gemma", "", "");
  const auto alternating = gemma->Apply({Message("user", "a"), Message("tool", "b")}, true);
  ASSERT_TRUE(alternating.ok());  // The built-in does not check the order of roles.
  EXPECT_FALSE(gemma->Apply({Value("not a dict")}, true).ok());
}

}  // namespace
}  // namespace favor::chat
