// A per-head plan for hybrid attention (engine/ops/hybrid_attention.h), chosen from calibration:
// `favor calibrate --plan` measures, per layer and key/value head, the error of hybrid attention
// against exact attention on the calibration text for each candidate window, then picks per head
// the window (or "fully exact") that minimises the summed error with the mean window per head
// within a budget. The plan travels inside the statistics file (rf/calibration.h), `favor
// inspect` prints it and `--favor-plan FILE` runs it.
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

struct HybridPlan {
  // What the errors were measured with.
  int64_t sinks = kDefaultSinks;
  RfKind kind = RfKind::kSaderf;
  int64_t features = 256;
  int64_t tokens = 0;  // Positions of the measured sequence.
  // How the plan was chosen: candidate windows (kExactHead allowed), the cost of a fully exact
  // head in tokens (the model's context), and the budget (mean cost per head).
  std::vector<int64_t> candidates;
  int64_t exact_cost = 0;
  double budget = 64;
  std::vector<std::vector<std::vector<double>>> errors;  // [layer][kv head][candidate]
  std::vector<std::vector<int64_t>> windows;             // [layer][kv head]: the choice

  int64_t layers() const { return static_cast<int64_t>(windows.size()); }
  int64_t heads() const { return windows.empty() ? 0 : static_cast<int64_t>(windows[0].size()); }
  int64_t Cost(int64_t window) const { return window == kExactHead ? exact_cost : window; }
  // The measured error of the chosen window of one head, and summed over all heads.
  double ChosenError(int64_t layer, int64_t head) const;
  double TotalError() const;
  double MeanCost() const;
};

// Multiple-choice knapsack by dynamic programming over the budget: per head one candidate, the
// summed cost at most budget x heads, the summed error minimal (ties: the cheaper plan). Fills
// plan.windows from plan.errors, plan.candidates, plan.exact_cost and plan.budget.
absl::Status ChooseWindows(HybridPlan& plan);

// "16,32,64,exact" -> {16, 32, 64, kExactHead}.
absl::StatusOr<std::vector<int64_t>> ParseWindowList(const std::string& text);
std::string WindowName(int64_t window);  // "64" or "exact"

// A table of the plan: per layer, each head's window and measured error, and the totals.
std::string DescribePlan(const HybridPlan& plan);

}  // namespace favor::rf
