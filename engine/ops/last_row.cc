#include "engine/ops/last_row.h"

#include <cstring>

#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {

absl::StatusOr<std::vector<TensorSpec>> LastRowOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 1));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 0, DType::kF32));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 0, 2));
  return std::vector<TensorSpec>{{DType::kF32, Shape{kSequences, inputs[0].shape.dim(1)}}};
}

absl::Status LastRowOp::Run(const RunContext& /*ctx*/, std::span<const Tensor> inputs,
                            std::span<Tensor> outputs, OpState* /*state*/) const {
  const int64_t rows = inputs[0].dim(0), cols = inputs[0].dim(1);
  std::memcpy(outputs[0].mutable_data<float>(), inputs[0].data<float>() + (rows - 1) * cols,
              static_cast<size_t>(cols) * sizeof(float));
  return absl::OkStatus();
}

}  // namespace favor
