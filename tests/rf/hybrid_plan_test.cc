// The per-head hybrid plan: the budgeted choice is the optimum (checked against brute force over
// every assignment), ties go to the cheaper plan, bad budgets and candidates are refused, and the
// plan travels in the statistics file (old version-1 and version-2 files still load).
#include "engine/rf/hybrid_plan.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <unistd.h>

#include "engine/rf/calibration.h"
#include "gtest/gtest.h"

namespace favor::rf {
namespace {

// Candidates with a tail of 64 features (exact: none).
std::vector<PlanCandidate> WithTails(const std::vector<int64_t>& windows) {
  std::vector<PlanCandidate> candidates;
  for (int64_t window : windows) candidates.push_back({window, window == kExactHead ? 0 : 64});
  return candidates;
}

HybridPlan RandomPlan(int64_t layers, int64_t heads, const std::vector<int64_t>& windows,
                      double budget, uint64_t seed) {
  HybridPlan plan;
  plan.candidates = WithTails(windows);
  plan.exact_cost = 256;
  plan.budget = budget;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int64_t l = 0; l < layers; ++l) {
    auto& layer = plan.errors.emplace_back();
    for (int64_t h = 0; h < heads; ++h) {
      // Errors fall with the window, at a random rate per head; exact is 0.
      const double base = uniform(rng), rate = 0.02 + 0.1 * uniform(rng);
      auto& errors = layer.emplace_back();
      for (const PlanCandidate& c : plan.candidates) {
        // A tail helps a little, more the shorter the window.
        const double tail =
            c.features > 0 ? 1.0 / (1.0 + 0.01 * static_cast<double>(c.features)) : 1.0;
        errors.push_back(c.window == kExactHead
                             ? 0.0
                             : base * tail * std::exp(-rate * static_cast<double>(c.window)));
      }
    }
  }
  return plan;
}

// The least summed error over every assignment within the budget.
double BruteForce(const HybridPlan& plan) {
  const auto heads = static_cast<int64_t>(plan.errors.size() * plan.errors[0].size());
  const auto c = static_cast<int64_t>(plan.candidates.size());
  const int64_t per_layer = static_cast<int64_t>(plan.errors[0].size());
  double best = std::numeric_limits<double>::infinity();
  int64_t combinations = 1;
  for (int64_t h = 0; h < heads; ++h) combinations *= c;
  for (int64_t code = 0; code < combinations; ++code) {
    double error = 0, cost = 0;
    int64_t rest = code;
    for (int64_t h = 0; h < heads; ++h, rest /= c) {
      const auto pick = static_cast<size_t>(rest % c);
      error +=
          plan.errors[static_cast<size_t>(h / per_layer)][static_cast<size_t>(h % per_layer)][pick];
      cost += static_cast<double>(plan.Cost(plan.candidates[pick]));
    }
    if (cost <= plan.budget * static_cast<double>(heads) * (1 + 1e-12)) {
      best = std::min(best, error);
    }
  }
  return best;
}

TEST(HybridPlan, ChoiceIsTheOptimumWithinTheBudget) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    for (double budget : {8.0, 24.0, 40.0, 64.0, 100.0}) {
      HybridPlan plan = RandomPlan(2, 3, {0, 8, 16, 48, 96, kExactHead}, budget, seed);
      ASSERT_TRUE(ChoosePlan(plan).ok());
      EXPECT_LE(plan.MeanCost(), budget + 1e-9);
      EXPECT_NEAR(plan.TotalError(), BruteForce(plan), 1e-12)
          << "seed " << seed << " budget " << budget;
    }
  }
}

