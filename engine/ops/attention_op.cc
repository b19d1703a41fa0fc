#include "engine/ops/attention_op.h"

#include <cmath>

#include "engine/kernels/kernel_table.h"
#include "engine/ops/op_checks.h"

namespace favor {

float AttentionHeads::Scale() const {
  return scale != 0.0f ? scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

double AttentionHeads::FeatureScale() const {
  return scale != 0.0f ? std::sqrt(static_cast<double>(scale))
                       : std::pow(static_cast<double>(head_dim), -0.25);
}

absl::Status AttentionHeads::Validate(absl::string_view op) const {
  if (n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": heads, kv heads and head_dim must be positive, got ", n_heads, ", ",
                     n_kv_heads, ", ", head_dim));
  }
  if (n_heads % n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": ", n_heads, " query heads are not a multiple of ", n_kv_heads, " key/value heads"));
  }
  if (head_dim > kernels::kMaxHeadDim) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": head_dim ", head_dim, " exceeds the maximum ", kernels::kMaxHeadDim));
  }
  if (!std::isfinite(scale) || scale < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": the query scale must be positive and finite, got ", scale));
  }
  return absl::OkStatus();
}

std::string AttentionHeads::Attributes() const {
  return absl::StrCat("heads=", n_heads, " kv_heads=", n_kv_heads, " head_dim=", head_dim,
                      " scale=", Scale());
}

absl::StatusOr<std::vector<TensorSpec>> AttentionOpBase::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  return InferAttentionOutputs(inputs, heads_.n_heads, heads_.n_kv_heads, heads_.head_dim);
}

absl::Status AttentionOpBase::CheckContinues(int64_t held, int64_t start_pos) const {
  if (held == start_pos) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      type(), ": the state holds ", held, " tokens but the step starts at position ", start_pos));
}

bool IsAttention(const Op& op) { return dynamic_cast<const AttentionOpBase*>(&op) != nullptr; }

}  // namespace favor
