// FAVOR attention inside the real models: calibration, the attention swap, model-level quality
// against exact attention (KL divergence falls as M grows; favor# beats favor+), and causality.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "engine/graph/attention_statistics.h"
#include "engine/rf/calibration.h"
#include "engine/runtime/hybrid_planner.h"
#include "engine/runtime/model.h"
#include "engine/runtime/plan_refinement.h"
#include "engine/runtime/session.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

const std::string kModels = favor::testing::ModelsDir();
const std::string kStories260K = kModels + "/stories260K/stories260K.bin";
const std::string kTinyStories656K = kModels + "/tinystories-656K";

const std::string kCalibrationText =
    "Tom had a red kite. Every morning he ran to the hill behind his house and let the kite fly "
    "high "
    "in the sky. The wind was strong and the kite danced like a bird. One day the string broke. "
    "The "
    "kite flew over the trees and landed in a big pond. Tom was sad. He sat on a rock and cried. A "
    "duck swam to the kite and pushed it to the shore with her beak. Tom laughed and thanked the "
    "duck. He gave her some bread from his pocket. From that day, Tom and the duck were best "
    "friends, and they played by the pond every day.";
const std::string kEvaluationText =
    "Once upon a time, there was a little girl named Mia. She loved to draw pictures of cats and "
    "dogs. One day, her brother Ben took her crayons and ran away. Mia was angry and chased him "
    "around the garden. Ben hid behind a big tree, but Mia found him. He said sorry and gave the "
    "crayons back. Then they drew a big picture together, with a sun, a house and a happy dog. Mom "
    "put it on the wall, and Mia and Ben smiled.";

std::shared_ptr<rf::Calibration> Calibrate(const std::string& model_path) {
  auto model = Model::Load(model_path).value();
  auto session = Session::Create(*model).value();
  auto recorder = AttentionStatisticsRecorder::Create(*model->exact().graph).value();
  session->executor().SetObserver(recorder.get());
  const auto ids = model->tokenizer().Encode(kCalibrationText, true).value();
  EXPECT_TRUE(session->Feed(ids).ok());
  return std::make_shared<rf::Calibration>(recorder->statistics());
}

// Next-token distributions at every position of the evaluation text.
std::vector<std::vector<double>> Distributions(const std::string& model_path,
                                               const AttentionSpec& attention) {
  auto model = Model::Load(model_path).value();
  auto session = Session::Create(model->Variant(attention, Logits::kAllPositions).value()).value();
  const auto ids = model->tokenizer().Encode(kEvaluationText, true).value();
  const auto logits = session->Feed(ids).value();
  const int64_t vocab = model->config().vocab_size;
  std::vector<std::vector<double>> out;
  for (size_t t = 0; t < ids.size(); ++t) {
    std::vector<double> p(static_cast<size_t>(vocab));
    double top = -INFINITY, sum = 0;
    for (int64_t i = 0; i < vocab; ++i)
      top = std::max(top, double{logits[t * static_cast<size_t>(vocab) + static_cast<size_t>(i)]});
    for (int64_t i = 0; i < vocab; ++i)
      sum += (p[static_cast<size_t>(i)] =
                  std::exp(logits[t * static_cast<size_t>(vocab) + static_cast<size_t>(i)] - top));
    for (double& x : p) x /= sum;
    out.push_back(std::move(p));
  }
  return out;
}

double MeanKl(const std::vector<std::vector<double>>& exact,
              const std::vector<std::vector<double>>& approx) {
  double total = 0;
  for (size_t t = 0; t < exact.size(); ++t) {
    for (size_t i = 0; i < exact[t].size(); ++i) {
      if (exact[t][i] > 0)
        total += exact[t][i] * std::log(exact[t][i] / std::max(approx[t][i], 1e-300));
    }
  }
  return total / static_cast<double>(exact.size());
}

