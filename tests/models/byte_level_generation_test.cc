// A model with a byte-level vocabulary end to end: a random-weight Llama carrying GPT-2's
// vocabulary (llama.cpp's vocabulary file) generates, and what the stream hands out, piece by
// piece, is exactly the decoding of prompt + generated tokens minus the prompt's: characters split
// over byte tokens (CJK, emoji) held back until whole, no space lost or doubled. Embedding rows
// padded past the vocabulary are never sampled.
#include <algorithm>
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

constexpr int64_t kGpt2Tokens = 50257;

// The tiny synthetic shape with `rows` embedding rows (tied output) and GPT-2's vocabulary.
io::ModelFile Gpt2VocabularyModel(int64_t rows) {
  auto vocabulary =
      io::LoadGgufVocabulary(std::string(FAVOR_VOCAB_DIR) + "/ggml-vocab-gpt-2.gguf").value();
  EXPECT_EQ(static_cast<int64_t>(vocabulary.pieces.size()), kGpt2Tokens);
  models::SyntheticShape shape = models::FindSyntheticShape("tiny").value();
  shape.vocab_size = rows;
  io::ModelFile file = models::SyntheticModelFile(shape).value();
  file.vocabulary = std::move(vocabulary);
  return file;
}

TEST(ByteLevelGeneration, StreamedTextIsTheDecodingOfTheWholeSequence) {
  auto model = Model::FromFile(Gpt2VocabularyModel(kGpt2Tokens));
  ASSERT_TRUE(model.ok()) << model.status();
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  EXPECT_FALSE(tokenizer.add_bos());  // GPT-2 prompts start without BOS.

  const std::string prompt_text = "Hello w\xc3\xb6rld \xf0\x9f\x99\x82 \xe4\xbd\xa0\xe5\xa5\xbd";
  const auto prompt = tokenizer.Encode(prompt_text, text::EncodeOptions{}).value();
  EXPECT_EQ(tokenizer.Decode(prompt).value(), prompt_text);
  // Sampled (seeded, flat) to reach many different tokens, byte tokens among them.
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto session = Session::Create(**model, {.context = 128, .threads = 1}).value();
    std::string streamed;
    const GenerationOptions options{
        .sampling = {.temperature = 1.5f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed},
        .max_tokens = 48,
        .stop_at_eos = false};
    auto result =
        Generate(*session, tokenizer, prompt, options, [&](int32_t, const std::string& text) {
          streamed += text;
          return true;
        });
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->tokens.size(), 48u);
    EXPECT_EQ(streamed, result->text);
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), result->tokens.begin(), result->tokens.end());
    EXPECT_EQ(prompt_text + result->text, tokenizer.Decode(all).value()) << "seed " << seed;
  }
}

// Padding to a multiple of 64 rows, as Qwen and Phi-3 have: the padded rows are made to win (+-50
// times real rows of the tied embedding), so that sampling them is what greedy decoding would do
// were they not excluded.
TEST(ByteLevelGeneration, PaddedEmbeddingRowsAreNeverSampled) {
  constexpr int64_t kRows = 50304;
  io::ModelFile file = Gpt2VocabularyModel(kRows);
  ASSERT_TRUE(file.config.tied_embeddings);
  const int64_t dim = file.config.dim;
  float* rows = file.tensors.at("token_embd.weight").mutable_data<float>();
  ASSERT_NE(rows, nullptr);
  for (int64_t row = kGpt2Tokens; row < kRows; ++row) {
    const int64_t source = (row - kGpt2Tokens) / 2;
    const float scale = (row - kGpt2Tokens) % 2 == 0 ? 50.0f : -50.0f;
    for (int64_t i = 0; i < dim; ++i) rows[row * dim + i] = scale * rows[source * dim + i];
  }
  auto model = Model::FromFile(std::move(file));
  ASSERT_TRUE(model.ok()) << model.status();
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  const auto prompt = tokenizer.Encode("Hello", text::EncodeOptions{}).value();
  {
    // The premise: unrestricted, the best logit is a padded row.
    auto session = Session::Create(**model, {.context = 64, .threads = 1}).value();
    const auto logits = session->Feed(prompt).value();
    ASSERT_EQ(static_cast<int64_t>(logits.size()), kRows);
    ASSERT_GE(std::max_element(logits.begin(), logits.end()) - logits.begin(), kGpt2Tokens);
  }
  auto session = Session::Create(**model, {.context = 64, .threads = 1}).value();
  const GenerationOptions greedy{
      .sampling = {.temperature = 0.0f}, .max_tokens = 20, .stop_at_eos = false};
  auto result = Generate(*session, tokenizer, prompt, greedy);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tokens.size(), 20u);
  for (const int32_t id : result->tokens) EXPECT_LT(id, kGpt2Tokens);
}

// Far more rows than padding explains: the tokenizer belongs to another model.
TEST(ByteLevelGeneration, ATokenizerFarSmallerThanTheModelIsRefused) {
  auto refused = Model::FromFile(Gpt2VocabularyModel(52000));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("has 50257 tokens but the model has 52000"),
            std::string::npos)
      << refused.status();
}

}  // namespace
}  // namespace favor::runtime
