#include "engine/graph/graph.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor {
namespace {

std::string NodeLabel(const Node& node) {
  return absl::StrCat("node '", node.name, "' (", node.op->type(), ")");
}

}  // namespace

absl::StatusOr<ValueId> Graph::NewValue(Value value) {
  if (values_.size() >= static_cast<size_t>(INT32_MAX)) {
    return absl::ResourceExhaustedError("graph has too many values");
  }
  values_.push_back(std::move(value));
  return static_cast<ValueId>(values_.size() - 1);
}

absl::Status Graph::CheckValue(ValueId id, absl::string_view what) const {
  if (id < 0 || id >= num_values()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no value %", id));
  }
  const Value& v = value(id);
  if (v.kind == ValueKind::kNodeOutput && node(v.producer).removed) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": value %", id, " ('", v.name,
                                                      "') is produced by removed node '",
                                                      node(v.producer).name, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ValueId> Graph::AddInput(std::string name, TensorSpec spec) {
  Value v{.name = std::move(name), .spec = spec, .kind = ValueKind::kInput};
  FAVOR_ASSIGN_OR_RETURN(const ValueId id, NewValue(std::move(v)));
  inputs_.push_back(id);
  return id;
}

absl::StatusOr<ValueId> Graph::AddConstant(std::string name, Tensor tensor) {
  if (tensor.empty() || !tensor.IsContiguous()) {
    return absl::InvalidArgumentError(
        absl::StrCat("constant '", name, "' must be a non-empty contiguous tensor"));
  }
  TensorSpec spec{tensor.dtype(), tensor.shape()};
  Value v{.name = std::move(name), .spec = spec, .kind = ValueKind::kConstant};
  v.constant = std::move(tensor);
  return NewValue(std::move(v));
}

absl::StatusOr<std::vector<ValueId>> Graph::AddNode(std::string name, std::shared_ptr<const Op> op,
                                                    std::vector<ValueId> inputs) {
  if (op == nullptr) return absl::InvalidArgumentError(absl::StrCat("node '", name, "': null op"));
  const std::string label = absl::StrCat("node '", name, "' (", op->type(), ")");
  std::vector<TensorSpec> specs;
  specs.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    FAVOR_RETURN_IF_ERROR(CheckValue(inputs[i], absl::StrCat(label, " input ", i)));
    specs.push_back(value(inputs[i]).spec);
  }
  auto outputs = op->InferOutputs(specs);
  if (!outputs.ok()) return WithContext(outputs.status(), label);
  if (outputs->empty()) return absl::InternalError(absl::StrCat(label, ": op has no outputs"));

  const auto node_id = static_cast<NodeId>(nodes_.size());
  Node node{.name = name, .op = std::move(op), .inputs = std::move(inputs), .outputs = {}};
  for (size_t i = 0; i < outputs->size(); ++i) {
    Value v{.name = outputs->size() == 1 ? name : absl::StrCat(name, ":", i),
            .spec = (*outputs)[i],
            .kind = ValueKind::kNodeOutput,
            .producer = node_id};
    FAVOR_ASSIGN_OR_RETURN(const ValueId id, NewValue(std::move(v)));
    node.outputs.push_back(id);
  }
  std::vector<ValueId> result = node.outputs;
  nodes_.push_back(std::move(node));
  return result;
}

absl::StatusOr<ValueId> Graph::Add(std::string name, std::shared_ptr<const Op> op,
                                   std::vector<ValueId> inputs) {
  const std::string label = absl::StrCat("node '", name, "'");
  FAVOR_ASSIGN_OR_RETURN(auto outputs, AddNode(std::move(name), std::move(op), std::move(inputs)));
  if (outputs.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, " has ", outputs.size(), " outputs; use AddNode"));
  }
  return outputs[0];
}

absl::Status Graph::MarkOutput(ValueId id) {
  FAVOR_RETURN_IF_ERROR(CheckValue(id, "graph output"));
  outputs_.push_back(id);
  return absl::OkStatus();
}

std::vector<NodeId> Graph::FindNodes(const std::function<bool(const Node&)>& match) const {
  std::vector<NodeId> found;
  for (NodeId id = 0; id < num_nodes(); ++id) {
    if (!node(id).removed && match(node(id))) found.push_back(id);
  }
  return found;
}

std::vector<NodeId> Graph::FindNodesOfType(absl::string_view op_type) const {
  return FindNodes([&](const Node& n) { return n.op->type() == op_type; });
}

std::vector<NodeId> Graph::Consumers(ValueId id) const {
  return FindNodes([&](const Node& n) {
    return std::find(n.inputs.begin(), n.inputs.end(), id) != n.inputs.end();
  });
}

