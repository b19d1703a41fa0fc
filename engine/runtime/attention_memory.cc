#include "engine/runtime/attention_memory.h"

#include <vector>

#include "engine/core/checked_math.h"
#include "engine/core/status.h"
#include "engine/ops/attention.h"
#include "engine/ops/attention_op.h"
#include "engine/ops/hybrid_attention.h"

namespace favor::runtime {
namespace {

// The live attention ops to count, in graph order.
std::vector<const AttentionOpBase*> AttentionOps(const Graph& graph, bool approximate_only) {
  std::vector<const AttentionOpBase*> ops;
  for (NodeId id = 0; id < graph.num_nodes(); ++id) {
    const Node& node = graph.node(id);
    if (node.removed) continue;
    const auto* op = dynamic_cast<const AttentionOpBase*>(node.op.get());
    if (op == nullptr) continue;
    if (approximate_only && dynamic_cast<const AttentionOp*>(op) != nullptr) continue;
    ops.push_back(op);
  }
  return ops;
}

}  // namespace

double AttentionMemory::KvTokens() const {
  return kv_token_bytes > 0 ? static_cast<double>(state_bytes) / static_cast<double>(kv_token_bytes)
                            : 0.0;
}

AttentionMemory MeasureAttentionMemory(const Graph& graph, int64_t context, bool approximate_only) {
  AttentionMemory memory;
  for (const AttentionOpBase* op : AttentionOps(graph, approximate_only)) {
    ++memory.layers;
    memory.state_bytes =
        SaturatingAdd(memory.state_bytes, op->StateBytes({.max_context = context}));
    memory.kv_token_bytes +=
        2 * op->heads().n_kv_heads * op->heads().head_dim * static_cast<int64_t>(sizeof(float));
  }
  return memory;
}

absl::StatusOr<int64_t> WindowAtEqualBytes(const Graph& graph, int64_t context,
                                           bool approximate_only, int64_t sinks, int64_t bytes) {
  const std::vector<const AttentionOpBase*> ops = AttentionOps(graph, approximate_only);
  // Window-only state of the same ops at window W: the op's own accounting, so that the two
  // sides are counted alike.
  auto bytes_at = [&](int64_t window) -> absl::StatusOr<int64_t> {
    int64_t total = 0;
    for (const AttentionOpBase* op : ops) {
      FAVOR_ASSIGN_OR_RETURN(auto window_only,
                             HybridAttentionOp::Create({.heads = op->heads(),
                                                        .window = window,
                                                        .sinks = sinks,
                                                        .random_feature_tail = false}));
      total = SaturatingAdd(total, window_only->StateBytes({.max_context = context}));
    }
    return total;
  };
  int64_t low = 0, high = std::min<int64_t>(context, kMaxWindow);  // low always fits.
  while (low < high) {
    const int64_t middle = low + (high - low + 1) / 2;
    FAVOR_ASSIGN_OR_RETURN(const int64_t needed, bytes_at(middle));
    if (needed <= bytes) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  return low;
}

}  // namespace favor::runtime
