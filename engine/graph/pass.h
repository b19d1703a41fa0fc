// Graph passes: rewrites of a built graph (attention swap, fusions). A pass edits the graph in
// place through Graph's rewriting API; RunPasses validates the graph after each pass, so a pass
// that breaks it is reported by name.
#pragma once

#include <memory>
#include <span>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"

namespace favor {

class GraphPass {
 public:
  virtual ~GraphPass() = default;
  virtual absl::string_view name() const = 0;
  // Returns whether the graph changed.
  virtual absl::StatusOr<bool> Run(Graph& graph) const = 0;
};

// Runs the passes in order, removing dead nodes and validating after each.
absl::Status RunPasses(Graph& graph, std::span<const GraphPass* const> passes);

// Replaces every node whose op has type `op_type` (and for which `select` is true) by the op that
// `make` returns for it; `make` may return nullptr to leave a node alone. The replacement must
// infer the same output specs. The attention swap is an instance of this.
class ReplaceOpPass final : public GraphPass {
 public:
  using Select = std::function<bool(const Graph&, NodeId)>;
  using Make = std::function<absl::StatusOr<std::shared_ptr<const Op>>(const Graph&, NodeId)>;

  ReplaceOpPass(std::string name, std::string op_type, Make make, Select select = nullptr)
      : name_(std::move(name)),
        op_type_(std::move(op_type)),
        make_(std::move(make)),
        select_(std::move(select)) {}

  absl::string_view name() const override { return name_; }
  absl::StatusOr<bool> Run(Graph& graph) const override;

 private:
  std::string name_;
  std::string op_type_;
  Make make_;
  Select select_;
};

// Fuses Mul(Silu(gate), up) into SwiGlu(gate, up) when the Silu output has no other reader:
// one pass over the data instead of two, and one buffer less.
class FuseSwiGluPass final : public GraphPass {
 public:
  absl::string_view name() const override { return "fuse-swiglu"; }
  absl::StatusOr<bool> Run(Graph& graph) const override;
};

}  // namespace favor
