// The end-to-end plan refinement (runtime/plan_refinement.h) on objectives whose optimum is known
// by enumerating every plan: it must reach that optimum when the per-head errors mislead, never
// return a plan worse than the per-head one or the best uniform one, and stay within the budget.
#include "engine/runtime/plan_refinement.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

namespace favor::runtime {
namespace {

// Three layers of two heads; window-only candidates of state (S + W)(2 d + 1) floats, d = 8.
rf::HybridPlan PlanFromErrors(const std::vector<std::vector<std::vector<double>>>& errors,
                              double budget) {
  rf::HybridPlan plan;
  plan.sinks = 0;
  plan.head_dim = 8;
  plan.candidates = {{4, 0}, {8, 0}, {16, 0}, {32, 0}};
  plan.budget = budget;
  plan.errors = errors;
  EXPECT_TRUE(rf::ChoosePlan(plan).ok());
  return plan;
}

using Score = std::function<double(const std::vector<std::vector<rf::PlanCandidate>>&)>;

// The least score over every plan within the budget.
double BestByEnumeration(const rf::HybridPlan& plan, const Score& score) {
  const size_t layers = plan.errors.size(), heads = plan.errors[0].size();
  const size_t n = layers * heads, k = plan.candidates.size();
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> pick(n, 0);
  while (true) {
    std::vector<std::vector<rf::PlanCandidate>> choices(layers,
                                                        std::vector<rf::PlanCandidate>(heads));
    double cost = 0;
    for (size_t i = 0; i < n; ++i) {
      choices[i / heads][i % heads] = plan.candidates[pick[i]];
      cost += plan.Cost(plan.candidates[pick[i]]);
    }
    if (cost <= plan.budget * static_cast<double>(n) * (1 + 1e-12)) {
      best = std::min(best, score(choices));
    }
    size_t i = 0;
    while (i < n && ++pick[i] == k) pick[i++] = 0;
    if (i == n) return best;
  }
}

// RefinePlan with `score` of the choices as its objective.
absl::StatusOr<PlanRefinement> Refine(rf::HybridPlan& plan, const Score& score) {
  return RefinePlan(
      plan, [&](const rf::HybridPlan& p) -> absl::StatusOr<double> { return score(p.choices); });
}

size_t IndexOf(const rf::HybridPlan& plan, const rf::PlanCandidate& c) {
  return static_cast<size_t>(std::find(plan.candidates.begin(), plan.candidates.end(), c) -
                             plan.candidates.begin());
}

std::vector<std::vector<std::vector<double>>> RandomErrors(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::vector<std::vector<double>>> errors(3, std::vector<std::vector<double>>(2));
  for (auto& layer : errors) {
    for (auto& head : layer) {
      double e = 1.0;  // Falling with the window, like measured errors.
      for (int c = 0; c < 4; ++c) head.push_back(e *= 0.3 + 0.6 * u(rng));
    }
  }
  return errors;
}

TEST(PlanRefinement, ReachesTheOptimumWhenHeadsMatterUnequally) {
  // The model's score weighs each head by how much it matters downstream; the per-head errors
  // weigh them alike, so the per-head plan spends memory on heads that do not matter.
  std::mt19937 rng(7);
  int misled = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const auto errors = RandomErrors(rng);
    rf::HybridPlan plan = PlanFromErrors(errors, 18.0);
    std::vector<double> weight = {8.0, 0.1, 1.0, 0.05, 3.0, 0.5};
    std::shuffle(weight.begin(), weight.end(), rng);
    const Score score = [&](const std::vector<std::vector<rf::PlanCandidate>>& choices) {
      double total = 0;
      for (size_t l = 0; l < 3; ++l) {
        for (size_t h = 0; h < 2; ++h) {
          total += weight[l * 2 + h] * errors[l][h][IndexOf(plan, choices[l][h])];
        }
      }
      return total;
    };
    const double optimum = BestByEnumeration(plan, score);
    auto refined = Refine(plan, score);
    ASSERT_TRUE(refined.ok()) << refined.status();
    EXPECT_NEAR(plan.calibration_kl, optimum, 1e-12) << "trial " << trial;
    EXPECT_NEAR(score(plan.choices), plan.calibration_kl, 1e-12);
    EXPECT_LE(plan.MeanCost(), plan.budget + 1e-9);
    EXPECT_EQ(plan.errors, errors) << "the per-head measure is kept";
    EXPECT_LE(plan.calibration_kl, refined->per_head_score);
    EXPECT_LE(plan.calibration_kl, refined->uniform_score);
    misled += refined->per_head_score > optimum * (1 + 1e-9);
  }
  EXPECT_GE(misled, 10) << "of 20 trials, the per-head plan was not the optimum";
}

TEST(PlanRefinement, NeverWorseThanThePerHeadOrTheBestUniformPlanWhenHeadsInteract) {
  // Errors compound: a layer's error is amplified by the layers before it, so the score is not a
  // sum over heads and one linearised round is not enough.
  std::mt19937 rng(11);
  int reached = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const auto errors = RandomErrors(rng);
    rf::HybridPlan plan = PlanFromErrors(errors, 14.0);
    const Score score = [&](const std::vector<std::vector<rf::PlanCandidate>>& choices) {
      double carried = 0;
      for (size_t l = 0; l < 3; ++l) {
        double layer = 0;
        for (size_t h = 0; h < 2; ++h) layer += errors[l][h][IndexOf(plan, choices[l][h])];
        carried = layer + carried * (1 + 4 * layer);
      }
      return carried;
    };
    const double optimum = BestByEnumeration(plan, score);
    const double per_head = score(plan.choices);
    auto refined = Refine(plan, score);
    ASSERT_TRUE(refined.ok()) << refined.status();
    EXPECT_NEAR(refined->per_head_score, per_head, 1e-12);
    EXPECT_LE(plan.calibration_kl, per_head);
    EXPECT_LE(plan.calibration_kl, refined->uniform_score);
    EXPECT_GE(plan.calibration_kl, optimum - 1e-12);
    EXPECT_LE(plan.MeanCost(), plan.budget + 1e-9);
    reached += plan.calibration_kl <= optimum * (1 + 1e-9);
  }
  EXPECT_GE(reached, 15) << "of 20 trials, the refinement found the enumerated optimum";
}

TEST(PlanRefinement, PassesOnTheObjectivesErrorsAndRefusesPlansWithoutErrors) {
  std::mt19937 rng(3);
  rf::HybridPlan plan = PlanFromErrors(RandomErrors(rng), 18.0);
  const auto failed = RefinePlan(plan, [](const rf::HybridPlan&) -> absl::StatusOr<double> {
    return absl::ResourceExhaustedError("out of memory");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "out of memory");
  const auto non_finite = RefinePlan(
      plan, [](const rf::HybridPlan&) -> absl::StatusOr<double> { return std::nan(""); });
  ASSERT_FALSE(non_finite.ok());
  rf::HybridPlan empty;
  EXPECT_FALSE(
      RefinePlan(empty, [](const rf::HybridPlan&) -> absl::StatusOr<double> { return 0.0; }).ok());
}

}  // namespace
}  // namespace favor::runtime
