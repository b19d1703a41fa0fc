// What every attention op shares (exact, random-feature, hybrid), as CTranslate2's AttentionLayer
// holds it for all its implementations: query heads, key/value heads (grouped-query attention),
// head size and the query scale, with one validation, one shape inference and one state check.
//
// Inputs of every attention op: q f32[T, n_heads * head_dim], k and v f32[T, n_kv_heads *
// head_dim] (positions already encoded); output f32[T, n_heads * head_dim]. Query head h reads
// key/value head h / (n_heads / n_kv_heads).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/ops/op.h"

namespace favor {

struct AttentionHeads {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  // Scores are scale * q.k; 0: 1 / sqrt(head_dim). Models with their own (Gemma 2's
  // query_pre_attn_scalar) set it, and random features follow it (FeatureScale).
  float scale = 0.0f;

  int64_t group() const { return n_heads / n_kv_heads; }
  // The scale of the scores: `scale`, or 1 / sqrt(head_dim).
  float Scale() const;
  // What queries and keys are each multiplied by before random features, so that
  // q'.k' = Scale() q.k: sqrt(scale), or head_dim^-1/4 (in double: the features are built in
  // double precision).
  double FeatureScale() const;
  // Positive heads, a whole number of query heads per key/value head, head_dim within the
  // kernels' limit, a finite positive scale (or 0). `op` names the op in the error.
  absl::Status Validate(absl::string_view op) const;
  // "heads=8 kv_heads=4 head_dim=64 scale=0.125", for dumps.
  std::string Attributes() const;
};

class AttentionOpBase : public Op {
 public:
  const AttentionHeads& heads() const { return heads_; }
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const final;
  bool RunsPerSequence() const final { return true; }

 protected:
  // `heads` must have been validated.
  explicit AttentionOpBase(const AttentionHeads& heads) : heads_(heads) {}

  // The op's per-sequence state as the type it created, or an error naming the op.
  template <typename State>
  absl::StatusOr<State*> StateAs(OpState* state) const {
    auto* typed = dynamic_cast<State*>(state);
    if (typed == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(type(), ": no state of its kind"));
    }
    return typed;
  }
  // A causal step must continue the sequence the state holds.
  absl::Status CheckContinues(int64_t held, int64_t start_pos) const;

 private:
  AttentionHeads heads_;
};

// Whether an op computes attention (what profiling, the attention pass and the attention
// observers look for).
bool IsAttention(const Op& op);

}  // namespace favor
