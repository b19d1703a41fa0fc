// Graph: typed values and the nodes (ops) that produce them, built once per model and options,
// executed many times by an Executor.
//
// Values are graph inputs (fed on every run: token ids), constants (weights) or node outputs.
// Adding a node infers its outputs' specs at once, so a shape or dtype mismatch is an error at
// build time that names the node and the specs involved. Shapes may use the symbolic dimension T
// (tokens per step), resolved on every run.
//
// Passes rewrite a graph through the same API: find nodes, add replacements, redirect the uses
// of old values to new ones, remove what became dead, and Validate() the result (which also
// rejects cycles that a bad redirection could create).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/tensor.h"
#include "engine/ops/op.h"

namespace favor {

using ValueId = int32_t;
using NodeId = int32_t;

enum class ValueKind { kInput, kConstant, kNodeOutput };

struct Value {
  std::string name;
  TensorSpec spec;
  ValueKind kind = ValueKind::kNodeOutput;
  NodeId producer = -1;  // For node outputs.
  Tensor constant;       // For constants.
};

struct Node {
  std::string name;
  std::shared_ptr<const Op> op;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  bool removed = false;
};

class Graph {
 public:
  absl::StatusOr<ValueId> AddInput(std::string name, TensorSpec spec);
  absl::StatusOr<ValueId> AddConstant(std::string name, Tensor tensor);
  // Adds a node and infers its outputs, named "<name>" (one output) or "<name>:<i>".
  absl::StatusOr<std::vector<ValueId>> AddNode(std::string name, std::shared_ptr<const Op> op,
                                               std::vector<ValueId> inputs);
  // AddNode for single-output ops.
  absl::StatusOr<ValueId> Add(std::string name, std::shared_ptr<const Op> op,
                              std::vector<ValueId> inputs);
  absl::Status MarkOutput(ValueId value);

  const Value& value(ValueId id) const { return values_[static_cast<size_t>(id)]; }
  const Node& node(NodeId id) const { return nodes_[static_cast<size_t>(id)]; }
  int num_values() const { return static_cast<int>(values_.size()); }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }  // Including removed ones.
  const std::vector<ValueId>& inputs() const { return inputs_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }

  // --- Rewriting (graph passes) ---
  // Live nodes for which `match` is true, in insertion order.
  std::vector<NodeId> FindNodes(const std::function<bool(const Node&)>& match) const;
  std::vector<NodeId> FindNodesOfType(absl::string_view op_type) const;
  // Live nodes that read `value`.
  std::vector<NodeId> Consumers(ValueId value) const;
  // Makes every reader of `from` (nodes and graph outputs) read `to` instead. The specs must be
  // equal.
  absl::Status ReplaceAllUses(ValueId from, ValueId to);
  // Swaps a node's op for another with the same inputs; the new op must infer the same output
  // specs (this is how the attention pass swaps exact attention for FAVOR#).
  absl::Status ReplaceOp(NodeId node, std::shared_ptr<const Op> op);
  void RemoveNode(NodeId node);
  // Removes a node of one input and one output of the same dtype, its readers reading its input
  // instead, and re-infers the specs downstream (which may change: bypassing LastRow turns the
  // logits of the last position into those of every position).
  absl::Status BypassNode(NodeId node);
  // Removes live nodes none of whose outputs reach a graph output. Returns how many.
  int RemoveDeadNodes();

  // Live nodes in an order where each comes after the producers of its inputs.
  absl::StatusOr<std::vector<NodeId>> TopologicalOrder() const;
  // Re-checks the whole graph: references, specs (re-inferred), no reads of removed nodes, no
  // cycles, at least one output.
  absl::Status Validate() const;
  // One line per value and node, e.g. "%7 = MatMul(%6) [weight=...] : f32[T, 768]".
  std::string Dump() const;

 private:
  absl::Status CheckValue(ValueId id, absl::string_view what) const;
  absl::StatusOr<ValueId> NewValue(Value value);

  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> inputs_;
  std::vector<ValueId> outputs_;
};

}  // namespace favor
