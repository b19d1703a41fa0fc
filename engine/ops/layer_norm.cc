#include "engine/ops/layer_norm.h"

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {

std::string LayerNormOp::Attributes() const { return absl::StrCat("eps=", eps_); }

absl::StatusOr<std::vector<TensorSpec>> LayerNormOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 3));
  if (inputs[0].shape.rank() == 0) return absl::InvalidArgumentError("input 0: scalar");
  for (size_t i = 0; i < 3; ++i) FAVOR_RETURN_IF_ERROR(CheckDType(inputs, i, DType::kF32));
  for (size_t i = 1; i < 3; ++i) {
    FAVOR_RETURN_IF_ERROR(CheckRank(inputs, i, 1));
    FAVOR_RETURN_IF_ERROR(CheckDim(inputs, i, 0, inputs[0].shape.back()));
  }
  if (!(eps_ >= 0.0f)) return absl::InvalidArgumentError(absl::StrCat("eps ", eps_, " < 0"));
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status LayerNormOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                              std::span<Tensor> outputs, OpState* /*state*/) const {
  const float* x = inputs[0].data<float>();
  const float* weight = inputs[1].data<float>();
  const float* bias = inputs[2].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const int64_t cols = inputs[0].shape().back();
  const auto layer_norm = ctx.kernels->layer_norm;
  const float eps = eps_;
  ParallelFor(inputs[0].shape().NumRows(), ctx.threads, 8, [&](int64_t r) {
    layer_norm(x + r * cols, weight, bias, out + r * cols, cols, eps);
  });
  return absl::OkStatus();
}

}  // namespace favor
