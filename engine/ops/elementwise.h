// Element-wise ops on f32 tensors of any shape: Add (residual connections), Mul, SiLU, SwiGLU =
// silu(gate) * up (the Llama feed-forward gate), GELU (tanh approximation), GeGLU = gelu(gate) *
// up (Gemma), Scale by a constant (Gemma's embeddings) and SoftCap = cap tanh(x / cap) (Gemma 2's
// logits). Add and Mul also take, as the second input, one row ([width]) applied to every row of
// the first: a bias (Qwen's q/k/v projections) or a scale.
#pragma once

#include "engine/ops/op.h"

namespace favor {

enum class ElementwiseKind { kAdd, kMul, kSilu, kSwiGlu, kGelu, kGeGlu, kScale, kSoftCap };

class ElementwiseOp final : public Op {
 public:
  // `parameter`: the factor of kScale, the cap of kSoftCap (positive); unused by the others.
  explicit ElementwiseOp(ElementwiseKind kind, float parameter = 0.0f)
      : kind_(kind), parameter_(parameter) {}
  ElementwiseKind kind() const { return kind_; }
  float parameter() const { return parameter_; }

  absl::string_view type() const override;
  std::string Attributes() const override;
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  // Whether input 1 is one row to apply to every row of input 0.
  bool RowBroadcast(std::span<const TensorSpec> inputs) const;
  bool Unary() const;
  ElementwiseKind kind_;
  float parameter_;
};

}  // namespace favor
