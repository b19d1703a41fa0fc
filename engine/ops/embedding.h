// Embedding lookup: rows of a table f32/f16/bf16[V, D] selected by token ids i32[T], as f32[T, D].
// An id outside [0, V) is a run-time error naming the id and its position.
#pragma once

#include "engine/ops/op.h"

namespace favor {

class EmbeddingOp final : public Op {
 public:
  absl::string_view type() const override { return "Embedding"; }
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;
};

}  // namespace favor
