// Exact softmax attention, compiled once per ISA: one query row (decode), or a tile of consecutive
// query rows (prefill).
//
// Keys are processed in blocks with an online softmax (running max m, running sum l, rescaled
// accumulator), so the work needs only stack memory whatever the context length, and the scores
// of a block are exponentiated together with the vector exp. A tile reads each block of keys and
// values once for all its rows, and computes its scores and its weighted values as two small
// matrix products (register-blocked GEMMs), which is where prefill's arithmetic is.

#include <math.h>  // INFINITY only: no C++ inline math in per-ISA code (see vec.h).

#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/row_ops_inl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

constexpr int64_t kKeyBlock = 64;

// The first key row `position` sees: all of them, or the last `window`.
inline int64_t FirstVisible(int64_t position, int64_t window) {
  return window > 0 && position + 1 > window ? position + 1 - window : 0;
}

}  // namespace

void AttentionRow(const float* q, const float* keys, const float* values, int64_t n_keys,
                  int64_t head_dim, float scale, float soft_cap, float* out, float* log_sum_exp) {
  alignas(64) float acc[kMaxHeadDim];
  alignas(64) float scores[kKeyBlock];
  for (int64_t i = 0; i < head_dim; ++i) acc[i] = 0.0f;
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  for (int64_t start = 0; start < n_keys; start += kKeyBlock) {
    const int64_t count = n_keys - start < kKeyBlock ? n_keys - start : kKeyBlock;
    float block_max = -INFINITY;
    for (int64_t j = 0; j < count; ++j) {
      scores[j] = scale * Dot(q, keys + (start + j) * head_dim, head_dim);
    }
    if (soft_cap > 0.0f) SoftCap(scores, scores, count, soft_cap);
    for (int64_t j = 0; j < count; ++j) block_max = scores[j] > block_max ? scores[j] : block_max;
    const float new_max = block_max > running_max ? block_max : running_max;
    if (new_max > running_max && running_sum > 0.0f) {
      const float correction = __builtin_expf(running_max - new_max);
      running_sum *= correction;
      rows::Scale(correction, acc, head_dim);
    }
    running_max = new_max;
    running_sum += rows::ExpShifted(scores, new_max, scores, count);
    for (int64_t j = 0; j < count; ++j) {
      rows::Axpy(scores[j], values + (start + j) * head_dim, acc, head_dim);
    }
  }
  const float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  for (int64_t i = 0; i < head_dim; ++i) out[i] = acc[i] * inv;
  if (log_sum_exp != nullptr) {
    *log_sum_exp = running_sum > 0.0f ? running_max + __builtin_logf(running_sum) : -INFINITY;
  }
}

void AttentionTile(const float* q, int64_t ldq, int64_t rows, int64_t first_position,
                   const float* keys, const float* values, int64_t head_dim, float scale,
                   float soft_cap, int64_t window, float* out, int64_t ldo) {
  // Keys transposed (the B operand of the score product), scores, and the accumulators.
  alignas(64) float keys_t[kMaxHeadDim * kKeyBlock];
  alignas(64) float scores[kAttentionTileRows * kKeyBlock];
  alignas(64) float acc[kAttentionTileRows * kMaxHeadDim];
  float running_max[kAttentionTileRows], running_sum[kAttentionTileRows];
  const int64_t d = head_dim;
  for (int64_t r = 0; r < rows; ++r) {
    running_max[r] = -INFINITY;
    running_sum[r] = 0.0f;
    for (int64_t i = 0; i < d; ++i) acc[r * d + i] = 0.0f;
  }
  const int64_t last = first_position + rows - 1;  // The last row's position: its last key.
  for (int64_t start = FirstVisible(first_position, window); start <= last; start += kKeyBlock) {
    const int64_t count = last + 1 - start < kKeyBlock ? last + 1 - start : kKeyBlock;
    for (int64_t j = 0; j < count; ++j) {
      for (int64_t i = 0; i < d; ++i) keys_t[i * kKeyBlock + j] = keys[(start + j) * d + i];
    }
    Gemm(rows, count, d, q, ldq, keys_t, kKeyBlock, scores, kKeyBlock, false);
    for (int64_t r = 0; r < rows; ++r) {
      float* row = scores + r * kKeyBlock;
      const int64_t position = first_position + r;
      // Keys [begin, end) of this block are visible to row r; the others weigh 0.
      const int64_t begin_key = FirstVisible(position, window);
      const int64_t begin = begin_key > start ? begin_key - start : 0;
      const int64_t end = position + 1 - start < count ? position + 1 - start : count;
      if (end <= begin) {
        for (int64_t j = 0; j < count; ++j) row[j] = 0.0f;
        continue;
      }
      rows::Scale(scale, row + begin, end - begin);
      if (soft_cap > 0.0f) SoftCap(row + begin, row + begin, end - begin, soft_cap);
      float block_max = row[begin];
      for (int64_t j = begin + 1; j < end; ++j) block_max = row[j] > block_max ? row[j] : block_max;
      const float new_max = block_max > running_max[r] ? block_max : running_max[r];
      if (new_max > running_max[r] && running_sum[r] > 0.0f) {
        const float correction = __builtin_expf(running_max[r] - new_max);
        running_sum[r] *= correction;
        rows::Scale(correction, acc + r * d, d);
      }
      running_max[r] = new_max;
      for (int64_t j = 0; j < begin; ++j) row[j] = 0.0f;
      running_sum[r] += rows::ExpShifted(row + begin, new_max, row + begin, end - begin);
      for (int64_t j = end; j < count; ++j) row[j] = 0.0f;
    }
    Gemm(rows, d, count, scores, kKeyBlock, values + start * d, d, acc, d, true);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = running_sum[r] > 0.0f ? 1.0f / running_sum[r] : 0.0f;
    for (int64_t i = 0; i < d; ++i) out[r * ldo + i] = acc[r * d + i] * inv;
  }
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
