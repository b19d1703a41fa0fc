#include "engine/ops/rms_norm.h"

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {

std::string RmsNormOp::Attributes() const { return absl::StrCat("eps=", eps_); }

absl::StatusOr<std::vector<TensorSpec>> RmsNormOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 2));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 0, DType::kF32));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 1, DType::kF32));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 1, 1));
  if (inputs[0].shape.rank() == 0) return absl::InvalidArgumentError("input 0: scalar");
  FAVOR_RETURN_IF_ERROR(CheckDim(inputs, 1, 0, inputs[0].shape.back()));
  if (!(eps_ >= 0.0f)) return absl::InvalidArgumentError(absl::StrCat("eps ", eps_, " < 0"));
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status RmsNormOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                            std::span<Tensor> outputs, OpState* /*state*/) const {
  const float* x = inputs[0].data<float>();
  const float* weight = inputs[1].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const int64_t cols = inputs[0].shape().back();
  const auto rms_norm = ctx.kernels->rms_norm;
  const float eps = eps_;
  ParallelFor(inputs[0].shape().NumRows(), ctx.threads, 8,
              [&](int64_t r) { rms_norm(x + r * cols, weight, out + r * cols, cols, eps); });
  return absl::OkStatus();
}

}  // namespace favor
