// A per-head plan for hybrid attention (engine/ops/hybrid_attention.h), chosen from calibration:
// `favor calibrate --plan` measures, per layer and key/value head, the error of each candidate
// against exact attention on the calibration text: window-only windows, hybrid (window, M) pairs
// and fully exact. It then picks per head the candidate that minimises the summed error with the
// mean state per head within a budget: a multiple-choice knapsack whose costs are the state each
// candidate keeps, in tokens of KV cache. The plan travels inside the statistics file
// (rf/calibration.h), `favor inspect` prints it and `--favor-plan FILE` runs it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/rf/positive.h"
#include "favor/attention.hpp"

namespace favor::rf {

// A window that keeps its head fully exact (every token in the window: a KV cache).
inline constexpr int64_t kExactHead = -1;

struct PlanCandidate {
  int64_t window = 0;    // kExactHead: the whole context.
  int64_t features = 0;  // M of the random-feature tail; 0: none (window-only).
  friend bool operator==(const PlanCandidate&, const PlanCandidate&) = default;
};

struct HybridPlan {
  // What the errors were measured with.
  int64_t sinks = kDefaultSinks;
  RfKind kind = RfKind::kSaderf;
  int64_t features = 256;  // The tail's M of plans from before per-head tails.
  int64_t tokens = 0;      // Positions of the measured sequence.
  // The head dimension the costs are counted with; 0: a plan from before state costs, whose
  // costs and budget are in window tokens.
  int64_t head_dim = 0;
  // How the plan was chosen: the candidates, the cost of a fully exact head's window in tokens
  // (the model's context), and the budget (mean cost per head).
  std::vector<PlanCandidate> candidates;
  int64_t exact_cost = 0;
  double budget = 64;
  // End to end: the model's mean KL against exact attention on the calibration text with these
  // choices (runtime/plan_refinement.h); negative when the plan was not measured so.
  double calibration_kl = -1;
  std::vector<std::vector<std::vector<double>>> errors;  // [layer][kv head][candidate]
  std::vector<std::vector<PlanCandidate>> choices;       // [layer][kv head]

  int64_t layers() const { return static_cast<int64_t>(choices.size()); }
  int64_t heads() const { return choices.empty() ? 0 : static_cast<int64_t>(choices[0].size()); }
  // A candidate's state per head in floats (sinks, window rows of keys, values and scores, and
  // the tail's M x (d + 2)), or its window tokens in a plan without head_dim.
  int64_t CostUnits(const PlanCandidate& candidate) const;
  // The same in tokens of KV cache (2 d floats).
  double Cost(const PlanCandidate& candidate) const;
  // The longest window-only window whose cost fits the budget (0: none does).
  int64_t LongestWindowWithinBudget() const;
  // One layer's windows and tail sizes, per key/value head, as HybridAttentionOptions take them.
  std::vector<int64_t> Windows(int64_t layer) const;
  std::vector<int64_t> Features(int64_t layer) const;
  // The measured error of the chosen candidate of one head, and summed over all heads.
  double ChosenError(int64_t layer, int64_t head) const;
  double TotalError() const;
  double MeanCost() const;
};

// Multiple-choice knapsack by dynamic programming over the budget: per head one candidate, the
// summed cost at most budget x heads, the summed error minimal (ties: the cheaper plan). Fills
// plan.choices from plan.errors, plan.candidates, plan.exact_cost and plan.budget. Costs are
// rounded up to a common unit fine enough for the table to stay small, so the plan never
// exceeds the budget.
absl::Status ChoosePlan(HybridPlan& plan);

// "16,32,64,exact" -> {16, 32, 64, kExactHead}.
absl::StatusOr<std::vector<int64_t>> ParseWindowList(const std::string& text);
std::string WindowName(int64_t window);           // "64" or "exact"
std::string CandidateName(const PlanCandidate&);  // "64+M16", "64" (window-only) or "exact"

// A table of the plan: per layer, each head's choice and measured error, and the totals.
std::string DescribePlan(const HybridPlan& plan);

}  // namespace favor::rf