absl::Status Graph::ReplaceAllUses(ValueId from, ValueId to) {
  FAVOR_RETURN_IF_ERROR(CheckValue(from, "ReplaceAllUses source"));
  FAVOR_RETURN_IF_ERROR(CheckValue(to, "ReplaceAllUses target"));
  if (!(value(from).spec == value(to).spec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot replace value '", value(from).name, "' ", value(from).spec.ToString(),
                     " by '", value(to).name, "' ", value(to).spec.ToString(), ": specs differ"));
  }
  for (Node& n : nodes_) {
    if (n.removed) continue;
    std::replace(n.inputs.begin(), n.inputs.end(), from, to);
  }
  std::replace(outputs_.begin(), outputs_.end(), from, to);
  return absl::OkStatus();
}

absl::Status Graph::ReplaceOp(NodeId id, std::shared_ptr<const Op> op) {
  if (id < 0 || id >= num_nodes() || node(id).removed) {
    return absl::InvalidArgumentError(absl::StrCat("ReplaceOp: no live node ", id));
  }
  Node& n = nodes_[static_cast<size_t>(id)];
  const std::string label =
      absl::StrCat("replacing op of node '", n.name, "' (", n.op->type(), ") by ", op->type());
  std::vector<TensorSpec> specs;
  for (ValueId in : n.inputs) specs.push_back(value(in).spec);
  auto outputs = op->InferOutputs(specs);
  if (!outputs.ok()) return WithContext(outputs.status(), label);
  if (outputs->size() != n.outputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": ", outputs->size(), " outputs instead of ", n.outputs.size()));
  }
  for (size_t i = 0; i < outputs->size(); ++i) {
    if (!((*outputs)[i] == value(n.outputs[i]).spec)) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": output ", i, " would be ",
                                                     (*outputs)[i].ToString(), " instead of ",
                                                     value(n.outputs[i]).spec.ToString()));
    }
  }
  n.op = std::move(op);
  return absl::OkStatus();
}

absl::Status Graph::BypassNode(NodeId id) {
  if (id < 0 || id >= num_nodes() || node(id).removed) {
    return absl::InvalidArgumentError(absl::StrCat("BypassNode: no live node ", id));
  }
  Node& bypassed = nodes_[static_cast<size_t>(id)];
  if (bypassed.inputs.size() != 1 || bypassed.outputs.size() != 1 ||
      value(bypassed.inputs[0]).spec.dtype != value(bypassed.outputs[0]).spec.dtype) {
    return absl::InvalidArgumentError(absl::StrCat("BypassNode: node '", bypassed.name,
                                                   "' does not map one value to one of its dtype"));
  }
  const ValueId from = bypassed.outputs[0], to = bypassed.inputs[0];
  bypassed.removed = true;
  for (Node& n : nodes_) {
    if (!n.removed) std::replace(n.inputs.begin(), n.inputs.end(), from, to);
  }
  std::replace(outputs_.begin(), outputs_.end(), from, to);
  FAVOR_ASSIGN_OR_RETURN(const std::vector<NodeId> order, TopologicalOrder());
  for (NodeId n : order) {
    const Node& current = node(n);
    std::vector<TensorSpec> specs;
    for (ValueId in : current.inputs) specs.push_back(value(in).spec);
    auto outputs = current.op->InferOutputs(specs);
    if (!outputs.ok()) {
      return WithContext(outputs.status(), absl::StrCat("node '", current.name,
                                                        "' after bypassing '", bypassed.name, "'"));
    }
    for (size_t i = 0; i < outputs->size(); ++i) {
      values_[static_cast<size_t>(current.outputs[i])].spec = (*outputs)[i];
    }
  }
  return Validate();
}

void Graph::RemoveNode(NodeId id) {
  if (id >= 0 && id < num_nodes()) nodes_[static_cast<size_t>(id)].removed = true;
}

int Graph::RemoveDeadNodes() {
  // Mark live values backwards from the outputs.
  std::vector<bool> live_value(values_.size(), false);
  std::vector<ValueId> stack(outputs_.begin(), outputs_.end());
  while (!stack.empty()) {
    const ValueId id = stack.back();
    stack.pop_back();
    if (live_value[static_cast<size_t>(id)]) continue;
    live_value[static_cast<size_t>(id)] = true;
    const Value& v = value(id);
    if (v.kind == ValueKind::kNodeOutput && !node(v.producer).removed) {
      for (ValueId in : node(v.producer).inputs) stack.push_back(in);
    }
  }
  int removed = 0;
  for (Node& n : nodes_) {
    if (n.removed) continue;
    const bool used = std::any_of(n.outputs.begin(), n.outputs.end(), [&](ValueId out) {
      return live_value[static_cast<size_t>(out)];
    });
    if (!used) {
      n.removed = true;
      ++removed;
    }
  }
  return removed;
}

