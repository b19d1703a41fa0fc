// Exact causal multi-head attention with grouped-query attention and a KV cache.
//
// Inputs: q f32[T, n_heads * head_dim], k and v f32[T, n_kv_heads * head_dim] (RoPE already
// applied). Output f32[T, n_heads * head_dim]. Query head h reads key/value head
// h / (n_heads / n_kv_heads). The T new keys and values are appended to the KvCache state; query t
// attends to every cached position up to its own (start_pos + t). One op serves prefill (T tokens)
// and decode (T = 1).
#pragma once

#include "engine/ops/op.h"

namespace favor {

struct AttentionOptions {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  float scale = 0.0f;  // 0: 1 / sqrt(head_dim).
};

class AttentionOp final : public Op {
 public:
  static absl::StatusOr<std::shared_ptr<AttentionOp>> Create(const AttentionOptions& options);
  const AttentionOptions& options() const { return options_; }

  absl::string_view type() const override { return "Attention"; }
  std::string Attributes() const override;
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  absl::StatusOr<std::unique_ptr<OpState>> CreateState(const StateOptions& options) const override;
  int64_t StateBytes(const StateOptions& options) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  explicit AttentionOp(const AttentionOptions& options) : options_(options) {}
  AttentionOptions options_;
};

}  // namespace favor
