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

}  // namespace favor