TEST(FavorModel, CalibrationFileRoundTrips) {
  FAVOR_REQUIRE_MODELS();
  const auto calibration = Calibrate(kStories260K);
  ASSERT_EQ(calibration->layers.size(), 5u);
  ASSERT_EQ(calibration->layers[0].size(), 4u);  // Key/value heads.
  EXPECT_EQ(calibration->head_dim, 8);
  EXPECT_GT(calibration->tokens, 50);
  // GQA pooling: two query heads per key/value head.
  EXPECT_EQ(calibration->layers[2][1].query_count(), 2 * calibration->layers[2][1].key_count());
  const std::string path =
      ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_stories260K.favor-stats";
  ASSERT_TRUE(rf::SaveCalibration(*calibration, path).ok());
  const auto loaded = rf::LoadCalibration(path).value();
  EXPECT_EQ(loaded.tokens, calibration->tokens);
  EXPECT_EQ(loaded.layers[4][3].KeySecondMoment()(2, 5),
            calibration->layers[4][3].KeySecondMoment()(2, 5));
  // A corrupt file is refused.
  std::ofstream(path, std::ios::binary | std::ios::app) << "x";
  EXPECT_FALSE(rf::LoadCalibration(path).ok());
}

TEST(FavorModel, SwapFollowsTheLayerChoiceAndTheStateFollowsTheOps) {
  FAVOR_REQUIRE_MODELS();
  AttentionSpec attention{.kind = AttentionKind::kFavorSharp,
                          .features = 64,
                          .statistics = StatisticsSource::kPrompt,
                          .layers = {1, 3}};
  auto model = Model::Load(kStories260K).value();
  const auto variant = model->Variant(attention).value();
  EXPECT_EQ(variant.graph->FindNodesOfType("FavorAttention").size(), 2u);
  EXPECT_EQ(variant.graph->FindNodesOfType("Attention").size(), 3u);
  // The variant shares the exact graph's packed weights: the same op objects.
  EXPECT_EQ(variant.graph->node(0).op, model->exact().graph->node(0).op);
  auto session = Session::Create(variant, {.context = 512}).value();
  // 3 exact layers of KV cache (2 x 4 heads x 8 x 512 floats) + 2 layers of S, z and the
  // per-feature scales (4 x 64 x 10).
  EXPECT_EQ(session->StateBytes(), 3 * 2 * 4 * 8 * 512 * 4 + 2 * 4 * 64 * 10 * 4);
  attention.layers = {7};
  const auto bad = model->Variant(attention);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer 7 does not exist"), absl::string_view::npos);
  EXPECT_FALSE(model
                   ->Variant({.kind = AttentionKind::kFavorSharp,
                              .statistics = StatisticsSource::kFile,
                              .statistics_file = "/nonexistent.favor-stats"})
                   .ok());
}

TEST(FavorModel, KlDivergenceFallsWithFeaturesAndFavorSharpBeatsFavorPlus) {
  FAVOR_REQUIRE_MODELS();
  for (const std::string& path : {kStories260K, kTinyStories656K}) {
    const auto calibration = Calibrate(path);
    const std::string stats =
        ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_model.favor-stats";
    ASSERT_TRUE(rf::SaveCalibration(*calibration, stats).ok());
    const auto exact = Distributions(path, {});
    std::map<std::pair<std::string, int64_t>, double> kl;
    // favor+ (PosRF), favor++ (OPRF), favor# (SADERF) and SDERF, as in ../shared/docs/FIDELITY.md.
    for (const std::string kind : {"favor+", "favor++", "favor#", "sderf"}) {
      for (int64_t m : {64, 256, 1024}) {
        const AttentionSpec attention{
            .kind = kind == "sderf" ? AttentionKind::kFavorSharp : ParseAttentionKind(kind).value(),
            .feature_kind = kind == "sderf" ? FeatureKind::kSDERF : FeatureKind::kDefault,
            .features = m,
            .seed = 1,
            .statistics = StatisticsSource::kFile,
            .statistics_file = stats};
        kl[{kind, m}] = MeanKl(exact, Distributions(path, attention));
        std::printf("%s %s M=%lld: mean KL %.3f nats\n",
                    path.substr(path.find_last_of('/') + 1).c_str(), kind.c_str(),
                    static_cast<long long>(m), kl[{kind, m}]);
      }
    }
    EXPECT_LT((kl[{"favor#", 1024}]), (kl[{"favor#", 64}])) << path;
    EXPECT_LT((kl[{"favor#", 256}]), (kl[{"favor+", 256}])) << path;
    EXPECT_LT((kl[{"favor#", 1024}]), (kl[{"favor+", 1024}])) << path;
  }
}

