// Softmax over the last dimension of an f32 tensor (max-subtracted; a row of -inf gives zeros).
#pragma once

#include "engine/ops/op.h"

namespace favor {

class SoftmaxOp final : public Op {
 public:
  absl::string_view type() const override { return "Softmax"; }
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;
};

}  // namespace favor
