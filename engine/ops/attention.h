// Exact causal multi-head attention with grouped-query attention and a KV cache (inputs and
// output: engine/ops/attention_op.h). The T new keys and values are appended to the KvCache
// state; query t attends to every cached position up to its own (start_pos + t). One op serves
// prefill (T tokens) and decode (T = 1).
#pragma once

#include "engine/ops/attention_op.h"

namespace favor {

using AttentionOptions = AttentionHeads;

class AttentionOp final : public AttentionOpBase {
 public:
  static absl::StatusOr<std::shared_ptr<AttentionOp>> Create(const AttentionOptions& options);
  const AttentionOptions& options() const { return heads(); }

  absl::string_view type() const override { return "Attention"; }
  std::string Attributes() const override;
  absl::StatusOr<std::unique_ptr<OpState>> CreateState(const StateOptions& options) const override;
  int64_t StateBytes(const StateOptions& options) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  explicit AttentionOp(const AttentionOptions& options) : AttentionOpBase(options) {}
};

}  // namespace favor
