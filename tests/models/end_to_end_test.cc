// The real models end to end: the three stories260K formats give the same logits and the same
// greedy text; decoding with the KV cache gives the logits of recomputing the whole sequence;
// the Hugging Face model (RoPE on halves) tells its story too.
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "engine/text/sampler.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

using testing::NormalizedError;

const std::string kModels = favor::testing::ModelsDir();
const std::string kGguf = kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf";
const std::string kLlama2c = kModels + "/stories260K/stories260K.bin";
const std::string kSentencePiece = kModels + "/stories260K/tok512.model";

std::string Greedy(const Model& model, const std::string& prompt, int tokens) {
  auto session = Session::Create(model, {.threads = 2}).value();
  std::vector<int32_t> ids = model.tokenizer().Encode(prompt, true).value();
  auto logits = session->Feed(ids).value();
  text::Sampler greedy({.temperature = 0.0f, .repeat_penalty = 1.0f});
  for (int i = 0; i < tokens; ++i) {
    const int32_t next = greedy.Sample(logits, ids);
    if (next == model.tokenizer().eos_id()) break;
    ids.push_back(next);
    logits = session->Feed({&next, 1}).value();
  }
  return model.tokenizer().Decode(ids).value();
}

TEST(EndToEnd, Stories260KFormatsAgreeOnLogitsAndGreedyText) {
  FAVOR_REQUIRE_MODELS();
  auto gguf = Model::Load(kGguf).value();
  auto bin = Model::Load(kLlama2c).value();
  auto spm = Model::Load(kLlama2c, {.tokenizer_path = kSentencePiece}).value();
  const std::vector<int32_t> ids = gguf->tokenizer().Encode("Once upon a time, Lily", true).value();
  ASSERT_EQ(bin->tokenizer().Encode("Once upon a time, Lily", true).value(), ids);
  std::vector<std::vector<float>> logits;
  for (const Model* model : {gguf.get(), bin.get(), spm.get()}) {
    auto session = Session::Create(*model).value();
    const auto out = session->Feed(ids).value();
    logits.emplace_back(out.begin(), out.end());
  }
  EXPECT_LT(NormalizedError(logits[1], logits[0]), 1e-6);
  EXPECT_LT(NormalizedError(logits[2], logits[0]), 1e-6);

  const std::string expected =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park.";
  for (const Model* model : {gguf.get(), bin.get(), spm.get()}) {
    const std::string text = Greedy(*model, "Once upon a time", 40);
    EXPECT_EQ(text.rfind(expected, 0), 0u) << text;
  }
}

TEST(EndToEnd, GreedyFromBosAlone) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(kLlama2c).value();
  EXPECT_EQ(
      Greedy(*model, "", 20).rfind("Once upon a time, there was a little girl named Lily.", 0), 0u);
  auto hf = Model::Load(kModels + "/tinystories-656K").value();
  const std::string story = Greedy(*hf, "", 20);
  EXPECT_EQ(story.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << story;
}

TEST(EndToEnd, DecodingWithTheCacheMatchesRecomputingTheSequence) {
  FAVOR_REQUIRE_MODELS();
  for (const std::string& path : {kLlama2c, kModels + "/tinystories-656K"}) {
    auto model = Model::Load(path).value();
    const auto all_positions = model->Variant({}, Logits::kAllPositions).value();
    const int64_t vocab = model->config().vocab_size;
    const std::vector<int32_t> ids =
        model->tokenizer()
            .Encode("One day, a cat and a dog went to the big park to play ball.", true)
            .value();
    const auto n = static_cast<int64_t>(ids.size());
    // One pass over the whole sequence: logits of every position.
    auto whole = Session::Create(all_positions).value();
    const auto all = whole->Feed(ids).value();
    ASSERT_EQ(static_cast<int64_t>(all.size()), n * vocab);
    const std::vector<float> reference(all.begin(), all.end());
    // Token by token through the KV cache.
    auto stepwise = Session::Create(all_positions).value();
    std::vector<float> incremental;
    for (int32_t id : ids) {
      const auto row = stepwise->Feed({&id, 1}).value();
      incremental.insert(incremental.end(), row.begin(), row.end());
    }
    EXPECT_LT(NormalizedError(incremental, reference), 1e-5) << path;
    // Prefill in chunks of 3 tokens: the last chunk's rows agree too.
    auto chunked = Session::Create(all_positions, {.max_batch = 3}).value();
    const auto tail = chunked->Feed(ids).value();
    const int64_t rows = static_cast<int64_t>(tail.size()) / vocab;
    EXPECT_LT(NormalizedError(tail.data(), reference.data() + (n - rows) * vocab, rows * vocab),
              1e-5);
  }
}

TEST(EndToEnd, Bf16WeightsStayClose) {
  FAVOR_REQUIRE_MODELS();
  auto f32 = Model::Load(kLlama2c).value();
  auto bf16 = Model::Load(kLlama2c, {.weights = DType::kBF16}).value();
  const std::vector<int32_t> ids = f32->tokenizer().Encode("Once upon a time", true).value();
  auto f32_session = Session::Create(*f32).value();
  auto bf16_session = Session::Create(*bf16).value();
  const auto a = f32_session->Feed(ids).value();  // Views into each session's arena.
  const auto b = bf16_session->Feed(ids).value();
  EXPECT_LT(NormalizedError(b.data(), a.data(), static_cast<int64_t>(a.size())), 2e-2);
}

TEST(EndToEnd, SessionRefusesWhatDoesNotFit) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(kLlama2c).value();
  auto session = Session::Create(*model, {.context = 8}).value();
  const std::vector<int32_t> long_prompt(9, 5);
  const auto full = session->Feed(long_prompt);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("context full: 0 + 9 tokens exceed the context of 8"),
            absl::string_view::npos);
  const std::vector<int32_t> bad = {1, 512};
  EXPECT_FALSE(session->Feed(bad).ok());
  EXPECT_EQ(session->position(), 0);
}

}  // namespace
}  // namespace favor::runtime
