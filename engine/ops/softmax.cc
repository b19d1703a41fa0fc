#include "engine/ops/softmax.h"

#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {

absl::StatusOr<std::vector<TensorSpec>> SoftmaxOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 1));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 0, DType::kF32));
  if (inputs[0].shape.rank() == 0) return absl::InvalidArgumentError("input 0: scalar");
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status SoftmaxOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                            std::span<Tensor> outputs, OpState* /*state*/) const {
  const float* x = inputs[0].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const int64_t cols = inputs[0].shape().back();
  const auto softmax = ctx.kernels->softmax;
  ParallelFor(inputs[0].shape().NumRows(), ctx.threads, 4,
              [&](int64_t r) { softmax(x + r * cols, out + r * cols, cols); });
  return absl::OkStatus();
}

}  // namespace favor
