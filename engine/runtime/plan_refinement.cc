#include "engine/runtime/plan_refinement.h"

#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::runtime {
namespace {

using Choices = std::vector<std::vector<rf::PlanCandidate>>;

// Scores choices end to end on a working copy of the plan (the knapsack rewrites its errors).
class Scorer {
 public:
  Scorer(const rf::HybridPlan& plan, const PlanObjective& objective)
      : work_(plan), objective_(objective) {}

  absl::StatusOr<double> Score(const Choices& choices) {
    work_.choices = choices;
    ++evaluations_;
    FAVOR_ASSIGN_OR_RETURN(const double score, objective_(work_));
    if (!std::isfinite(score)) {
      return absl::InternalError(absl::StrCat("a plan scored ", score, " end to end"));
    }
    return score;
  }
  // Whether choices keep the mean state per head within the budget (without the knapsack's
  // rounding of costs).
  bool Fits(const Choices& choices) {
    work_.choices = choices;
    return work_.MeanCost() <= work_.budget * (1 + 1e-12);
  }
  // The knapsack's plan for `errors` (single-head changes of score), or none when its rounding of
  // costs leaves no plan.
  std::optional<Choices> Knapsack(std::vector<std::vector<std::vector<double>>> errors) {
    work_.errors = std::move(errors);
    if (!rf::ChoosePlan(work_).ok()) return std::nullopt;
    return work_.choices;
  }
  int64_t evaluations() const { return evaluations_; }

 private:
  rf::HybridPlan work_;
  const PlanObjective& objective_;
  int64_t evaluations_ = 0;
};

}  // namespace

absl::StatusOr<PlanRefinement> RefinePlan(rf::HybridPlan& plan, const PlanObjective& objective,
                                          const PlanRefinementOptions& options) {
  if (plan.choices.empty() || plan.errors.size() != plan.choices.size()) {
    return absl::InvalidArgumentError("refining a plan needs one chosen from per-head errors");
  }
  Scorer scorer(plan, objective);
  PlanRefinement report;

  Choices best = plan.choices;
  FAVOR_ASSIGN_OR_RETURN(double best_score, scorer.Score(best));
  report.per_head_score = best_score;
  report.uniform_score = std::numeric_limits<double>::infinity();
  for (const rf::PlanCandidate& candidate : plan.candidates) {
    Choices uniform(best.size(), std::vector<rf::PlanCandidate>(best[0].size(), candidate));
    if (!scorer.Fits(uniform)) continue;
    FAVOR_ASSIGN_OR_RETURN(const double score, scorer.Score(uniform));
    if (score < report.uniform_score) {
      report.uniform_score = score;
      report.uniform = candidate;
    }
    if (score < best_score) {
      best_score = score;
      best = std::move(uniform);
    }
  }

  const size_t candidates = plan.candidates.size();
  for (int round = 0; round < options.max_rounds; ++round) {
    // The change in score of every single-head move from `best`.
    std::vector<std::vector<std::vector<double>>> change(
        best.size(),
        std::vector<std::vector<double>>(best[0].size(), std::vector<double>(candidates, 0.0)));
    double best_move = 0;
    Choices best_move_choices;
    for (size_t l = 0; l < best.size(); ++l) {
      for (size_t h = 0; h < best[l].size(); ++h) {
        for (size_t c = 0; c < candidates; ++c) {
          if (plan.candidates[c] == best[l][h]) continue;
          Choices moved = best;
          moved[l][h] = plan.candidates[c];
          FAVOR_ASSIGN_OR_RETURN(const double score, scorer.Score(moved));
          change[l][h][c] = score - best_score;
          if (change[l][h][c] < best_move && scorer.Fits(moved)) {
            best_move = change[l][h][c];
            best_move_choices = std::move(moved);
          }
        }
      }
    }
    // The linearised plan if it beats the best single move, else that move, else stop.
    double score = best_score;
    const std::optional<Choices> linearised = scorer.Knapsack(std::move(change));
    if (linearised.has_value()) {
      FAVOR_ASSIGN_OR_RETURN(score, scorer.Score(*linearised));
    }
    if (score < best_score && score <= best_score + best_move) {
      best_score = score;
      best = *linearised;
    } else if (best_move < 0) {
      best_score += best_move;
      best = std::move(best_move_choices);
    } else {
      break;
    }
    report.round_scores.push_back(best_score);
  }
  plan.choices = std::move(best);
  plan.calibration_kl = best_score;
  report.evaluations = scorer.evaluations();
  return report;
}

absl::StatusOr<ModelPlanObjective> ModelPlanObjective::Create(const Model& model,
                                                              std::vector<int32_t> tokens,
                                                              const rf::Calibration& statistics,
                                                              uint64_t seed,
                                                              const SessionOptions& session) {
  if (tokens.size() < 2) {
    return absl::InvalidArgumentError("scoring a plan needs at least two tokens");
  }
  ModelPlanObjective objective;
  objective.model_ = &model;
  objective.tokens_ = std::move(tokens);
  objective.statistics_ = statistics;
  objective.statistics_.plan.reset();
  objective.seed_ = seed;
  objective.session_ = session;
  FAVOR_ASSIGN_OR_RETURN(const auto exact, model.Variant({}, Logits::kAllPositions));
  FAVOR_ASSIGN_OR_RETURN(auto exact_session, Session::Create(exact, session));
  FAVOR_ASSIGN_OR_RETURN(auto distributions, ScoreTokens(*exact_session, objective.tokens_));
  objective.exact_ = std::make_shared<const NextTokenDistributions>(std::move(distributions));
  return objective;
}

absl::StatusOr<double> ModelPlanObjective::operator()(const rf::HybridPlan& plan) const {
  auto with_plan = std::make_shared<rf::Calibration>(statistics_);
  with_plan->plan = plan;
  AttentionSpec spec;
  spec.kind = AttentionKind::kHybrid;
  spec.plan = PlanSource::kCalibrated;
  spec.statistics = StatisticsSource::kCalibrated;
  spec.seed = seed_;
  FAVOR_ASSIGN_OR_RETURN(const auto variant,
                         model_->Variant(spec, Logits::kAllPositions, std::move(with_plan)));
  FAVOR_ASSIGN_OR_RETURN(auto session, Session::Create(variant, session_));
  FAVOR_ASSIGN_OR_RETURN(const auto scored, ScoreTokens(*session, tokens_));
  FAVOR_ASSIGN_OR_RETURN(const auto compared, CompareDistributions(*exact_, scored));
  return compared.mean_kl;
}

}  // namespace favor::runtime
