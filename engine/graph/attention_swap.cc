#include "engine/graph/attention_swap.h"

#include "engine/ops/hybrid_attention.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/graph/pass.h"
#include "engine/ops/attention.h"

namespace favor {
absl::StatusOr<int> SwapAttention(Graph& graph, const AttentionSwapOptions& options) {
  const std::vector<NodeId> attention = graph.FindNodesOfType("Attention");
  const auto layer_count = static_cast<int64_t>(attention.size());
  for (int64_t layer : options.layers) {
    if (layer < 0 || layer >= layer_count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layer ", layer, " does not exist (the model has ", layer_count, " layers)"));
    }
  }
  if (options.source == FavorStatsSource::kCalibrated) {
    if (options.calibration == nullptr) {
      return absl::InvalidArgumentError("calibrated statistics requested but none were given");
    }
    if (static_cast<int64_t>(options.calibration->layers.size()) != layer_count) {
      return absl::InvalidArgumentError(absl::StrCat("the calibration has ",
                                                     options.calibration->layers.size(),
                                                     " layers, the model ", layer_count));
    }
  }
  if (options.hybrid.has_value() &&
      ((!options.hybrid->head_windows.empty() &&
        static_cast<int64_t>(options.hybrid->head_windows.size()) != layer_count) ||
       (!options.hybrid->head_features.empty() &&
        static_cast<int64_t>(options.hybrid->head_features.size()) != layer_count))) {
    return absl::InvalidArgumentError(absl::StrCat("the hybrid plan has ",
                                                   options.hybrid->head_windows.size(),
                                                   " layers, the model ", layer_count));
  }
  int swapped = 0;
  for (int64_t layer = 0; layer < layer_count; ++layer) {
    if (!options.layers.empty() &&
        std::find(options.layers.begin(), options.layers.end(), layer) == options.layers.end()) {
      continue;
    }
    const NodeId id = attention[static_cast<size_t>(layer)];
    const auto* exact = dynamic_cast<const AttentionOp*>(graph.node(id).op.get());
    if (exact == nullptr) return absl::InternalError("Attention node without an AttentionOp");
    if (exact->traits().soft_cap > 0.0f) {
      return absl::UnimplementedError(absl::StrCat(
          "layer ", layer, " soft-caps its attention scores (cap ", exact->traits().soft_cap,
          ", as Gemma 2 does), which random-feature and window attention cannot apply: this "
          "model runs with exact attention only"));
    }
    if (exact->traits().window > 0) {
      // The model's own sliding window (Mistral, Phi-3, Gemma 2's local layers) is already
      // constant memory: the layer keeps it, exact, as a ring buffer of the last W keys (the
      // window-only op), and attends to nothing the model was not trained to see.
      HybridAttentionOptions h;
      h.heads = exact->heads();
      h.layer = layer;
      h.window = exact->traits().window;
      h.sinks = 0;
      h.random_feature_tail = false;
      h.chunk = options.chunk;
      auto window = HybridAttentionOp::Create(std::move(h));
      if (!window.ok()) return WithContext(window.status(), absl::StrCat("layer ", layer));
      FAVOR_RETURN_IF_ERROR(graph.ReplaceOp(id, *std::move(window)));
      continue;
    }
    if (options.hybrid.has_value()) {
      HybridAttentionOptions h;
      h.heads = exact->heads();
      h.layer = layer;
      h.window = options.hybrid->window;
      if (!options.hybrid->head_windows.empty()) {
        h.head_windows = options.hybrid->head_windows[static_cast<size_t>(layer)];
      }
      if (!options.hybrid->head_features.empty()) {
        h.head_features = options.hybrid->head_features[static_cast<size_t>(layer)];
      }
      h.sinks = options.hybrid->sinks;
      h.random_feature_tail = options.hybrid->random_feature_tail;
      h.features = options.features;
      h.chunk = options.chunk;
      if (h.random_feature_tail && h.features.kind != rf::RfKind::kPos) {
        if (options.source == FavorStatsSource::kCausal) {
          h.sequence_statistics = true;
        } else if (options.source == FavorStatsSource::kCalibrated) {
          h.calibration = options.calibration->layers[static_cast<size_t>(layer)];
        } else {
          return absl::InvalidArgumentError(
              "hybrid attention's random-feature tail takes calibrated statistics (favor "
              "calibrate; --favor-stats calibrated or FILE) or the sequence's own, taken "
              "causally (--favor-stats causal)");
        }
      }
      auto hybrid = HybridAttentionOp::Create(std::move(h));
      if (!hybrid.ok()) return WithContext(hybrid.status(), absl::StrCat("layer ", layer));
      FAVOR_RETURN_IF_ERROR(graph.ReplaceOp(id, *std::move(hybrid)));
      ++swapped;
      continue;
    }
    if (options.source == FavorStatsSource::kCausal) {
      return absl::InvalidArgumentError(
          "causal statistics come from the tokens before the first one leaves the exact window: "
          "they need hybrid attention (pure random-feature attention takes prompt or calibrated "
          "statistics)");
    }
    FavorAttentionOptions o;
    o.heads = exact->heads();
    o.layer = layer;
    o.features = options.features;
    o.chunk = options.chunk;
    o.source = options.source;
    if (options.source == FavorStatsSource::kCalibrated) {
      o.calibration = options.calibration->layers[static_cast<size_t>(layer)];
    }
    auto favor = FavorAttentionOp::Create(std::move(o));
    if (!favor.ok()) return WithContext(favor.status(), absl::StrCat("layer ", layer));
    FAVOR_RETURN_IF_ERROR(graph.ReplaceOp(id, *std::move(favor)));
    ++swapped;
  }
  FAVOR_RETURN_IF_ERROR(graph.Validate());
  return swapped;
}

}  // namespace favor
