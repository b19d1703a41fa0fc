// The C++ API (favor/favor.hpp) as a program that embeds the engine uses it: generation with
// streaming and stop conditions, scoring, attention per session, errors, and one model shared by
// sessions generating on several threads at once (same tokens as one thread alone).
#include <string>
#include <thread>
#include <vector>

#include "favor/favor.hpp"
#include "gtest/gtest.h"

namespace {

const std::string kModel = std::string(FAVOR_MODELS_DIR) + "/stories260K/stories260K.bin";

std::shared_ptr<const favor::Model> LoadModel() {
  auto model = favor::Model::Load(kModel);
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

favor::GenerateOptions Greedy(int64_t tokens) {
  favor::GenerateOptions options;
  options.sampling.temperature = 0;
  options.sampling.repeat_penalty = 1;
  options.max_tokens = tokens;
  return options;
}

TEST(Api, VersionAndModelInfo) {
  EXPECT_EQ(FAVOR_VERSION_NUMBER,
            FAVOR_MAKE_VERSION(FAVOR_VERSION_MAJOR, FAVOR_VERSION_MINOR, FAVOR_VERSION_PATCH));
  const auto model = LoadModel();
  EXPECT_EQ(model->info().layers, 5);
  EXPECT_EQ(model->info().vocab_size, 512);
  EXPECT_EQ(model->tokenizer().vocab_size(), 512);
  const auto ids = model->tokenizer().Encode("Once upon a time", true).value();
  EXPECT_EQ(ids[0], model->tokenizer().bos_id());
  EXPECT_EQ(model->tokenizer().Decode(ids).value(), "Once upon a time");
  EXPECT_TRUE(model->tokenizer().add_bos());
  EXPECT_TRUE(model->tokenizer().IsEndOfGeneration(model->tokenizer().eos_id()));
  // "</s>" in the text: characters unless special tokens are parsed.
  const auto plain = model->tokenizer().Encode("a</s>", false).value();
  const auto special = model->tokenizer().Encode("a</s>", false, true).value();
  EXPECT_GT(plain.size(), special.size());
  EXPECT_EQ(special.back(), model->tokenizer().eos_id());
}

TEST(Api, StreamingGivesTheSameTextAndTheCallbackCanStop) {
  const auto model = LoadModel();
  auto session = favor::Session::Create(model).value();
  std::string streamed;
  int calls = 0;
  const auto whole = session
                         ->Generate("Once upon a time", Greedy(40),
                                    [&](int32_t, const std::string& text) {
                                      streamed += text;
                                      ++calls;
                                      return true;
                                    })
                         .value();
  EXPECT_EQ(streamed, whole.text);
  EXPECT_EQ(whole.tokens.size(), 40u);
  EXPECT_GE(calls, 40);
  EXPECT_EQ(whole.stop, favor::StopReason::kMaxTokens);
  EXPECT_GT(whole.text.size(), 40u);

  session->Reset();
  int seen = 0;
  const auto stopped = session
                           ->Generate("Once upon a time", Greedy(40),
                                      [&](int32_t, const std::string&) { return ++seen < 5; })
                           .value();
  EXPECT_EQ(stopped.stop, favor::StopReason::kCallback);
  EXPECT_EQ(stopped.tokens.size(), 5u);
  EXPECT_EQ(whole.text.rfind(stopped.text, 0), 0u) << "the same greedy text, cut";

  // A stop string: the text ends before it, and the streamed text never shows it.
  const size_t at = whole.text.find(' ', 10);
  ASSERT_NE(at, std::string::npos);
  const std::string stop = whole.text.substr(at, 4);
  auto options = Greedy(40);
  options.stop_strings = {stop};
  session->Reset();
  streamed.clear();
  const auto cut = session
                       ->Generate("Once upon a time", options,
                                  [&](int32_t, const std::string& text) {
                                    streamed += text;
                                    return true;
                                  })
                       .value();
  EXPECT_EQ(cut.stop, favor::StopReason::kStopString);
  EXPECT_EQ(cut.text, whole.text.substr(0, whole.text.find(stop)));
  EXPECT_EQ(streamed, cut.text);
  EXPECT_STREQ(favor::StopReasonName(cut.stop), "stop_string");
}

// The generated text is the decoding of prompt + generated tokens minus that of the prompt, in
// every model format, for prompts ending in a word, a space, punctuation and a multi-byte
// character: the first word keeps its space.
TEST(Api, GeneratedTextContinuesThePromptAsTheWholeDecodingDoes) {
  const std::string models = FAVOR_MODELS_DIR;
  for (const std::string& path :
       {kModel, models + "/stories260K/tinyllamas-stories-260k-f32.gguf",
        models + "/tinystories-656K", models + "/tinystories-656K/model.safetensors"}) {
    const auto model = favor::Model::Load(path).value();
    const favor::Tokenizer& tokenizer = model->tokenizer();
    for (const std::string prompt :
         {"Lily went to the", "The dog", "The dog ", "She said, \"Hi", "Caf\xc3\xa9"}) {
      auto session = favor::Session::Create(model).value();
      const auto out = session->Generate(prompt, Greedy(12)).value();
      auto ids = tokenizer.Encode(prompt, true).value();
      const std::string prompt_text = tokenizer.Decode(ids).value();
      ids.insert(ids.end(), out.tokens.begin(), out.tokens.end());
      EXPECT_EQ(prompt_text + out.text, tokenizer.Decode(ids).value()) << path << ": " << prompt;
    }
  }
  // The report that opened the issue: stories260K continued "Lily went to the" with "park".
  for (const std::string& path :
       {kModel, models + "/stories260K/tinyllamas-stories-260k-f32.gguf"}) {
    auto session = favor::Session::Create(favor::Model::Load(path).value()).value();
    const auto park = session->Generate("Lily went to the", Greedy(3)).value();
    EXPECT_EQ(park.text.rfind(" park", 0), 0u) << path << ": '" << park.text << "'";
  }
}

// tinystories-656K ends a story by spelling "<|end_story|>" with ordinary pieces: generation
// ends there, and the marker is not in the text; with stop_at_eos off it goes on past it.
TEST(Api, GenerationEndsAtTheEndOfTheStory) {
  const auto model =
      favor::Model::Load(std::string(FAVOR_MODELS_DIR) + "/tinystories-656K").value();
  auto session = favor::Session::Create(model).value();
  const auto story = session->Generate("The dog", Greedy(400)).value();
  EXPECT_EQ(story.stop, favor::StopReason::kEndOfSequence);
  EXPECT_EQ(story.stop_text, "<|end_story|>");
  EXPECT_EQ(story.text.find("<|"), std::string::npos) << story.text;
  EXPECT_LT(story.tokens.size(), 400u);
  EXPECT_STREQ(favor::StopReasonName(story.stop), "end_of_generation");

  auto options = Greedy(static_cast<int64_t>(story.tokens.size()) + 40);
  options.stop_at_eos = false;
  session->Reset();
  const auto on = session->Generate("The dog", options).value();
  EXPECT_EQ(on.stop, favor::StopReason::kMaxTokens);
  EXPECT_EQ(on.text.rfind(story.text, 0), 0u);
  EXPECT_NE(on.text.find("end_story"), std::string::npos) << on.text;
}

// llama.cpp's defaults, a random seed each time that the result reports and that repeats the run.
TEST(Api, DefaultsAreLlamaCppsAndTheSeedIsReported) {
  const favor::SamplingOptions defaults;
  EXPECT_FLOAT_EQ(defaults.temperature, 0.8f);
  EXPECT_EQ(defaults.top_k, 40);
  EXPECT_FLOAT_EQ(defaults.top_p, 0.95f);
  EXPECT_FLOAT_EQ(defaults.min_p, 0.05f);
  EXPECT_FLOAT_EQ(defaults.repeat_penalty, 1.0f);
  EXPECT_EQ(defaults.repeat_last_n, 64);
  EXPECT_EQ(defaults.seed, favor::kRandomSeed);
  const auto model = LoadModel();
  auto session = favor::Session::Create(model).value();
  favor::GenerateOptions options;
  options.max_tokens = 30;
  const auto first = session->Generate("Once", options).value();
  options.sampling.seed = first.seed;
  session->Reset();
  const auto again = session->Generate("Once", options).value();
  EXPECT_EQ(again.tokens, first.tokens);
  EXPECT_EQ(again.seed, first.seed);
}

TEST(Api, ScoringAndAttentionPerSession) {
  const auto model = LoadModel();
  auto exact = favor::Session::Create(model).value();
  const auto score = exact->Score("Once upon a time, there was a little girl.").value();
  EXPECT_EQ(score.log_probs.size() + 1, score.tokens.size());
  EXPECT_LT(score.total_log_prob, 0);
  EXPECT_GT(score.perplexity, 1);
  EXPECT_LT(score.perplexity, 20) << "a story opening is likely under a TinyStories model";

  // The window-only hybrid with a window over the whole text is exact attention.
  favor::SessionOptions options;
  options.attention.kind = favor::AttentionKind::kWindow;
  options.attention.window = 256;
  auto windowed = favor::Session::Create(model, options).value();
  const auto same = windowed->Score("Once upon a time, there was a little girl.").value();
  EXPECT_NEAR(same.total_log_prob, score.total_log_prob, 1e-3);
  // favor# with prompt statistics: constant state, different numbers.
  options.attention = {.kind = favor::AttentionKind::kFavorSharp, .features = 64};
  auto favor_sharp = favor::Session::Create(model, options).value();
  const auto out = favor_sharp->Generate("Once upon a time", Greedy(10)).value();
  EXPECT_EQ(out.tokens.size(), 10u);
  EXPECT_LT(favor_sharp->state_bytes(), exact->state_bytes());
}

TEST(Api, ErrorsNameTheProblem) {
  auto missing = favor::Model::Load("/nonexistent/model.bin");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/model.bin"), std::string::npos);
  const auto model = LoadModel();
  // Attention names are parsed at the boundary, once.
  const auto bad = favor::ParseAttentionKind("favor3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown attention 'favor3'"), std::string::npos);
  EXPECT_EQ(favor::ParseAttentionKind("hybrid").value(), favor::AttentionKind::kHybrid);
  EXPECT_FALSE(favor::ParseFeatureKind("trig").ok()) << "not positive";
  favor::AttentionSpec statistics;
  EXPECT_FALSE(favor::ParseStatistics("sequence", statistics).ok()) << "uses future tokens";
  ASSERT_TRUE(favor::ParseStatistics("my.favor-stats", statistics).ok());
  EXPECT_EQ(statistics.statistics, favor::StatisticsSource::kFile);
  EXPECT_EQ(statistics.statistics_file, "my.favor-stats");
  // A combination the engine cannot run is refused when the session is made.
  favor::SessionOptions options;
  options.attention.kind = favor::AttentionKind::kFavorSharp;
  options.attention.statistics = favor::StatisticsSource::kCausal;
  auto causal = favor::Session::Create(model, options);
  ASSERT_FALSE(causal.ok());
  EXPECT_NE(causal.status().message().find("causal needs hybrid"), std::string::npos)
      << causal.status();
  auto session = favor::Session::Create(model, {.context = 16}).value();
  std::string long_prompt;
  for (int i = 0; i < 4; ++i) long_prompt += "Once upon a time there was a little girl. ";
  auto too_long = session->Generate(long_prompt);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kOutOfRange);
  auto bad_sampling = Greedy(4);
  bad_sampling.sampling.min_p = 2;
  EXPECT_FALSE(session->Generate("Once", bad_sampling).ok());
  EXPECT_EQ(favor::Session::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  // A context the machine cannot hold, and one beyond an explicit budget: refused with the figure.
  auto huge = favor::Session::Create(model, {.context = int64_t{1} << 40});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("needs 1.25 PiB"), std::string::npos) << huge.status();
  auto capped =
      favor::Session::Create(model, {.context = 4096, .memory_limit_bytes = int64_t{1} << 20});
  ASSERT_FALSE(capped.ok());
  EXPECT_NE(capped.status().message().find("more than the 1.0 MiB allowed"), std::string::npos)
      << capped.status();
}

