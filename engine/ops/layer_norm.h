// LayerNorm over the last dimension: out = (x - mean) / sqrt(var + eps) * weight + bias (GPT-2).
// Inputs: x f32[..., D], weight f32[D], bias f32[D].
#pragma once

#include "engine/ops/op.h"

namespace favor {

class LayerNormOp final : public Op {
 public:
  explicit LayerNormOp(float eps) : eps_(eps) {}
  float eps() const { return eps_; }

  absl::string_view type() const override { return "LayerNorm"; }
  std::string Attributes() const override;
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  float eps_;
};

}  // namespace favor