// Costs in state: a candidate costs its sinks and window rows (keys, values and a score: 2 d + 1
// floats each) plus its tail's M (d + 2) floats, in tokens of KV cache (2 d floats); the choice
// among window-only, hybrid and exact heads is still the optimum within the budget.
TEST(HybridPlan, StateCostsMixWindowOnlyHybridAndExactHeads) {
  HybridPlan plan = RandomPlan(2, 3, {8, 16, 32}, 0, 7);
  plan.head_dim = 8;
  plan.sinks = 4;
  plan.candidates = {{0, 16}, {8, 0}, {8, 16}, {16, 0}, {16, 64}, {32, 0}, {kExactHead, 0}};
  EXPECT_DOUBLE_EQ(plan.Cost({8, 0}), 12.0 * 17 / 16);
  EXPECT_DOUBLE_EQ(plan.Cost({8, 16}), (12.0 * 17 + 16 * 10) / 16);
  EXPECT_DOUBLE_EQ(plan.Cost({kExactHead, 0}), (4.0 + 256) * 17 / 16);
  // The longest window-only window within a budget: (4 + W) 17 / 16 <= budget.
  for (const auto& [budget, window] : std::vector<std::pair<double, int64_t>>{
           {12.0 * 17 / 16, 8}, {12.0 * 17 / 16 - 1e-9, 7}, {20.0, 14}, {4.0, 0}, {1.0, 0}}) {
    plan.budget = budget;
    EXPECT_EQ(plan.LongestWindowWithinBudget(), window) << budget;
  }
  {
    HybridPlan d16 = plan;  // tinystories-656K: d = 16, budget 20 -> W = 15.
    d16.head_dim = 16;
    d16.budget = 20;
    EXPECT_EQ(d16.LongestWindowWithinBudget(), 15);
    d16.head_dim = 0;  // Costs in window tokens.
    EXPECT_EQ(d16.LongestWindowWithinBudget(), 20);
  }
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (double budget : {13.0, 20.0, 30.0, 60.0}) {
    for (auto& layer : plan.errors) {
      for (auto& head : layer) {
        head.clear();
        for (const PlanCandidate& c : plan.candidates) {
          head.push_back(c.window == kExactHead ? 0.0 : uniform(rng) / (1.0 + plan.Cost(c)));
        }
      }
    }
    plan.budget = budget;
    ASSERT_TRUE(ChoosePlan(plan).ok()) << budget;
    EXPECT_LE(plan.MeanCost(), budget + 1e-9);
    EXPECT_NEAR(plan.TotalError(), BruteForce(plan), 1e-12) << "budget " << budget;
  }
  // Many heads and a fine budget: the costs are rounded up to a coarser unit, never over it.
  HybridPlan big = RandomPlan(32, 8, {16, 64, 256}, 0, 11);
  big.head_dim = 128;
  big.candidates = {{16, 0}, {16, 256}, {64, 0}, {64, 256}, {256, 0}, {256, 256}};
  for (auto& layer : big.errors) {
    for (auto& head : layer) head = {0.9, 0.7, 0.5, 0.3, 0.2, 0.1};
  }
  big.budget = 100;
  ASSERT_TRUE(ChoosePlan(big).ok());
  EXPECT_LE(big.MeanCost(), 100 + 1e-9);
  EXPECT_GT(big.MeanCost(), 90) << "the rounding leaves little of the budget unspent";
}

TEST(HybridPlan, SpendsWhereTheErrorIsAndPrefersTheCheaperTie) {
  HybridPlan plan;
  plan.candidates = WithTails({0, 16, 64});
  plan.exact_cost = 512;
  plan.budget = 40;  // Two heads: 80 tokens in all.
  // Head 0 gains little from a window, head 1 a lot: head 1 gets 64, head 0 16.
  plan.errors = {{{0.10, 0.09, 0.08}, {1.0, 0.5, 0.01}}};
  ASSERT_TRUE(ChoosePlan(plan).ok());
  EXPECT_EQ(plan.choices[0][0].window, 16);
  EXPECT_EQ(plan.choices[0][1].window, 64);
  // Equal errors: the cheapest window.
  plan.errors = {{{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}}};
  ASSERT_TRUE(ChoosePlan(plan).ok());
  EXPECT_EQ(plan.choices[0][0].window, 0);
  EXPECT_EQ(plan.choices[0][1].window, 0);
}