// One model, many threads: each generates from its own session; sampled (seeded) text equals the
// single-threaded text of the same seed.
TEST(Api, OneModelSharedBySessionsOnManyThreads) {
  const auto model = LoadModel();
  constexpr int kThreads = 4;
  auto options_for = [](int i) {
    favor::GenerateOptions options;
    options.max_tokens = 48;
    options.sampling.seed = 100 + static_cast<uint64_t>(i);
    return options;
  };
  const std::vector<std::string> prompts = {"Once upon a time", "The cat", "Lily wanted",
                                            "One day"};
  std::vector<std::string> alone(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    auto session = favor::Session::Create(model, {.threads = 1}).value();
    alone[static_cast<size_t>(i)] =
        session->Generate(prompts[static_cast<size_t>(i)], options_for(i)).value().text;
  }
  std::vector<std::string> together(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto session = favor::Session::Create(model, {.threads = 1});
      if (!session.ok()) return;
      for (int round = 0; round < 3; ++round) {  // Overlap many steps.
        (*session)->Reset();
        auto out = (*session)->Generate(prompts[static_cast<size_t>(i)], options_for(i));
        together[static_cast<size_t>(i)] = out.ok() ? out->text : out.status().ToString();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(together[static_cast<size_t>(i)], alone[static_cast<size_t>(i)]) << i;
  }
}

// Continuous batching: prompts generated together, two at a time, each get what a fresh session
// gives them alone (greedy and seeded sampling, FAVOR# attention too); a prompt past the context
// fails alone; tokens stream with their prompt's index.
TEST(Api, GenerateBatchGivesEachPromptWhatASessionGivesIt) {
  const auto model = LoadModel();
  for (const favor::AttentionSpec& attention :
       {favor::AttentionSpec{},
        favor::AttentionSpec{
            .kind = favor::AttentionKind::kFavorSharp, .features = 32, .seed = 3}}) {
    std::vector<favor::BatchPrompt> prompts;
    for (const char* text : {"Once upon a time", "Lily saw a cat", "The sun", "Tom ran"}) {
      favor::GenerateOptions options = Greedy(16 + static_cast<int64_t>(prompts.size()) * 5);
      if (prompts.size() % 2 == 1) {
        options.sampling.temperature = 0.9f;
        options.sampling.seed = 7 + prompts.size();
      }
      prompts.push_back({text, options});
    }
    std::string too_long;
    for (int i = 0; i < 200; ++i) too_long += "a cat ";
    prompts.push_back({too_long, Greedy(4)});
    std::vector<std::string> streamed(prompts.size());
    const auto results =
        favor::GenerateBatch(model, prompts,
                             {.parallel = 2, .context = 128, .attention = attention},
                             [&](size_t index, int32_t, const std::string& text) {
                               streamed.at(index) += text;
                               return true;
                             })
            .value();
    ASSERT_EQ(results.size(), prompts.size());
    for (size_t i = 0; i + 1 < prompts.size(); ++i) {
      ASSERT_TRUE(results[i].ok()) << results[i].status();
      auto alone = favor::Session::Create(model, {.context = 128, .attention = attention}).value();
      const auto expected = alone->Generate(prompts[i].prompt, prompts[i].options).value();
      EXPECT_EQ(results[i]->tokens, expected.tokens) << prompts[i].prompt;
      EXPECT_EQ(results[i]->text, expected.text);
      EXPECT_EQ(streamed[i], expected.text);
    }
    EXPECT_EQ(results.back().status().code(), absl::StatusCode::kOutOfRange);
  }
  EXPECT_FALSE(favor::GenerateBatch(model, {}, {.parallel = 0}).ok());
}

}  // namespace
