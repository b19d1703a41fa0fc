#include "engine/ops/embedding.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {

// Inputs: 0 = table [V, D], 1 = ids [T].
absl::StatusOr<std::vector<TensorSpec>> EmbeddingOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 2));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 0, 2));
  const DType table_type = inputs[0].dtype;
  if (table_type != DType::kF32 && table_type != DType::kF16 && table_type != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 0: expected an f32, f16 or bf16 table, got ", inputs[0].ToString()));
  }
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 1, DType::kI32));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 1, 1));
  return std::vector<TensorSpec>{
      {DType::kF32, Shape{inputs[1].shape.dim(0), inputs[0].shape.dim(1)}}};
}

absl::Status EmbeddingOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                              std::span<Tensor> outputs, OpState* /*state*/) const {
  const Tensor& table = inputs[0];
  const int64_t vocab = table.dim(0);
  const int64_t width = table.dim(1);
  const int32_t* ids = inputs[1].data<int32_t>();
  float* out = outputs[0].mutable_data<float>();
  for (int64_t t = 0; t < inputs[1].dim(0); ++t) {
    const int64_t id = ids[t];
    if (id < 0 || id >= vocab) {
      return absl::OutOfRangeError(absl::StrCat("token id ", id, " at position ", t,
                                                " is outside the vocabulary [0, ", vocab, ")"));
    }
    float* row = out + t * width;
    switch (table.dtype()) {
      case DType::kF32:
        std::memcpy(row, table.data<float>() + id * width,
                    static_cast<size_t>(width) * sizeof(float));
        break;
      case DType::kF16:
        ctx.kernels->f16_to_f32(table.data<uint16_t>() + id * width, row, width);
        break;
      case DType::kBF16:
        ctx.kernels->bf16_to_f32(table.data<uint16_t>() + id * width, row, width);
        break;
      default:
        return absl::InternalError("Embedding: unsupported table dtype");
    }
  }
  return absl::OkStatus();
}

}  // namespace favor
