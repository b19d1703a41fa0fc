#include "engine/ops/rope.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {

absl::StatusOr<std::shared_ptr<RopeOp>> RopeOp::Create(const RopeOptions& options) {
  if (options.n_heads <= 0 || options.head_dim <= 0 || options.head_dim % 2 != 0 ||
      options.head_dim > kernels::kMaxHeadDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("Rope: need n_heads > 0 and an even head_dim in [2, ", kernels::kMaxHeadDim,
                     "], got n_heads=", options.n_heads, " head_dim=", options.head_dim));
  }
  if (!(options.theta > 1.0) || !std::isfinite(options.theta)) {
    return absl::InvalidArgumentError(absl::StrCat("Rope: theta must be > 1, got ", options.theta));
  }
  if (!(options.magnitude > 0.0) || !std::isfinite(options.magnitude)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Rope: the attention factor must be positive, got ", options.magnitude));
  }
  if (!options.frequency_factors.empty()) {
    if (static_cast<int64_t>(options.frequency_factors.size()) != options.head_dim / 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Rope: ", options.frequency_factors.size(), " frequency factors for head_dim ",
          options.head_dim, " (need ", options.head_dim / 2, ")"));
    }
    for (const double factor : options.frequency_factors) {
      if (!(factor > 0.0) || !std::isfinite(factor)) {
        return absl::InvalidArgumentError(
            absl::StrCat("Rope: frequency factor ", factor, " is not a positive number"));
      }
    }
  }
  return std::shared_ptr<RopeOp>(new RopeOp(options));
}

RopeOp::RopeOp(const RopeOptions& options) : options_(options) {
  const int64_t half = options.head_dim / 2;
  inverse_frequencies_.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inverse_frequencies_[static_cast<size_t>(i)] = std::pow(
        options.theta, -2.0 * static_cast<double>(i) / static_cast<double>(options.head_dim));
    if (!options.frequency_factors.empty()) {
      inverse_frequencies_[static_cast<size_t>(i)] /=
          options.frequency_factors[static_cast<size_t>(i)];
    }
  }
}

std::string RopeOp::Attributes() const {
  return absl::StrCat(
      "heads=", options_.n_heads, " head_dim=", options_.head_dim, " theta=", options_.theta,
      " style=", options_.style == kernels::RopeStyle::kHalves ? "halves" : "adjacent",
      options_.frequency_factors.empty() ? "" : " scaled",
      options_.magnitude == 1.0 ? "" : absl::StrCat(" magnitude=", options_.magnitude));
}

absl::StatusOr<std::vector<TensorSpec>> RopeOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 1));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 0, DType::kF32));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 0, 2));
  FAVOR_RETURN_IF_ERROR(CheckDim(inputs, 0, 1, options_.n_heads * options_.head_dim));
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status RopeOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                         std::span<Tensor> outputs, OpState* /*state*/) const {
  const int64_t width = options_.n_heads * options_.head_dim;
  const int64_t half = options_.head_dim / 2;
  const float* x = inputs[0].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const auto rope = ctx.kernels->rope;
  ParallelFor(inputs[0].dim(0), ctx.threads, 16, [&](int64_t t) {
    alignas(64) float cos_values[kernels::kMaxHeadDim / 2];
    alignas(64) float sin_values[kernels::kMaxHeadDim / 2];
    const double position = static_cast<double>(ctx.start_pos + t);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = position * inverse_frequencies_[static_cast<size_t>(i)];
      cos_values[i] = static_cast<float>(options_.magnitude * std::cos(angle));
      sin_values[i] = static_cast<float>(options_.magnitude * std::sin(angle));
    }
    std::memcpy(out + t * width, x + t * width, static_cast<size_t>(width) * sizeof(float));
    rope(out + t * width, cos_values, sin_values, options_.n_heads, options_.head_dim,
         options_.style);
  });
  return absl::OkStatus();
}

}  // namespace favor
