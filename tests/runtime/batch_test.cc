// Continuous batching changes nothing a request sees: on the real tinystories-656K, requests run
// together in a Batch (more requests than slots, so they join as others leave; a small step
// budget, so prompts prefill in chunks between other slots' decode steps) generate what each
// generates alone with Generate, greedy and seeded sampling, for exact, FAVOR# and hybrid
// attention. Slots reuse held prefixes, cancel, and refuse what cannot run.
#include <map>
#include <string>
#include <vector>

#include "engine/runtime/batch.h"
#include "engine/runtime/model.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

const char* const kPrompts[] = {
    "Once upon a time there was a little girl named Lily.",
    "Tom had a red ball.",
    "The sun was shining and the birds were singing in the tall green trees by the river.",
    "One day,",
    "Sam and his mom went to the park to play. They saw a big dog",
};

GenerationOptions Options(float temperature, uint64_t seed, int64_t tokens,
                          bool stop_at_eos = true) {
  GenerationOptions options;
  options.stop_at_eos = stop_at_eos;
  options.sampling.temperature = temperature;
  options.sampling.seed = seed;
  options.max_tokens = tokens;
  return options;
}

std::vector<int32_t> Encode(const Model& model, const std::string& text) {
  return model.tokenizer().Encode(text, {.add_bos = true}).value();
}

GenerationResult Alone(const Model& model, const ModelVariant& variant,
                       const std::vector<int32_t>& prompt, const GenerationOptions& options,
                       int64_t max_batch = 512) {
  auto session =
      Session::Create(variant, {.context = 256, .threads = 2, .max_batch = max_batch}).value();
  return Generate(*session, model.tokenizer(), prompt, options).value();
}

// Runs every prompt through a batch of `slots`, adding a request whenever a slot is free.
std::vector<GenerationResult> Together(const Model& model, const ModelVariant& variant,
                                       const std::vector<GenerationOptions>& options, int slots,
                                       int64_t max_batch) {
  auto batch = Batch::Create(variant, model.tokenizer(),
                             {.slots = slots, .context = 256, .threads = 2, .max_batch = max_batch})
                   .value();
  const size_t n = std::size(kPrompts);
  std::vector<GenerationResult> results(n);
  std::vector<std::string> streamed(n);
  size_t added = 0, done = 0;
  int steps = 0;
  while (done < n) {
    while (added < n && batch->active() < batch->slots()) {
      const size_t i = added++;
      BatchRequest request;
      request.prompt = Encode(model, kPrompts[i]);
      request.generation = options[i];
      request.on_token = [&streamed, i](int32_t, const std::string& text) {
        streamed[i] += text;
        return true;
      };
      request.on_done = [&results, &done, i](absl::StatusOr<GenerationResult> result) {
        ASSERT_TRUE(result.ok()) << result.status();
        results[i] = *std::move(result);
        ++done;
      };
      EXPECT_TRUE(batch->Add(std::move(request)).ok());
    }
    const absl::Status step = batch->Step();
    EXPECT_TRUE(step.ok()) << step;
    if (!step.ok() || ++steps > 10000) break;
  }
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(streamed[i], results[i].text) << kPrompts[i];
  return results;
}

constexpr int64_t kStepPrompt = 8;

void ExpectBatchEqualsAlone(const AttentionSpec& attention, const char* name) {
  auto model = Model::Load(testing::ModelsDir() + "/tinystories-656K").value();
  const ModelVariant variant = model->Variant(attention).value();
  std::vector<GenerationOptions> options;
  for (size_t i = 0; i < std::size(kPrompts); ++i) {
    // Greedy and seeded sampling alternate; lengths differ so requests end at different steps.
    options.push_back(Options(i % 2 == 0 ? 0.0f : 0.8f, 100 + i, 12 + 7 * static_cast<int>(i)));
  }
  const std::vector<GenerationResult> together = Together(*model, variant, options, 3, kStepPrompt);
  for (size_t i = 0; i < std::size(kPrompts); ++i) {
    // Prompt chunks of 8 as the batch feeds them (random features fit the first).
    const GenerationResult alone =
        Alone(*model, variant, Encode(*model, kPrompts[i]), options[i], kStepPrompt);
    EXPECT_EQ(together[i].tokens, alone.tokens) << name << ": " << kPrompts[i];
    EXPECT_EQ(together[i].text, alone.text) << name << ": " << kPrompts[i];
    EXPECT_EQ(together[i].stop, alone.stop) << name << ": " << kPrompts[i];
    EXPECT_EQ(together[i].prompt_tokens, alone.prompt_tokens);
  }
}

TEST(Batch, RequestsTogetherGenerateWhatEachGeneratesAloneExact) {
  FAVOR_REQUIRE_MODELS();
  ExpectBatchEqualsAlone({}, "exact");
}

TEST(Batch, RequestsTogetherGenerateWhatEachGeneratesAloneFavorSharp) {
  FAVOR_REQUIRE_MODELS();
  ExpectBatchEqualsAlone({.kind = AttentionKind::kFavorSharp, .features = 32, .seed = 7}, "favor#");
}

TEST(Batch, RequestsTogetherGenerateWhatEachGeneratesAloneHybrid) {
  FAVOR_REQUIRE_MODELS();
  ExpectBatchEqualsAlone(
      {.kind = AttentionKind::kHybrid, .features = 32, .seed = 7, .window = 16, .sinks = 4},
      "hybrid");
}

