// Chooses a hybrid plan against the whole model instead of head by head.
//
// The per-head measure (runtime/hybrid_planner.h) scores each head alone, on exact inputs, by its
// own relative output error. It cannot see that heads matter unequally to the next-token
// distribution, nor how errors compound through the layers when every head is starved, and at
// tight budgets its plan can lose to a uniform window of the same memory. End to end, a plan's
// score is the model's mean KL against exact attention on the calibration text.
//
// The refinement starts from the better, end to end, of the per-head plan and the best uniform
// candidate within the budget, so it is never worse on its calibration text than any uniform
// setting among the candidates. Each round then measures, for every head and candidate, the KL
// with that one head changed and the rest of the plan as it stands, and solves the knapsack
// (rf::ChoosePlan) with those changes as the errors: a linearisation around the current plan.
// It keeps the new plan if it scores lower; if not, it takes the best single-head change that
// fits the budget and lowers the score; otherwise it stops.
//
// Cost: per round, heads x (candidates - 1) forward passes over the calibration tokens; cheap for
// small models, hours for billion-parameter ones (the per-head measure needs one pass per layer).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/rf/calibration.h"
#include "engine/rf/hybrid_plan.h"
#include "engine/runtime/model.h"
#include "engine/runtime/scoring.h"
#include "engine/runtime/session.h"

namespace favor::runtime {

// A plan's end-to-end score: lower is better (the model's mean KL against exact).
using PlanObjective = std::function<absl::StatusOr<double>(const rf::HybridPlan&)>;

struct PlanRefinementOptions {
  int max_rounds = 6;
};

struct PlanRefinement {
  double per_head_score = 0;         // The per-head plan's.
  double uniform_score = 0;          // The best uniform candidate's within the budget (inf: none).
  rf::PlanCandidate uniform;         // That candidate.
  std::vector<double> round_scores;  // The plan kept after each round.
  int64_t evaluations = 0;           // Objective calls.
};

// Refines plan.choices (a plan chosen by rf::ChoosePlan from per-head errors) in place and sets
// plan.calibration_kl to the final score; plan.errors keep the per-head measure.
absl::StatusOr<PlanRefinement> RefinePlan(rf::HybridPlan& plan, const PlanObjective& objective,
                                          const PlanRefinementOptions& options = {});

// The objective on a model: the mean KL of the next-token distributions against exact attention
// over `tokens` (BOS first, as a prompt), with the plan's windows and tails, `statistics`, and
// the projections of `seed`.
class ModelPlanObjective {
 public:
  static absl::StatusOr<ModelPlanObjective> Create(const Model& model, std::vector<int32_t> tokens,
                                                   const rf::Calibration& statistics, uint64_t seed,
                                                   const SessionOptions& session);
  absl::StatusOr<double> operator()(const rf::HybridPlan& plan) const;

 private:
  const Model* model_ = nullptr;
  std::vector<int32_t> tokens_;
  rf::Calibration statistics_;
  uint64_t seed_ = 0;
  SessionOptions session_;
  std::shared_ptr<const NextTokenDistributions> exact_;
};

}  // namespace favor::runtime