// Greedy tokens from BOS alone.
std::vector<int32_t> GreedyFromBos(const std::string& path, const AttentionSpec& attention,
                                   int tokens) {
  auto model = Model::Load(path).value();
  auto session = Session::Create(model->Variant(attention).value()).value();
  std::vector<int32_t> ids = {model->tokenizer().bos_id()};
  auto logits = session->Feed(ids).value();
  for (int i = 0; i < tokens; ++i) {
    const auto next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    ids.push_back(next);
    logits = session->Feed({&next, 1}).value();
  }
  return ids;
}

TEST(FavorModel, WithManyFeaturesGreedyTextStaysCloseToExact) {
  FAVOR_REQUIRE_MODELS();
  // A pure swap drifts (../shared/docs/FIDELITY.md), but the greedy text follows exact attention
  // for longer as M grows.
  const auto calibration = Calibrate(kTinyStories656K);
  const std::string stats =
      ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_greedy.favor-stats";
  ASSERT_TRUE(rf::SaveCalibration(*calibration, stats).ok());
  const auto exact = GreedyFromBos(kTinyStories656K, {}, 24);
  auto agreeing = [&](int64_t features) {
    const auto approx = GreedyFromBos(kTinyStories656K,
                                      {.kind = AttentionKind::kFavorSharp,
                                       .features = features,
                                       .statistics = StatisticsSource::kFile,
                                       .statistics_file = stats},
                                      24);
    size_t n = 0;
    while (n < exact.size() && exact[n] == approx[n]) ++n;
    return n - 1;  // Tokens after BOS.
  };
  const size_t few = agreeing(64), many = agreeing(4096);
  std::printf("greedy tokens agreeing with exact: %zu at M = 64, %zu at M = 4096\n", few, many);
  // Measured with this ~100-token calibration text: 3 tokens at M = 64, 7 at M = 4096 ("Once upon
  // a time, there was a"); with a longer calibration text the whole first sentence agrees.
  EXPECT_GE(many, 6u);
  EXPECT_GT(many, few);
}

