// The attention graph pass, applied to a built model graph (the model builder never knows):
// SwapAttention replaces exact attention by random-feature or hybrid attention in all layers or
// chosen ones; the session state follows the ops (KV cache for exact layers, S/z state for the
// others). Layers are numbered by the order of the attention nodes in the graph.
//
// Layers with a sliding window of their own (Mistral, Phi-3, Gemma 2's local layers) keep it,
// exact, as a window-only op (a ring buffer: constant memory too); they do not count as swapped.
// Layers with soft-capped scores (Gemma 2) are refused: random features cannot apply the cap.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/ops/favor_attention.h"
#include "engine/rf/calibration.h"
#include "favor/attention.hpp"

namespace favor {

// Hybrid attention (engine/ops/hybrid_attention.h): exact sinks and window, random-feature tail.
struct HybridWindow {
  int64_t window = kDefaultWindow;
  int64_t sinks = kDefaultSinks;
  bool random_feature_tail = true;  // False: the window-only baseline.
  // A per-head plan (rf/hybrid_plan.h): [layer][kv head] windows overriding `window`, and the
  // tails' M overriding the features' (0: window-only; empty: every head the features').
  std::vector<std::vector<int64_t>> head_windows;
  std::vector<std::vector<int64_t>> head_features;
};

struct AttentionSwapOptions {
  rf::FeatureOptions features;
  std::optional<HybridWindow> hybrid;  // Set: HybridAttention instead of FavorAttention.
  int64_t chunk = kDefaultChunk;
  FavorStatsSource source = FavorStatsSource::kPrompt;
  std::vector<int64_t> layers;                         // Empty: every layer.
  std::shared_ptr<const rf::Calibration> calibration;  // For kCalibrated.
};

// Returns how many attention nodes were replaced.
absl::StatusOr<int> SwapAttention(Graph& graph, const AttentionSwapOptions& options);

}  // namespace favor
