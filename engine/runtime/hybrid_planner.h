// Measures, per layer and key/value head, how far hybrid attention with each candidate window is
// from exact attention on captured calibration inputs, and chooses a per-head plan under a budget
// (rf/hybrid_plan.h). The error of a head is the relative squared error of its attention output,
// sum_t |o_t - o*_t|^2 / sum_t |o*_t|^2 over the captured positions and the query heads that
// share the key/value head: what the head's random-feature tail gets wrong, where it matters.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/attention_statistics.h"
#include "engine/rf/calibration.h"
#include "engine/rf/head_features.h"
#include "engine/rf/hybrid_plan.h"

namespace favor::runtime {

struct HybridPlanOptions {
  rf::FeatureOptions features;  // The tails measured (their kind; each candidate has its M).
  int64_t sinks = 4;
  // Besides these, the longest window-only window whose state fits the budget (the uniform
  // baseline a plan must beat) is always measured.
  std::vector<rf::PlanCandidate> candidates = {
      {0, 256}, {16, 0},   {16, 256}, {32, 0},    {32, 256},
      {64, 0},  {64, 256}, {128, 0},  {128, 256}, {rf::kExactHead, 0}};
  double budget = 64;   // Mean state per head, in tokens of KV cache (exact head = context).
  int64_t context = 0;  // The cost of a fully exact head.
  int64_t chunk = 64;
  int threads = 0;
};

absl::StatusOr<rf::HybridPlan> PlanHybridAttention(const AttentionCapture& capture,
                                                   const rf::Calibration& calibration,
                                                   const HybridPlanOptions& options);

}  // namespace favor::runtime
