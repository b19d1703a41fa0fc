#include "engine/graph/attention_statistics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace favor {
namespace {

std::vector<int64_t> LayerOfNode(const Graph& graph) {
  std::vector<int64_t> layer_of_node(static_cast<size_t>(graph.num_nodes()), -1);
  int64_t layer = 0;
  for (NodeId id : AttentionNodes(graph)) layer_of_node[static_cast<size_t>(id)] = layer++;
  return layer_of_node;
}

}  // namespace

std::vector<NodeId> AttentionNodes(const Graph& graph) {
  return graph.FindNodes([](const Node& node) { return IsAttention(*node.op); });
}

absl::StatusOr<std::unique_ptr<AttentionStatisticsRecorder>> AttentionStatisticsRecorder::Create(
    const Graph& graph, int64_t capture_tokens) {
  std::unique_ptr<AttentionStatisticsRecorder> recorder(new AttentionStatisticsRecorder());
  recorder->layer_of_node_ = LayerOfNode(graph);
  recorder->capture_.max_tokens = capture_tokens;
  for (NodeId id : AttentionNodes(graph)) {
    const auto* exact = dynamic_cast<const AttentionOp*>(graph.node(id).op.get());
    if (exact == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("statistics are gathered with exact attention only; node '",
                       graph.node(id).name, "' is ", graph.node(id).op->type()));
    }
    const AttentionHeads& o = exact->heads();
    recorder->layers_.push_back(o);
    recorder->statistics_.head_dim = o.head_dim;
    recorder->statistics_.layers.emplace_back(static_cast<size_t>(o.n_kv_heads),
                                              rf::PairStatistics(o.head_dim));
    if (capture_tokens > 0) recorder->capture_.layers.push_back({.heads = o});
  }
  return recorder;
}

bool AttentionStatisticsRecorder::Observes(NodeId id, const Node&) const {
  return layer_of_node_[static_cast<size_t>(id)] >= 0;
}

absl::Status AttentionStatisticsRecorder::Observe(NodeId id, const RunContext& context,
                                                  std::span<const Tensor> inputs,
                                                  std::span<const Tensor>) {
  const auto layer = static_cast<size_t>(layer_of_node_[static_cast<size_t>(id)]);
  const AttentionHeads& o = layers_[layer];
  const int64_t d = o.head_dim, group = o.group(), tokens = inputs[0].dim(0);
  // Statistics of queries and keys as the features see them (the attention's scale split
  // between them).
  const auto scale = static_cast<float>(o.FeatureScale());
  std::vector<float> row(static_cast<size_t>(d));
  auto& heads = statistics_.layers[layer];
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
  if (layer == 0) statistics_.tokens += tokens;
  if (static_cast<int64_t>(layer) == statistics_.sample_layer) {
    for (int64_t t = 0; t < tokens; ++t) {
      const float* q = inputs[0].data<float>() + t * o.n_heads * d;
      const float* k = inputs[1].data<float>() + t * o.n_kv_heads * d;
      std::vector<double> qs(static_cast<size_t>(d)), ks(static_cast<size_t>(d));
      for (int64_t i = 0; i < d; ++i) {
        qs[static_cast<size_t>(i)] = q[i] * scale;
        ks[static_cast<size_t>(i)] = k[i] * scale;
      }
      statistics_.query_samples.push_back(std::move(qs));
      statistics_.key_samples.push_back(std::move(ks));
    }
  }
  if (capture_.max_tokens > 0) Capture(layer, context.start_pos, inputs);
  return absl::OkStatus();
}

void AttentionStatisticsRecorder::Capture(size_t layer_index, int64_t start,
                                          std::span<const Tensor> inputs) {
  AttentionCapture::Layer& layer = capture_.layers[layer_index];
  if (layer.tokens != start || layer.tokens >= capture_.max_tokens) return;
  const int64_t rows = std::min(inputs[0].dim(0), capture_.max_tokens - layer.tokens);
  auto append = [rows](std::vector<float>& to, const Tensor& from) {
    to.insert(to.end(), from.data<float>(), from.data<float>() + rows * from.dim(1));
  };
  append(layer.q, inputs[0]);
  append(layer.k, inputs[1]);
  append(layer.v, inputs[2]);
  layer.tokens += rows;
}

AttentionOutputRecorder::AttentionOutputRecorder(const Graph& graph)
    : layer_of_node_(LayerOfNode(graph)), outputs_(AttentionNodes(graph).size()) {}

bool AttentionOutputRecorder::Observes(NodeId id, const Node&) const {
  return layer_of_node_[static_cast<size_t>(id)] >= 0;
}

absl::Status AttentionOutputRecorder::Observe(NodeId id, const RunContext&, std::span<const Tensor>,
                                              std::span<const Tensor> outputs) {
  std::vector<float>& to = outputs_[static_cast<size_t>(layer_of_node_[static_cast<size_t>(id)])];
  const Tensor& out = outputs[0];
  to.insert(to.end(), out.data<float>(), out.data<float>() + out.NumElements());
  return absl::OkStatus();
}

void AttentionOutputRecorder::Clear() {
  for (auto& layer : outputs_) layer.clear();
}

}  // namespace favor
