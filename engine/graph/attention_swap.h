// Graph passes around attention, applied to a built model graph (the model builder never knows):
// - SwapAttention replaces exact attention by random-feature attention in all layers or chosen
//   ones; the session state follows the ops (KV cache for exact layers, S/z state for the others).
// - TapAttentionStatistics wraps exact attention so that running the graph on calibration text
//   gathers the per-layer, per-head query/key statistics that `favor calibrate` saves.
// Layers are numbered by the order of the attention nodes in the graph.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/ops/favor_attention.h"
#include "engine/rf/calibration.h"

namespace favor {

// Hybrid attention (engine/ops/hybrid_attention.h): exact sinks and window, random-feature tail.
struct HybridWindow {
  int64_t window = 64;
  int64_t sinks = 4;
  bool random_feature_tail = true;  // False: the window-only baseline.
};

struct AttentionSwapOptions {
  rf::FeatureOptions features;
  std::optional<HybridWindow> hybrid;  // Set: HybridAttention instead of FavorAttention.
  int64_t chunk = 64;
  FavorStatsSource source = FavorStatsSource::kPrompt;
  std::vector<int64_t> layers;                         // Empty: every layer.
  std::shared_ptr<const rf::Calibration> calibration;  // For kCalibrated.
};

// Whether an op type computes attention (exact, random-feature, hybrid, or exact with the
// statistics tap): what profiling and attention-output taps look for.
bool IsAttentionType(absl::string_view type);

// Returns how many attention nodes were replaced.
absl::StatusOr<int> SwapAttention(Graph& graph, const AttentionSwapOptions& options);

// Replaces every exact attention node by one that also accumulates statistics into `sink`
// (resized to the layers and key/value heads of the graph). Single-threaded use only: the sink is
// shared by the wrapped ops.
absl::Status TapAttentionStatistics(Graph& graph, std::shared_ptr<rf::Calibration> sink);

}  // namespace favor