TEST(HybridPlan, RefusesBudgetsAndCandidatesThatCannotWork) {
  HybridPlan plan = RandomPlan(1, 2, {16, 64}, 8, 3);
  EXPECT_FALSE(ChoosePlan(plan).ok());  // Below the smallest window.
  plan.budget = -1;
  EXPECT_FALSE(ChoosePlan(plan).ok());
  plan = RandomPlan(1, 2, {16, kExactHead}, 64, 3);
  plan.exact_cost = 0;
  EXPECT_FALSE(ChoosePlan(plan).ok());  // Exact needs the context.
  plan = RandomPlan(1, 2, {16, 64}, 64, 3);
  plan.errors[0][1].pop_back();
  EXPECT_FALSE(ChoosePlan(plan).ok());  // Ragged errors.
  EXPECT_FALSE(ParseWindowList("16,-3").ok());
  EXPECT_FALSE(ParseWindowList("16,,32").ok());
  EXPECT_EQ(ParseWindowList("0,16,exact,16").value(), (std::vector<int64_t>{0, 16, kExactHead}));
}

TEST(HybridPlan, TravelsInTheStatisticsFile) {
  Calibration c;
  c.head_dim = 2;
  c.tokens = 7;
  PairStatistics s(2);
  const float x[2] = {0.5f, -1.0f};
  s.AddQuery(x);
  s.AddKey(x);
  c.layers = {{s, s}, {s, s}};
  const std::string path = ::testing::TempDir() + "/plan-" + std::to_string(getpid()) + ".stats";
  ASSERT_TRUE(SaveCalibration(c, path).ok());
  EXPECT_FALSE(LoadCalibration(path).value().plan.has_value());
  const auto statistics_bytes = static_cast<size_t>(std::filesystem::file_size(path)) - 4;

  HybridPlan plan = RandomPlan(2, 2, {0, 16, kExactHead}, 64, 5);
  plan.candidates.push_back({16, 0});  // Window-only.
  for (auto& layer : plan.errors) {
    for (auto& head : layer) head.push_back(head[1] * 1.5);
  }
  plan.head_dim = 2;
  plan.sinks = 3;
  plan.kind = RfKind::kSderf;
  plan.features = 128;
  plan.tokens = 300;
  ASSERT_TRUE(ChoosePlan(plan).ok());
  c.plan = plan;
  ASSERT_TRUE(SaveCalibration(c, path).ok());
  {  // Not measured end to end: no such line.
    const Calibration loaded = LoadCalibration(path).value();
    EXPECT_LT(loaded.plan->calibration_kl, 0);
    EXPECT_EQ(DescribePlan(*loaded.plan).find("end to end"), std::string::npos);
  }
  {  // A version-3 file: the same bytes without the end-to-end KL (after the head dimension).
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t kl_at = statistics_bytes + 4 + 8 + 4 + 8 + 8 + 8 + 8 + 8;
    bytes.erase(kl_at, 8);
    bytes[4] = 3;
    std::ofstream(path, std::ios::binary) << bytes;
    const auto version3 = LoadCalibration(path);
    ASSERT_TRUE(version3.ok()) << version3.status();
    EXPECT_EQ(version3->plan->choices, plan.choices);
    EXPECT_EQ(version3->plan->errors, plan.errors);
    EXPECT_LT(version3->plan->calibration_kl, 0);
  }
  c.plan->calibration_kl = std::nan("");
  ASSERT_TRUE(SaveCalibration(c, path).ok());
  EXPECT_FALSE(LoadCalibration(path).ok()) << "a NaN end-to-end KL is refused";
  c.plan->calibration_kl = plan.calibration_kl = 0.4375;
  ASSERT_TRUE(SaveCalibration(c, path).ok());
  const Calibration loaded = LoadCalibration(path).value();
  ASSERT_TRUE(loaded.plan.has_value());
  EXPECT_EQ(loaded.plan->calibration_kl, 0.4375);
  EXPECT_NE(DescribePlan(*loaded.plan).find("calibration text is 0.4375"), std::string::npos);
  EXPECT_EQ(loaded.plan->choices, plan.choices);
  EXPECT_EQ(loaded.plan->head_dim, plan.head_dim);
  EXPECT_EQ(loaded.plan->errors, plan.errors);
  EXPECT_EQ(loaded.plan->candidates, plan.candidates);
  EXPECT_EQ(loaded.plan->kind, RfKind::kSderf);
  EXPECT_EQ(loaded.plan->sinks, 3);
  EXPECT_EQ(loaded.plan->features, 128);
  EXPECT_EQ(loaded.plan->tokens, 300);
  EXPECT_EQ(loaded.plan->budget, 64);
  EXPECT_NE(DescribePlan(*loaded.plan).find("sderf tails"), std::string::npos);

  // Truncated anywhere in the plan, or with a window that is not a candidate: refused.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {bytes.size() - 1, bytes.size() - 40, bytes.size() - 100}) {
    std::ofstream(path, std::ios::binary) << bytes.substr(0, cut);
    EXPECT_FALSE(LoadCalibration(path).ok()) << cut;
  }
  std::string wrong = bytes;
  // The last head's window (before its M and 4 errors): 7 is not a candidate.
  wrong[wrong.size() - 8 * (2 + 4)] = 7;
  std::ofstream(path, std::ios::binary) << wrong;
  const auto refused = LoadCalibration(path);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not a candidate"), std::string::npos);
  std::remove(path.c_str());
}

