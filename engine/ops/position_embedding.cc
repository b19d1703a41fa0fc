#include "engine/ops/position_embedding.h"

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {

absl::StatusOr<std::vector<TensorSpec>> PositionEmbeddingOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 2));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 0, DType::kF32));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 1, DType::kF32));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 0, 2));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 1, 2));
  FAVOR_RETURN_IF_ERROR(CheckDim(inputs, 1, 1, inputs[0].shape.back()));
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status PositionEmbeddingOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                                      std::span<Tensor> outputs, OpState* /*state*/) const {
  const int64_t tokens = inputs[0].dim(0), width = inputs[0].dim(1);
  const int64_t positions = inputs[1].dim(0);
  if (ctx.start_pos < 0 || ctx.start_pos + tokens > positions) {
    return absl::OutOfRangeError(absl::StrCat("position ", ctx.start_pos + tokens - 1,
                                              " is past the ", positions,
                                              " positions the model learned (its context)"));
  }
  const float* x = inputs[0].data<float>();
  const float* table = inputs[1].data<float>() + ctx.start_pos * width;
  float* out = outputs[0].mutable_data<float>();
  const auto add = ctx.kernels->add;
  ParallelFor(tokens, ctx.threads, 8,
              [&](int64_t t) { add(x + t * width, table + t * width, out + t * width, width); });
  return absl::OkStatus();
}

}  // namespace favor
