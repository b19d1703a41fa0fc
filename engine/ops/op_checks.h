// Helpers for InferOutputs: each check names the input and both the expected and the actual
// spec, so that a build-time error message says exactly what does not fit.
#pragma once

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "engine/ops/op.h"

namespace favor {

absl::Status CheckInputCount(std::span<const TensorSpec> inputs, size_t expected);
absl::Status CheckDType(std::span<const TensorSpec> inputs, size_t index, DType expected);
absl::Status CheckRank(std::span<const TensorSpec> inputs, size_t index, int expected);
// Dimension `axis` of input `index` must equal `expected` (which may be kSeqLen).
absl::Status CheckDim(std::span<const TensorSpec> inputs, size_t index, int axis, int64_t expected);
// Inputs a and b must have identical specs.
absl::Status CheckSameSpec(std::span<const TensorSpec> inputs, size_t a, size_t b);

// The signature every attention op shares: q f32[T, heads * head_dim], k and v
// f32[T, kv_heads * head_dim]; the output has q's spec.
absl::StatusOr<std::vector<TensorSpec>> InferAttentionOutputs(std::span<const TensorSpec> inputs,
                                                              int64_t heads, int64_t kv_heads,
                                                              int64_t head_dim);

}  // namespace favor