TEST(Batch, ANextTurnReusesTheSlotHoldingItsPrefix) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(testing::ModelsDir() + "/tinystories-656K").value();
  auto batch = Batch::Create(model->exact(), model->tokenizer(),
                             {.slots = 2, .context = 256, .threads = 2, .max_batch = 64})
                   .value();
  GenerationResult first;
  auto run = [&](std::vector<int32_t> prompt) {
    BatchRequest request;
    request.prompt = std::move(prompt);
    request.generation = Options(0.0f, 1, 10, false);
    bool finished = false;
    request.on_done = [&](absl::StatusOr<GenerationResult> result) {
      ASSERT_TRUE(result.ok()) << result.status();
      first = *std::move(result);
      finished = true;
    };
    const SlotAssignment assignment = batch->Add(std::move(request)).value();
    while (!finished) EXPECT_TRUE(batch->Step().ok());
    return assignment;
  };
  const std::vector<int32_t> prompt = Encode(*model, kPrompts[0]);
  const SlotAssignment a = run(prompt);
  EXPECT_EQ(a.reused_tokens, 0);
  // The next turn: the prompt, the reply, more text. All but the last reply token were fed.
  std::vector<int32_t> next = prompt;
  next.insert(next.end(), first.tokens.begin(), first.tokens.end());
  const std::vector<int32_t> more = model->tokenizer().Encode(" Then", {}).value();
  next.insert(next.end(), more.begin(), more.end());
  const size_t first_tokens = first.tokens.size();
  const SlotAssignment b = run(next);
  EXPECT_EQ(b.slot, a.slot);
  EXPECT_EQ(b.reused_tokens, static_cast<int64_t>(prompt.size() + first_tokens - 1));
  EXPECT_EQ(first_tokens, 10u);
  EXPECT_EQ(first.tokens, Alone(*model, model->exact(), next, Options(0.0f, 1, 10, false)).tokens);
  // A prompt unrelated to either slot goes to the unused one, keeping the held conversation.
  const SlotAssignment c = run(Encode(*model, kPrompts[1]));
  EXPECT_NE(c.slot, a.slot);
  EXPECT_EQ(c.reused_tokens, 0);
}

TEST(Batch, CancelEndsTheRequestAndFreesItsSlot) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(testing::ModelsDir() + "/tinystories-656K").value();
  auto batch = Batch::Create(model->exact(), model->tokenizer(),
                             {.slots = 1, .context = 256, .threads = 2, .max_batch = 64})
                   .value();
  std::optional<absl::StatusOr<GenerationResult>> outcome;
  BatchRequest request;
  request.prompt = Encode(*model, kPrompts[0]);
  request.generation = Options(0.0f, 1, 100, false);
  request.on_done = [&](absl::StatusOr<GenerationResult> result) { outcome = std::move(result); };
  const int slot = batch->Add(std::move(request)).value().slot;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(batch->Step().ok());
  EXPECT_FALSE(outcome.has_value());
  batch->Cancel(slot);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(outcome->ok());
  EXPECT_EQ((*outcome)->stop, StopReason::kCallback);
  EXPECT_EQ((*outcome)->tokens.size(), 4u);  // The prompt's step sampled one, then one per step.
  EXPECT_EQ(batch->active(), 0);
  EXPECT_TRUE(batch->Step().ok());  // Nothing to do.
}

TEST(Batch, RefusesWhatCannotRun) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(testing::ModelsDir() + "/tinystories-656K").value();
  auto batch = Batch::Create(model->exact(), model->tokenizer(),
                             {.slots = 1, .context = 32, .threads = 2, .max_batch = 16})
                   .value();
  auto request = [&](std::vector<int32_t> prompt) {
    BatchRequest r;
    r.prompt = std::move(prompt);
    r.on_done = [](absl::StatusOr<GenerationResult>) { FAIL() << "a refused request ended"; };
    return r;
  };
  EXPECT_EQ(batch->Add(request({})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batch->Add(request(std::vector<int32_t>(32, 5))).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(batch->Add(request({1, 1 << 20})).status().code(), absl::StatusCode::kOutOfRange);
  BatchRequest bad_stop = request({1, 5});
  bad_stop.generation.stop_strings = {""};
  EXPECT_EQ(batch->Add(std::move(bad_stop)).status().code(), absl::StatusCode::kInvalidArgument);
  BatchRequest ok = request({1, 5});
  ok.on_done = nullptr;
  ASSERT_TRUE(batch->Add(std::move(ok)).ok());
  EXPECT_EQ(batch->Add(request({1, 6})).status().code(), absl::StatusCode::kResourceExhausted);

  EXPECT_FALSE(Batch::Create(model->exact(), model->tokenizer(), {.slots = 0}).ok());
  EXPECT_FALSE(
      Batch::Create(model->exact(), model->tokenizer(), {.slots = 8, .max_batch = 0}).ok());
  const auto too_big = Batch::Create(model->exact(), model->tokenizer(),
                                     {.slots = 4, .memory_limit_bytes = 1 << 20});
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(too_big.status().message().find("--parallel"), std::string::npos);
}

}  // namespace
}  // namespace favor::runtime
