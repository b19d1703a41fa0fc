// LastRow: the last row of x f32[T, D], per sequence of the run: f32[S, D]. Generation needs the
// logits of the last position only; cutting before the output head saves a T x D x vocab product at
// prefill.
#pragma once

#include "engine/ops/op.h"

namespace favor {

class LastRowOp final : public Op {
 public:
  absl::string_view type() const override { return "LastRow"; }
  bool RunsPerSequence() const override { return true; }
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;
};

}  // namespace favor
