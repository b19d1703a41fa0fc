// Learned absolute positions (GPT-2): out[t] = x[t] + table[start_pos + t]. Inputs: x f32[T, D],
// table f32[P, D]; a position at or past P (the context the model learned) is a run-time error.
#pragma once

#include "engine/ops/op.h"

namespace favor {

class PositionEmbeddingOp final : public Op {
 public:
  absl::string_view type() const override { return "PositionEmbedding"; }
  bool RunsPerSequence() const override { return true; }
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;
};

}  // namespace favor
