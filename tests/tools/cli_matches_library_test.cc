// The CLI's generated text is the library's: for the same options (seeded sampling, every
// attention kind, layers, a plan, bf16 weights, no BOS, a small batch, -n -1), favor generate's
// stdout is the decoded prompt, then exactly runtime::Generate's text. A flag the CLI dropped or
// mapped wrongly (a seed, a window, a layer list) changes the text.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "gtest/gtest.h"
#include "tests/io/corrupt_files.h"
#include "tests/test_util.h"
#include "tests/tools/cli_runner.h"

namespace favor {
namespace {

const std::string kModels = favor::testing::ModelsDir();
const std::string kPrompt = "Lily went to the";

struct Case {
  std::string flags;  // After -m MODEL -p PROMPT -s 7.
  runtime::LoadOptions load;
  AttentionSpec attention;
  runtime::SessionOptions session;
  runtime::GenerationOptions generation;
  bool add_bos = true;
};

std::string LibraryText(const std::string& model_path, const Case& c) {
  auto model = runtime::Model::Load(model_path, c.load).value();
  auto session = runtime::Session::Create(model->Variant(c.attention).value(), c.session).value();
  const auto& tokenizer = model->tokenizer();
  const auto ids = tokenizer.Encode(kPrompt, c.add_bos && tokenizer.add_bos()).value();
  const auto result = runtime::Generate(*session, tokenizer, ids, c.generation).value();
  return tokenizer.Decode(ids).value() + result.text + "\n";
}

runtime::GenerationOptions Sampling(int64_t tokens) {
  return {.sampling = {.seed = 7}, .max_tokens = tokens};
}

TEST(CliMatchesLibrary, EveryOptionGivesTheLibrarysText) {
  FAVOR_REQUIRE_MODELS();
  const std::string model = kModels + "/stories260K/stories260K.bin";
  // A plan for --favor-plan, written by the CLI itself.
  const std::string text = testing::WriteTemp(
      "plan_text.txt",
      "Tom had a red kite. Every morning he ran to the hill and let the kite fly. One day the "
      "string broke and the kite landed in a pond. A duck helped him get it back.");
  const std::string plan = text + ".favor-stats";
  ASSERT_EQ(testing::RunFavor("calibrate -m " + model + " -f " + text + " -o " + plan +
                              " --plan --plan-windows 0,4,8,exact --plan-budget 20 --features 0,16")
                .exit_code,
            0);
  std::vector<Case> cases = {
      {.flags = "", .generation = Sampling(40)},
      {.flags = "--attention favor+ --features 64",
       .attention = {.kind = AttentionKind::kFavorPlus, .features = 64},
       .generation = Sampling(40)},
      {.flags = "--attention favor++ --features 48",
       .attention = {.kind = AttentionKind::kFavorPlusPlus, .features = 48},
       .generation = Sampling(40)},
      {.flags = "--attention favor# --features 64 --favor-seed 3",
       .attention = {.kind = AttentionKind::kFavorSharp, .features = 64, .seed = 3},
       .generation = Sampling(40)},
      {.flags = "--attention favor# --rf sderf --features 32 --favor-layers 1,3",
       .attention = {.kind = AttentionKind::kFavorSharp,
                     .feature_kind = FeatureKind::kSDERF,
                     .features = 32,
                     .layers = {1, 3}},
       .generation = Sampling(40)},
      {.flags = "--attention hybrid --window 8 --sinks 2",
       .attention = {.kind = AttentionKind::kHybrid, .window = 8, .sinks = 2},
       .generation = Sampling(60)},
      {.flags = "--attention window --window 8",
       .attention = {.kind = AttentionKind::kWindow, .window = 8},
       .generation = Sampling(60)},
      {.flags = "--favor-plan " + plan,
       .attention = {.plan = PlanSource::kFile, .plan_file = plan},
       .generation = Sampling(60)},
      {.flags = "--dtype bf16", .load = {.weights = DType::kBF16}, .generation = Sampling(40)},
      {.flags = "--no-bos", .generation = Sampling(40), .add_bos = false},
      {.flags = "-b 3 --temp 0.5 --top-k 5 --top-p 0.9 --min-p 0.1 --repeat-penalty 1.3",
       .session = {.max_batch = 3},
       .generation = {.sampling = {.temperature = 0.5f,
                                   .top_k = 5,
                                   .top_p = 0.9f,
                                   .min_p = 0.1f,
                                   .repeat_penalty = 1.3f,
                                   .seed = 7},
                      .max_tokens = 40}},
      {.flags = "-n -1 -c 64 --ignore-eos",
       .session = {.context = 64},
       .generation = {.sampling = {.seed = 7}, .max_tokens = -1, .stop_at_eos = false}},
      {.flags = "--stop ' the'",
       .generation = {.sampling = {.seed = 7}, .max_tokens = 60, .stop_strings = {" the"}}},
  };
  for (const Case& c : cases) {
    std::string flags = c.flags;
    if (flags.find("-n ") == std::string::npos) {
      flags += " -n " + std::to_string(c.generation.max_tokens);
    }
    const testing::CliResult cli =
        testing::RunFavor("generate -m " + model + " -p '" + kPrompt + "' -s 7 " + flags);
    ASSERT_EQ(cli.exit_code, 0) << c.flags << "\n" << cli.err;
    EXPECT_EQ(cli.out, LibraryText(model, c)) << c.flags;
  }
  std::remove(text.c_str());
  std::remove(plan.c_str());
}

}  // namespace
}  // namespace favor
