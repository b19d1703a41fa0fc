#include "engine/ops/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/core/checked_math.h"
#include "engine/core/status.h"

namespace favor {

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(int64_t n_kv_heads, int64_t head_dim,
                                                         int64_t max_context) {
  if (n_kv_heads <= 0 || head_dim <= 0 || max_context <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache: invalid sizes kv_heads=", n_kv_heads,
                                                   " head_dim=", head_dim,
                                                   " max_context=", max_context));
  }
  const int64_t per_tensor = n_kv_heads * head_dim;
  if (max_context > std::numeric_limits<int64_t>::max() / 8 / per_tensor) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV cache of ", max_context, " tokens overflows a 64-bit size"));
  }
  const int64_t bytes = 2 * per_tensor * max_context * static_cast<int64_t>(sizeof(float));
  auto buffer = AlignedBuffer::Create(static_cast<size_t>(bytes));
  if (!buffer.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat("KV cache for ", max_context, " tokens needs ",
                                                     bytes / (1 << 20),
                                                     " MiB: ", buffer.status().message()));
  }
  return std::unique_ptr<KvCache>(
      new KvCache(n_kv_heads, head_dim, max_context, *std::move(buffer)));
}

KvCache::KvCache(int64_t n_kv_heads, int64_t head_dim, int64_t max_context,
                 std::shared_ptr<AlignedBuffer> buffer)
    : n_kv_heads_(n_kv_heads),
      head_dim_(head_dim),
      max_context_(max_context),
      buffer_(std::move(buffer)),
      keys_(reinterpret_cast<float*>(buffer_->data())),
      values_(keys_ + n_kv_heads * head_dim * max_context) {}

void KvCache::Append(const float* k, const float* v, int64_t tokens) {
  const int64_t row = n_kv_heads_ * head_dim_;
  const size_t head_bytes = static_cast<size_t>(head_dim_) * sizeof(float);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t g = 0; g < n_kv_heads_; ++g) {
      std::memcpy(keys(g) + (length_ + t) * head_dim_, k + t * row + g * head_dim_, head_bytes);
      std::memcpy(values(g) + (length_ + t) * head_dim_, v + t * row + g * head_dim_, head_bytes);
    }
  }
  length_ += tokens;
}

absl::Status KvCache::ExtendByRepeating(int64_t length, int64_t new_length) {
  if (length != length_ || length_ <= 0 || new_length < length_ || new_length > max_context_) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache: cannot extend ", length_,
                                                   " tokens to ", new_length, " (context ",
                                                   max_context_, ")"));
  }
  // Writes every new row (a reserved page never written would read as the shared zero page and
  // make long-context reads look cheaper than they are).
  for (int64_t g = 0; g < n_kv_heads_; ++g) {
    for (float* rows : {keys(g), values(g)}) {
      for (int64_t t = length_; t < new_length; t += std::min(length_, new_length - t)) {
        const int64_t count = std::min(length_, new_length - t);
        std::memcpy(rows + t * head_dim_, rows,
                    static_cast<size_t>(count * head_dim_) * sizeof(float));
      }
    }
  }
  length_ = new_length;
  return absl::OkStatus();
}

int64_t KvCache::BytesFor(int64_t n_kv_heads, int64_t head_dim, int64_t max_context) {
  const int64_t per_token = SaturatingMul(2 * n_kv_heads * head_dim, sizeof(float));
  return SaturatingMul(per_token, max_context);
}

int64_t KvCache::NumBytes() const { return static_cast<int64_t>(buffer_->size()); }

}  // namespace favor
