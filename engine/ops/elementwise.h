// Element-wise ops on f32 tensors of any shape: Add (residual connections), Mul, SiLU, and
// SwiGLU = silu(gate) * up (the Llama feed-forward gate). Add and Mul also take, as the second
// input, one row ([width]) applied to every row of the first: a bias (Qwen's q/k/v projections)
// or a scale.
#pragma once

#include "engine/ops/op.h"

namespace favor {

enum class ElementwiseKind { kAdd, kMul, kSilu, kSwiGlu };

class ElementwiseOp final : public Op {
 public:
  explicit ElementwiseOp(ElementwiseKind kind) : kind_(kind) {}
  ElementwiseKind kind() const { return kind_; }

  absl::string_view type() const override;
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  // Whether input 1 is one row to apply to every row of input 0.
  bool RowBroadcast(std::span<const TensorSpec> inputs) const;
  ElementwiseKind kind_;
};

}  // namespace favor