absl::StatusOr<std::vector<NodeId>> Graph::TopologicalOrder() const {
  // Depth-first search with colours; a grey node reached again closes a cycle.
  enum class Mark : uint8_t { kWhite, kGrey, kBlack };
  std::vector<Mark> mark(nodes_.size(), Mark::kWhite);
  std::vector<NodeId> order;
  for (NodeId root = 0; root < num_nodes(); ++root) {
    if (node(root).removed || mark[static_cast<size_t>(root)] != Mark::kWhite) continue;
    // Stack of (node, next input index).
    std::vector<std::pair<NodeId, size_t>> stack{{root, 0}};
    mark[static_cast<size_t>(root)] = Mark::kGrey;
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      const Node& n = node(id);
      if (next == n.inputs.size()) {
        mark[static_cast<size_t>(id)] = Mark::kBlack;
        order.push_back(id);
        stack.pop_back();
        continue;
      }
      const Value& in = value(n.inputs[next++]);
      if (in.kind != ValueKind::kNodeOutput) continue;
      const NodeId producer = in.producer;
      if (node(producer).removed) {
        return absl::FailedPreconditionError(absl::StrCat(
            NodeLabel(n), " reads '", in.name, "' of removed node '", node(producer).name, "'"));
      }
      if (mark[static_cast<size_t>(producer)] == Mark::kGrey) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cycle: ", NodeLabel(n), " depends on itself through ", NodeLabel(node(producer))));
      }
      if (mark[static_cast<size_t>(producer)] == Mark::kWhite) {
        mark[static_cast<size_t>(producer)] = Mark::kGrey;
        stack.emplace_back(producer, 0);
      }
    }
  }
  return order;
}

absl::Status Graph::Validate() const {
  if (outputs_.empty()) return absl::FailedPreconditionError("graph has no outputs");
  for (ValueId out : outputs_) FAVOR_RETURN_IF_ERROR(CheckValue(out, "graph output"));
  FAVOR_ASSIGN_OR_RETURN(const auto order, TopologicalOrder());
  for (NodeId id : order) {
    const Node& n = node(id);
    std::vector<TensorSpec> specs;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      FAVOR_RETURN_IF_ERROR(CheckValue(n.inputs[i], absl::StrCat(NodeLabel(n), " input ", i)));
      specs.push_back(value(n.inputs[i]).spec);
    }
    auto outputs = n.op->InferOutputs(specs);
    if (!outputs.ok()) return WithContext(outputs.status(), NodeLabel(n));
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (i >= outputs->size() || !((*outputs)[i] == value(n.outputs[i]).spec)) {
        return absl::FailedPreconditionError(absl::StrCat(NodeLabel(n), ": output ", i,
                                                          " no longer matches its recorded spec ",
                                                          value(n.outputs[i]).spec.ToString()));
      }
    }
  }
  return absl::OkStatus();
}

std::string Graph::Dump() const {
  std::string out;
  for (ValueId id : inputs_) {
    absl::StrAppend(&out, "input %", id, " '", value(id).name, "' : ", value(id).spec.ToString(),
                    "\n");
  }
  for (ValueId id = 0; id < num_values(); ++id) {
    if (value(id).kind != ValueKind::kConstant) continue;
    absl::StrAppend(&out, "const %", id, " '", value(id).name, "' : ", value(id).spec.ToString(),
                    "\n");
  }
  auto order = TopologicalOrder();
  std::vector<NodeId> nodes;
  if (order.ok()) {
    nodes = *std::move(order);
  } else {
    absl::StrAppend(&out, "# not a DAG: ", order.status().message(), "\n");
    nodes = FindNodes([](const Node&) { return true; });
  }
  for (NodeId id : nodes) {
    const Node& n = node(id);
    std::string lhs;
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      absl::StrAppend(&lhs, i > 0 ? ", " : "", "%", n.outputs[i]);
    }
    std::string args;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      absl::StrAppend(&args, i > 0 ? ", " : "", "%", n.inputs[i]);
    }
    std::string types;
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      absl::StrAppend(&types, i > 0 ? ", " : "", value(n.outputs[i]).spec.ToString());
    }
    const std::string attributes = n.op->Attributes();
    absl::StrAppend(&out, lhs, " = ", n.op->type(), "(", args, ")",
                    attributes.empty() ? "" : absl::StrCat(" {", attributes, "}"), " : ", types,
                    "  # ", n.name, "\n");
  }
  std::string outs;
  for (size_t i = 0; i < outputs_.size(); ++i)
    absl::StrAppend(&outs, i > 0 ? ", " : "", "%", outputs_[i]);
  absl::StrAppend(&out, "output ", outs, "\n");
  return out;
}

}  // namespace favor
