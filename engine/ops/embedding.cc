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
  if (!GetDTypeInfo(inputs[0].dtype).weights()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 0: expected a table of a weight type, got ", inputs[0].ToString()));
  }
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 1, DType::kI32));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 1, 1));
  return std::vector<TensorSpec>{
      {DType::kF32, Shape{inputs[1].shape.dim(0), inputs[0].shape.dim(1)}}};
}

absl::Status EmbeddingOp::Run(const RunContext& /*ctx*/, std::span<const Tensor> inputs,
                              std::span<Tensor> outputs, OpState* /*state*/) const {
  const Tensor& table = inputs[0];
  const int64_t vocab = table.dim(0);
  const int64_t width = table.dim(1);
  const int32_t* ids = inputs[1].data<int32_t>();
  float* out = outputs[0].mutable_data<float>();
  const DTypeInfo& info = GetDTypeInfo(table.dtype());
  const int64_t row_bytes = width / info.block_elements * info.block_bytes;
  for (int64_t t = 0; t < inputs[1].dim(0); ++t) {
    const int64_t id = ids[t];
    if (id < 0 || id >= vocab) {
      return absl::OutOfRangeError(absl::StrCat("token id ", id, " at position ", t,
                                                " is outside the vocabulary [0, ", vocab, ")"));
    }
    // Any weight type: its row converted by the type's own conversion (exact for 16-bit floats,
    // the dequantisation for block types).
    info.to_f32(static_cast<const std::byte*>(table.raw_data()) + id * row_bytes, out + t * width,
                width);
  }
  return absl::OkStatus();
}

}  // namespace favor
