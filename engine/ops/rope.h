// Rotary position embedding of query or key rows. Input x f32[T, n_heads * head_dim]; token t is
// at position ctx.start_pos + t. Angles are pos * theta^(-2i / head_dim) / factor_i, computed in
// double so that positions far into a long context keep full f32 accuracy; the per-frequency
// factors are RoPE scaling (Llama 3's, linear, Phi-3.5's longrope), 1 without it. Longrope also
// scales the rotated rows by an attention factor (cos and sin multiplied by it, as transformers
// and llama.cpp do), so that scores grow by its square.
#pragma once

#include <vector>

#include "engine/kernels/kernel_table.h"
#include "engine/ops/op.h"

namespace favor {

struct RopeOptions {
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  double theta = 10000.0;
  kernels::RopeStyle style = kernels::RopeStyle::kAdjacentPairs;
  // Divisors of the head_dim / 2 frequencies (GGUF's rope_freqs tensor); empty: none.
  std::vector<double> frequency_factors;
  double magnitude = 1.0;  // The attention factor: rotated rows are scaled by it.
};

class RopeOp final : public Op {
 public:
  static absl::StatusOr<std::shared_ptr<RopeOp>> Create(const RopeOptions& options);
  const RopeOptions& options() const { return options_; }

  absl::string_view type() const override { return "Rope"; }
  bool RunsPerSequence() const override { return true; }
  std::string Attributes() const override;
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  explicit RopeOp(const RopeOptions& options);
  RopeOptions options_;
  std::vector<double> inverse_frequencies_;  // theta^(-2i / head_dim), i < head_dim / 2.
};

}  // namespace favor
