#include "engine/graph/attention_swap.h"

#include "engine/ops/hybrid_attention.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/graph/pass.h"
#include "engine/ops/attention.h"

namespace favor {
namespace {

// Exact attention that records the scaled queries and keys of every run.
class StatisticsTapOp final : public Op {
 public:
  StatisticsTapOp(std::shared_ptr<const AttentionOp> exact, std::shared_ptr<rf::Calibration> sink,
                  std::shared_ptr<AttentionCapture> capture, int64_t layer)
      : exact_(std::move(exact)),
        sink_(std::move(sink)),
        capture_(std::move(capture)),
        layer_(layer) {}

  absl::string_view type() const override { return "AttentionStatisticsTap"; }
  std::string Attributes() const override { return exact_->Attributes(); }
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override {
    return exact_->InferOutputs(inputs);
  }
  absl::StatusOr<std::unique_ptr<OpState>> CreateState(const StateOptions& options) const override {
    return exact_->CreateState(options);
  }
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override {
    const AttentionOptions& o = exact_->options();
    const int64_t d = o.head_dim, group = o.n_heads / o.n_kv_heads, tokens = inputs[0].dim(0);
    const float scale = std::pow(static_cast<float>(d), -0.25f);
    std::vector<float> row(static_cast<size_t>(d));
    auto& heads = sink_->layers[static_cast<size_t>(layer_)];
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t g = 0; g < o.n_kv_heads; ++g) {
        const float* k = inputs[1].data<float>() + (t * o.n_kv_heads + g) * d;
        for (int64_t i = 0; i < d; ++i) row[static_cast<size_t>(i)] = k[i] * scale;
        heads[static_cast<size_t>(g)].AddKey(row.data());
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const float* q = inputs[0].data<float>() + (t * o.n_heads + h) * d;
          for (int64_t i = 0; i < d; ++i) row[static_cast<size_t>(i)] = q[i] * scale;
          heads[static_cast<size_t>(g)].AddQuery(row.data());
        }
      }
    }
    if (layer_ == 0) sink_->tokens += tokens;
    if (layer_ == sink_->sample_layer) {
      for (int64_t t = 0; t < tokens; ++t) {
        const float* q = inputs[0].data<float>() + t * o.n_heads * d;
        const float* k = inputs[1].data<float>() + t * o.n_kv_heads * d;
        std::vector<double> qs(static_cast<size_t>(d)), ks(static_cast<size_t>(d));
        for (int64_t i = 0; i < d; ++i) {
          qs[static_cast<size_t>(i)] = q[i] * scale;
          ks[static_cast<size_t>(i)] = k[i] * scale;
        }
        sink_->query_samples.push_back(std::move(qs));
        sink_->key_samples.push_back(std::move(ks));
      }
    }
    if (capture_ != nullptr) Capture(ctx.start_pos, inputs);
    return exact_->Run(ctx, inputs, outputs, state);
  }

 private:
  void Capture(int64_t start, std::span<const Tensor> inputs) const {
    AttentionCapture::Layer& layer = capture_->layers[static_cast<size_t>(layer_)];
    if (layer.tokens != start || layer.tokens >= capture_->max_tokens) return;
    const int64_t rows = std::min(inputs[0].dim(0), capture_->max_tokens - layer.tokens);
    auto append = [rows](std::vector<float>& to, const Tensor& from) {
      to.insert(to.end(), from.data<float>(), from.data<float>() + rows * from.dim(1));
    };
    append(layer.q, inputs[0]);
    append(layer.k, inputs[1]);
    append(layer.v, inputs[2]);
    layer.tokens += rows;
  }

  std::shared_ptr<const AttentionOp> exact_;
  std::shared_ptr<rf::Calibration> sink_;
  std::shared_ptr<AttentionCapture> capture_;
  int64_t layer_;
};

}  // namespace

bool IsAttentionType(absl::string_view type) {
  return type == "Attention" || type == "FavorAttention" || type == "HybridAttention" ||
         type == "AttentionStatisticsTap";
}

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
  if (options.hybrid.has_value() && !options.hybrid->head_windows.empty() &&
      static_cast<int64_t>(options.hybrid->head_windows.size()) != layer_count) {
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
    if (options.hybrid.has_value()) {
      HybridAttentionOptions h;
      h.n_heads = exact->options().n_heads;
      h.n_kv_heads = exact->options().n_kv_heads;
      h.head_dim = exact->options().head_dim;
      h.layer = layer;
      h.window = options.hybrid->window;
      if (!options.hybrid->head_windows.empty()) {
        h.head_windows = options.hybrid->head_windows[static_cast<size_t>(layer)];
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
    o.n_heads = exact->options().n_heads;
    o.n_kv_heads = exact->options().n_kv_heads;
    o.head_dim = exact->options().head_dim;
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

absl::Status TapAttentionStatistics(Graph& graph, std::shared_ptr<rf::Calibration> sink,
                                    std::shared_ptr<AttentionCapture> capture) {
  const std::vector<NodeId> attention = graph.FindNodesOfType("Attention");
  sink->layers.clear();
  sink->tokens = 0;
  sink->query_samples.clear();
  sink->key_samples.clear();
  for (size_t layer = 0; layer < attention.size(); ++layer) {
    auto exact = std::dynamic_pointer_cast<const AttentionOp>(graph.node(attention[layer]).op);
    if (exact == nullptr) return absl::InternalError("Attention node without an AttentionOp");
    sink->head_dim = exact->options().head_dim;
    sink->layers.emplace_back(static_cast<size_t>(exact->options().n_kv_heads),
                              rf::PairStatistics(exact->options().head_dim));
    if (capture != nullptr) {
      if (layer == 0) capture->layers.clear();
      capture->layers.push_back({.n_heads = exact->options().n_heads,
                                 .n_kv_heads = exact->options().n_kv_heads,
                                 .head_dim = exact->options().head_dim});
    }
    FAVOR_RETURN_IF_ERROR(graph.ReplaceOp(
        attention[layer],
        std::make_shared<StatisticsTapOp>(exact, sink, capture, static_cast<int64_t>(layer))));
  }
  return graph.Validate();
}

}  // namespace favor
