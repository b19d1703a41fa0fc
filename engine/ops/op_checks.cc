#include "engine/ops/op_checks.h"

#include "absl/strings/str_cat.h"

namespace favor {

std::string TensorSpec::ToString() const {
  return absl::StrCat(DTypeName(dtype), shape.ToString());
}

absl::Status CheckInputCount(std::span<const TensorSpec> inputs, size_t expected) {
  if (inputs.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", expected, " inputs, got ", inputs.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckDType(std::span<const TensorSpec> inputs, size_t index, DType expected) {
  if (inputs[index].dtype != expected) {
    return absl::InvalidArgumentError(absl::StrCat("input ", index, ": expected dtype ",
                                                   DTypeName(expected), ", got ",
                                                   inputs[index].ToString()));
  }
  return absl::OkStatus();
}

absl::Status CheckRank(std::span<const TensorSpec> inputs, size_t index, int expected) {
  if (inputs[index].shape.rank() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("input ", index, ": expected rank ", expected,
                                                   ", got ", inputs[index].ToString()));
  }
  return absl::OkStatus();
}

absl::Status CheckDim(std::span<const TensorSpec> inputs, size_t index, int axis,
                      int64_t expected) {
  const Shape& shape = inputs[index].shape;
  if (axis >= shape.rank() || shape.dim(axis) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("input ", index, ": expected dimension ", axis, " to be ",
                     expected == kSeqLen ? std::string("T") : absl::StrCat(expected), ", got ",
                     inputs[index].ToString()));
  }
  return absl::OkStatus();
}

absl::Status CheckSameSpec(std::span<const TensorSpec> inputs, size_t a, size_t b) {
  if (!(inputs[a] == inputs[b])) {
    return absl::InvalidArgumentError(absl::StrCat("inputs ", a, " and ", b,
                                                   " must match: ", inputs[a].ToString(), " vs ",
                                                   inputs[b].ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorSpec>> InferAttentionOutputs(std::span<const TensorSpec> inputs,
                                                              int64_t heads, int64_t kv_heads,
                                                              int64_t head_dim) {
  if (auto s = CheckInputCount(inputs, 3); !s.ok()) return s;
  for (size_t i = 0; i < 3; ++i) {
    if (auto s = CheckDType(inputs, i, DType::kF32); !s.ok()) return s;
    if (auto s = CheckRank(inputs, i, 2); !s.ok()) return s;
  }
  if (auto s = CheckDim(inputs, 0, 1, heads * head_dim); !s.ok()) return s;
  if (auto s = CheckDim(inputs, 1, 1, kv_heads * head_dim); !s.ok()) return s;
  if (auto s = CheckSameSpec(inputs, 1, 2); !s.ok()) return s;
  if (auto s = CheckDim(inputs, 1, 0, inputs[0].shape.dim(0)); !s.ok()) return s;
  return std::vector<TensorSpec>{inputs[0]};
}

}  // namespace favor