// favor calibrate --plan in-process: the errors measured per head, the budgeted plan, the plan
// saved with the statistics and run through AttentionSpec::plan; at the same mean window it is
// closer to exact attention than one window for every head.
TEST(FavorModel, PerHeadPlanBeatsUniformWindowOnlyAttentionAtEqualMemory) {
  FAVOR_REQUIRE_MODELS();
  auto calibrating = Model::Load(kStories260K).value();
  auto session = Session::Create(*calibrating).value();
  auto recorder = AttentionStatisticsRecorder::Create(*calibrating->exact().graph, 512).value();
  session->executor().SetObserver(recorder.get());
  ASSERT_TRUE(session->Feed(calibrating->tokenizer().Encode(kCalibrationText, true).value()).ok());
  const AttentionCapture& capture = recorder->capture();
  ASSERT_EQ(capture.layers.size(), 5u);
  EXPECT_GT(capture.tokens(), 100);
  EXPECT_EQ(capture.layers[3].k.size(), static_cast<size_t>(capture.tokens() * 4 * 8));

  HybridPlanOptions plan_options;
  plan_options.features = {.kind = rf::RfKind::kSaderf, .features = 256};
  // Window-only, hybrid and exact candidates; a budget of what window-only W = 8 keeps (4 sinks
  // and 8 tokens of 2 d + 1 floats, in tokens of 2 d floats), so every head at W = 8 fits.
  plan_options.candidates = {
      {0, 32}, {4, 0}, {4, 32}, {8, 0}, {8, 32}, {16, 0}, {16, 32}, {32, 0}, {rf::kExactHead, 0}};
  plan_options.budget = 12.0 * 17 / 16;
  plan_options.context = 512;
  rf::Calibration calibration = recorder->statistics();
  auto plan = PlanHybridAttention(capture, calibration, plan_options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::printf("%s", rf::DescribePlan(*plan).c_str());
  int falling = 0;
  double uniform = 0;
  for (const auto& layer : plan->errors) {
    for (const auto& head : layer) {
      EXPECT_EQ(head[8], 0.0);  // Exact.
      falling += head[1] > head[3] && head[3] > head[5] && head[5] > head[7];
      uniform += head[3];  // Window-only W = 8.
    }
  }
  EXPECT_GE(falling, 18) << "of 20 heads, the window-only error falls as the window grows";
  EXPECT_LE(plan->MeanCost(), plan_options.budget + 1e-9);
  EXPECT_LT(plan->TotalError(), uniform);

  calibration.plan = *plan;
  const std::string stats =
      ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_plan.favor-stats";
  ASSERT_TRUE(rf::SaveCalibration(calibration, stats).ok());
  const auto exact = Distributions(kStories260K, {});
  const AttentionSpec planned{.features = 32, .plan = PlanSource::kFile, .plan_file = stats};
  const auto graph = calibrating->Variant(planned).value().graph;
  const auto hybrid = graph->FindNodesOfType("HybridAttention");
  ASSERT_EQ(hybrid.size(), 5u);
  EXPECT_NE(graph->node(hybrid[0]).op->Attributes().find(
                "window=" + rf::WindowName(plan->choices[0][0].window) + ","),
            std::string::npos);
  const double plan_kl = MeanKl(exact, Distributions(kStories260K, planned));
  // Uniform window-only attention of the same memory: the baseline the plan must beat.
  const AttentionSpec same_memory{.kind = AttentionKind::kWindow, .window = 8, .sinks = 4};
  const double uniform_kl = MeanKl(exact, Distributions(kStories260K, same_memory));
  std::printf("KL to exact in the state of window-only W = 8: plan %.4f, every head W = 8: %.4f\n",
              plan_kl, uniform_kl);
  EXPECT_LT(plan_kl, uniform_kl);
  // A statistics file without a plan is refused with what to do.
  calibration.plan.reset();
  ASSERT_TRUE(rf::SaveCalibration(calibration, stats).ok());
  const auto refused = calibrating->Variant(planned);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--plan"), std::string::npos);
}

// On tinystories-656K the per-head measure misjudges how heads matter to the output (docs/bench/
// equal-memory.md): the plan refined against the model's own KL must beat uniform window-only
// attention of the same memory on text it was not chosen on, and do no worse than the per-head
// plan on the text it was chosen on.
TEST(FavorModel, PlanChosenEndToEndBeatsUniformWindowOnlyOnHeldOutText) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(kTinyStories656K).value();
  auto session = Session::Create(*model).value();
  auto recorder = AttentionStatisticsRecorder::Create(*model->exact().graph, 512).value();
  session->executor().SetObserver(recorder.get());
  const auto calibration_ids = model->tokenizer().Encode(kCalibrationText, true).value();
  ASSERT_TRUE(session->Feed(calibration_ids).ok());
  session->executor().SetObserver(nullptr);

  HybridPlanOptions plan_options;
  plan_options.features = {.kind = rf::RfKind::kSaderf, .features = 32};
  plan_options.candidates = {{0, 16}, {4, 0},  {4, 16},  {8, 0},
                             {8, 16}, {16, 0}, {16, 16}, {rf::kExactHead, 0}};
  // What window-only W = 8 keeps: 4 sinks and 8 tokens of 2 d + 1 floats, d = 16.
  plan_options.budget = 12.0 * 33 / 32;
  plan_options.context = 512;
  const rf::Calibration statistics = recorder->statistics();
  auto plan = PlanHybridAttention(recorder->capture(), statistics, plan_options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto objective =
      ModelPlanObjective::Create(*model, calibration_ids, statistics, /*seed=*/0, {}).value();
  rf::HybridPlan refined = *plan;
  auto report = RefinePlan(refined, objective);
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s", rf::DescribePlan(refined).c_str());
  EXPECT_LE(refined.MeanCost(), plan_options.budget + 1e-9);
  EXPECT_LT(refined.calibration_kl, 0.98 * report->per_head_score)
      << "here the per-head plan is not the end-to-end optimum (0.543 against 0.569 when written)";
  EXPECT_NEAR(refined.calibration_kl, objective(refined).value(), 1e-9) << "deterministic";

  // Held out: the plan against every head at W = 8 (the budget) on the evaluation text.
  const auto exact = Distributions(kTinyStories656K, {});
  auto with_plan = std::make_shared<rf::Calibration>(statistics);
  with_plan->plan = refined;
  const std::string stats =
      ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_refined.favor-stats";
  ASSERT_TRUE(rf::SaveCalibration(*with_plan, stats).ok());
  const double plan_kl = MeanKl(
      exact, Distributions(kTinyStories656K, {.plan = PlanSource::kFile, .plan_file = stats}));
  const double uniform_kl =
      MeanKl(exact, Distributions(kTinyStories656K, {.kind = AttentionKind::kWindow, .window = 8}));
  std::printf(
      "calibration text: end-to-end plan %.4f, per-head plan %.4f, best uniform %.4f; held out: "
      "plan %.4f, every head W = 8: %.4f\n",
      refined.calibration_kl, report->per_head_score, report->uniform_score, plan_kl, uniform_kl);
  EXPECT_LT(plan_kl, uniform_kl);
  std::remove(stats.c_str());
}

TEST(FavorModel, CalibratedOutputsDoNotDependOnLaterTokens) {
  FAVOR_REQUIRE_MODELS();
  const auto calibration = Calibrate(kStories260K);
  const std::string stats =
      ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_causal.favor-stats";
  ASSERT_TRUE(rf::SaveCalibration(*calibration, stats).ok());
  auto model = Model::Load(kStories260K).value();
  const auto variant = model
                           ->Variant({.kind = AttentionKind::kFavorSharp,
                                      .features = 128,
                                      .statistics = StatisticsSource::kFile,
                                      .statistics_file = stats},
                                     Logits::kAllPositions)
                           .value();
  auto ids = model->tokenizer().Encode(kEvaluationText, true).value();
  auto changed = ids;
  for (size_t t = 30; t < changed.size(); ++t)
    changed[t] = static_cast<int32_t>((changed[t] * 7 + 3) % 512);
  auto a = Session::Create(variant).value();
  auto b = Session::Create(variant).value();
  const auto la = a->Feed(ids).value();
  const auto lb = b->Feed(changed).value();
  // Equal to rounding: a sub-chunk's scales may include a later key of the same sub-chunk (at
  // most kMaxScaleJump nats above the earlier ones), which changes rounding, never the value.
  for (size_t i = 0; i < 30 * 512; ++i) {
    ASSERT_NEAR(la[i], lb[i], 1e-3f * std::max(1.0f, std::abs(la[i]))) << "logit " << i;
  }
  EXPECT_NE(la[40 * 512], lb[40 * 512]);
}

}  // namespace
}  // namespace favor::runtime
