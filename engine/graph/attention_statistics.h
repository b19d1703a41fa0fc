// Observers of attention (executor RunObservers): they read what exact attention computes while a
// model runs, without changing its graph or its ops.
// - AttentionStatisticsRecorder gathers the per-layer, per-KV-head query/key statistics that
//   `favor calibrate` saves, and optionally the attention inputs of a sequence's first positions
//   (what `favor calibrate --plan` measures hybrid attention on).
// - AttentionOutputRecorder keeps every attention node's output (favor eval --layer-errors).
// Layers are numbered by the order of the attention nodes in the graph, as the swap numbers them.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/executor.h"
#include "engine/graph/graph.h"
#include "engine/ops/attention.h"
#include "engine/rf/calibration.h"

namespace favor {

// The attention nodes of a graph in layer order.
std::vector<NodeId> AttentionNodes(const Graph& graph);

// The attention inputs (unscaled queries, keys, values) of the first positions of a sequence, per
// layer.
struct AttentionCapture {
  struct Layer {
    AttentionHeads heads;  // With the layer's query scale.
    int64_t tokens = 0;
    std::vector<float> q, k, v;  // tokens x heads x head_dim
  };
  int64_t max_tokens = 0;
  std::vector<Layer> layers;
  int64_t tokens() const { return layers.empty() ? 0 : layers[0].tokens; }
};

class AttentionStatisticsRecorder final : public RunObserver {
 public:
  // Every attention node of `graph` must be exact. With capture_tokens > 0, also keeps the inputs
  // of the first capture_tokens positions of the first sequence run (runs that do not continue it
  // are not kept).
  static absl::StatusOr<std::unique_ptr<AttentionStatisticsRecorder>> Create(
      const Graph& graph, int64_t capture_tokens = 0);

  bool Observes(NodeId id, const Node& node) const override;
  absl::Status Observe(NodeId id, const RunContext& context, std::span<const Tensor> inputs,
                       std::span<const Tensor> outputs) override;

  const rf::Calibration& statistics() const { return statistics_; }
  rf::Calibration& statistics() { return statistics_; }
  const AttentionCapture& capture() const { return capture_; }

 private:
  AttentionStatisticsRecorder() = default;
  void Capture(size_t layer, int64_t start, std::span<const Tensor> inputs);

  std::vector<int64_t> layer_of_node_;  // Indexed by NodeId; -1: not attention.
  std::vector<AttentionHeads> layers_;
  rf::Calibration statistics_;
  AttentionCapture capture_;
};

class AttentionOutputRecorder final : public RunObserver {
 public:
  explicit AttentionOutputRecorder(const Graph& graph);

  bool Observes(NodeId id, const Node& node) const override;
  absl::Status Observe(NodeId id, const RunContext& context, std::span<const Tensor> inputs,
                       std::span<const Tensor> outputs) override;

  // Per layer, the outputs of every run since the last Clear, rows appended.
  const std::vector<std::vector<float>>& outputs() const { return outputs_; }
  void Clear();

 private:
  std::vector<int64_t> layer_of_node_;
  std::vector<std::vector<float>> outputs_;
};

}  // namespace favor
