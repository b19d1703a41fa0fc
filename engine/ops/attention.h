// Exact causal multi-head attention with grouped-query attention and a KV cache (inputs and
// output: engine/ops/attention_op.h). The T new keys and values are appended to the KvCache
// state; query t attends to every cached position up to its own (start_pos + t). One op serves
// prefill (T tokens) and decode (T = 1).
//
// Two traits of some models' attention that only the exact op has (random features cannot express
// them; the attention pass keeps such layers exact or refuses): a sliding window (Mistral, Phi-3,
// Gemma 2's local layers: query t sees keys t - W + 1 .. t) and soft-capped scores (Gemma 2:
// cap tanh(s / cap)).
#pragma once

#include "engine/ops/attention_op.h"

namespace favor {

using AttentionOptions = AttentionHeads;

struct ExactAttentionTraits {
  int64_t window = 0;     // Sliding window W (the current key included); 0: every earlier key.
  float soft_cap = 0.0f;  // Scores become cap tanh(s / cap); 0: no cap.
  friend bool operator==(const ExactAttentionTraits&, const ExactAttentionTraits&) = default;
};

class AttentionOp final : public AttentionOpBase {
 public:
  static absl::StatusOr<std::shared_ptr<AttentionOp>> Create(
      const AttentionOptions& options, const ExactAttentionTraits& traits = {});
  const AttentionOptions& options() const { return heads(); }
  const ExactAttentionTraits& traits() const { return traits_; }

  absl::string_view type() const override { return "Attention"; }
  std::string Attributes() const override;
  absl::StatusOr<std::unique_ptr<OpState>> CreateState(const StateOptions& options) const override;
  int64_t StateBytes(const StateOptions& options) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  AttentionOp(const AttentionOptions& options, const ExactAttentionTraits& traits)
      : AttentionOpBase(options), traits_(traits) {}

  ExactAttentionTraits traits_;
};

}  // namespace favor