// A version-2 file (written before per-head tails and state costs; built here byte by byte, as
// that writer no longer exists): its candidates are windows, each windowed head runs the plan's
// one tail size, and its costs stay in window tokens (head_dim 0).
TEST(HybridPlan, AVersion2PlanStillLoads) {
  Calibration c;
  c.head_dim = 2;
  c.tokens = 7;
  PairStatistics s(2);
  const float x[2] = {0.25f, 2.0f};
  s.AddQuery(x);
  s.AddKey(x);
  c.layers = {{s, s}, {s, s}};
  const std::string path = ::testing::TempDir() + "/v2-" + std::to_string(getpid()) + ".stats";
  ASSERT_TRUE(SaveCalibration(c, path).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The statistics as version 3 writes them, less the trailing "no plan" flag.
  ASSERT_EQ(bytes.substr(bytes.size() - 4), std::string(4, '\0'));
  bytes.resize(bytes.size() - 4);
  bytes[4] = 2;  // The version, after the magic.
  auto put = [&](auto value) {
    bytes.append(reinterpret_cast<const char*>(&value), sizeof(value));
  };
  put(uint32_t{1});  // A plan follows.
  put(int64_t{4});   // Sinks.
  put(static_cast<int32_t>(RfKind::kSaderf));
  put(int64_t{128});  // The plan's tail size.
  put(int64_t{300});  // Measured positions.
  put(int64_t{512});  // A fully exact head's cost.
  put(48.0);          // Budget, in window tokens.
  const std::vector<int64_t> windows = {16, 64, kExactHead};
  put(static_cast<int64_t>(windows.size()));
  for (int64_t w : windows) put(w);
  put(int64_t{2});  // Layers.
  put(int64_t{2});  // Heads.
  const int64_t chosen[2][2] = {{16, 64}, {kExactHead, 16}};
  for (int l = 0; l < 2; ++l) {
    for (int h = 0; h < 2; ++h) {
      put(chosen[l][h]);
      for (int k = 0; k < 3; ++k) put(0.1 * (l + 1) + 0.01 * h + 0.001 * k);
    }
  }
  std::ofstream(path, std::ios::binary) << bytes;

  const auto loaded = LoadCalibration(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->plan.has_value());
  const HybridPlan& plan = *loaded->plan;
  EXPECT_EQ(plan.head_dim, 0);
  EXPECT_EQ(plan.features, 128);
  EXPECT_EQ(plan.candidates, (std::vector<PlanCandidate>{{16, 128}, {64, 128}, {kExactHead, 0}}));
  EXPECT_EQ(plan.Windows(0), (std::vector<int64_t>{16, 64}));
  EXPECT_EQ(plan.Features(0), (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(plan.Windows(1), (std::vector<int64_t>{kExactHead, 16}));
  EXPECT_EQ(plan.Features(1), (std::vector<int64_t>{0, 128}));
  EXPECT_DOUBLE_EQ(plan.errors[1][1][2], 0.212);
  EXPECT_DOUBLE_EQ(plan.Cost({64, 128}), 64.0);  // Window tokens, as the plan was chosen.
  EXPECT_DOUBLE_EQ(plan.budget, 48.0);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace favor::rf
