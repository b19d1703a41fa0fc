#include "engine/graph/pass.h"

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/ops/elementwise.h"

namespace favor {

absl::Status RunPasses(Graph& graph, std::span<const GraphPass* const> passes) {
  for (const GraphPass* pass : passes) {
    const std::string label = absl::StrCat("pass '", pass->name(), "'");
    auto changed = pass->Run(graph);
    if (!changed.ok()) return WithContext(changed.status(), label);
    if (*changed) graph.RemoveDeadNodes();
    FAVOR_RETURN_IF_ERROR(
        WithContext(graph.Validate(), absl::StrCat(label, " left the graph invalid")));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ReplaceOpPass::Run(Graph& graph) const {
  bool changed = false;
  for (NodeId id : graph.FindNodesOfType(op_type_)) {
    if (select_ && !select_(graph, id)) continue;
    FAVOR_ASSIGN_OR_RETURN(std::shared_ptr<const Op> op, make_(graph, id));
    if (op == nullptr) continue;
    FAVOR_RETURN_IF_ERROR(graph.ReplaceOp(id, std::move(op)));
    changed = true;
  }
  return changed;
}

absl::StatusOr<bool> FuseSwiGluPass::Run(Graph& graph) const {
  bool changed = false;
  for (NodeId mul_id : graph.FindNodesOfType("Mul")) {
    const Node mul = graph.node(mul_id);  // Copy: adding nodes may move the node storage.
    for (size_t side = 0; side < 2; ++side) {
      const Value& candidate = graph.value(mul.inputs[side]);
      if (candidate.kind != ValueKind::kNodeOutput) continue;
      const Node& silu = graph.node(candidate.producer);
      if (silu.op->type() != "Silu" || graph.Consumers(mul.inputs[side]).size() != 1) continue;
      const bool is_graph_output = std::find(graph.outputs().begin(), graph.outputs().end(),
                                             mul.inputs[side]) != graph.outputs().end();
      if (is_graph_output) continue;
      const ValueId gate = silu.inputs[0];
      const ValueId up = mul.inputs[1 - side];
      FAVOR_ASSIGN_OR_RETURN(
          const ValueId fused,
          graph.Add(mul.name, std::make_shared<ElementwiseOp>(ElementwiseKind::kSwiGlu),
                    {gate, up}));
      FAVOR_RETURN_IF_ERROR(graph.ReplaceAllUses(mul.outputs[0], fused));
      graph.RemoveNode(mul_id);
      changed = true;
      break;
    }
  }
  return changed;
}

}  // namespace favor
