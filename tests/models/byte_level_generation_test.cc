// A model with a byte-level vocabulary end to end: a random-weight Llama of GPT-2's vocabulary
// size carrying GPT-2's vocabulary (llama.cpp's vocabulary file) generates, and what the stream
// hands out, piece by piece, is exactly the decoding of prompt + generated tokens minus the
// prompt's: characters split over byte tokens (CJK, emoji) held back until whole, no space lost
// or doubled. Sampled (seeded) to reach many different tokens.
#include <string>

#include "engine/io/model_file.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "engine/text/utf8.h"
#include "gtest/gtest.h"
#include "models/synthetic.h"

namespace favor::runtime {
namespace {

TEST(ByteLevelGeneration, StreamedTextIsTheDecodingOfTheWholeSequence) {
  auto vocabulary =
      io::LoadGgufVocabulary(std::string(FAVOR_VOCAB_DIR) + "/ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(vocabulary.ok()) << vocabulary.status();
  models::SyntheticShape shape = models::FindSyntheticShape("tiny").value();
  shape.vocab_size = static_cast<int64_t>(vocabulary->pieces.size());
  auto file = models::SyntheticModelFile(shape).value();
  file.vocabulary = *vocabulary;
  auto model = Model::FromFile(std::move(file));
  ASSERT_TRUE(model.ok()) << model.status();
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  EXPECT_FALSE(tokenizer.add_bos());  // GPT-2 prompts start without BOS.

  const std::string prompt_text = "Hello w\xc3\xb6rld \xf0\x9f\x99\x82 \xe4\xbd\xa0\xe5\xa5\xbd";
  const auto prompt = tokenizer.Encode(prompt_text, text::EncodeOptions{}).value();
  EXPECT_EQ(tokenizer.Decode(prompt).value(), prompt_text);
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto session = Session::Create(**model, {.context = 128, .threads = 1}).value();
    std::string streamed;
    const GenerationOptions options{
        .sampling = {.temperature = 1.5f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed},
        .max_tokens = 48,
        .stop_at_eos = false};
    auto result = Generate(*session, tokenizer, prompt, options,
                           [&](int32_t, const std::string& text) {
                             streamed += text;
                             return true;
                           });
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->tokens.size(), 48u);
    EXPECT_EQ(streamed, result->text);
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), result->tokens.begin(), result->tokens.end());
    EXPECT_EQ(prompt_text + result->text, tokenizer.Decode(all).value()) << "seed " << seed;
    EXPECT_EQ(text::ValidPrefixLength(result->text), result->text.size());
  }
}

}  // namespace
}  // namespace favor::runtime
