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
  // A per-head plan (rf/hybrid_plan.h): [layer][kv head] windows overriding `window`.
  std::vector<std::vector<int64_t>> head_windows;
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

// The attention inputs (unscaled queries, keys, values) of the first positions of a sequence, per
// layer: what `favor calibrate --plan` measures hybrid attention's error on.
struct AttentionCapture {
  struct Layer {
    int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
    int64_t tokens = 0;
    std::vector<float> q, k, v;  // tokens x heads x head_dim
  };
  int64_t max_tokens = 0;
  std::vector<Layer> layers;
  int64_t tokens() const { return layers.empty() ? 0 : layers[0].tokens; }
};

// Replaces every exact attention node by one that also accumulates statistics into `sink`
// (resized to the layers and key/value heads of the graph) and, given a `capture`, keeps the
// inputs of the first capture->max_tokens positions of the first sequence run (runs that do not
// continue it are not kept). Single-threaded use only: the sinks are shared by the wrapped ops.
absl::Status TapAttentionStatistics(Graph& graph, std::shared_ptr<rf::Calibration> sink,
                                    std::shared_ptr<AttentionCapture> capture = nullptr);

}  // namespace favor
