// The state of exact attention for one sequence: keys and values of every position so far, per
// key/value head, laid out [kv_head][position][head_dim] so that one head's keys are contiguous
// for the attention kernel. Memory is reserved for max_context tokens at creation; appending
// never allocates.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "engine/core/storage.h"
#include "engine/ops/op.h"

namespace favor {

class KvCache final : public OpState {
 public:
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(int64_t n_kv_heads, int64_t head_dim,
                                                         int64_t max_context);
  // What Create allocates (saturating at INT64_MAX).
  static int64_t BytesFor(int64_t n_kv_heads, int64_t head_dim, int64_t max_context);

  int64_t length() const { return length_; }
  int64_t max_context() const { return max_context_; }
  int64_t n_kv_heads() const { return n_kv_heads_; }
  int64_t head_dim() const { return head_dim_; }

  float* keys(int64_t kv_head) const { return keys_ + kv_head * max_context_ * head_dim_; }
  float* values(int64_t kv_head) const { return values_ + kv_head * max_context_ * head_dim_; }
  // Appends T rows of k and v (each [T, n_kv_heads * head_dim]); the caller checked the room.
  void Append(const float* k, const float* v, int64_t tokens);

  int64_t NumBytes() const override;
  void Reset() override { length_ = 0; }
  absl::Status ExtendByRepeating(int64_t length, int64_t new_length) override;

 private:
  KvCache(int64_t n_kv_heads, int64_t head_dim, int64_t max_context,
          std::shared_ptr<AlignedBuffer> buffer);

  int64_t n_kv_heads_;
  int64_t head_dim_;
  int64_t max_context_;
  int64_t length_ = 0;
  std::shared_ptr<AlignedBuffer> buffer_;
  float* keys_;
  float* values_;
};

}  // namespace favor
