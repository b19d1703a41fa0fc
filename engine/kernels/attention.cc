// Exact softmax attention for one query row, compiled once per ISA.
//
// Keys are processed in blocks with an online softmax (running max m, running sum l, rescaled
// accumulator), so the work needs only stack memory whatever the context length, and the scores
// of a block are exponentiated together with the vector exp.

#include <math.h>  // INFINITY only: no C++ inline math in per-ISA code (see vec.h).

#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/row_ops_inl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

constexpr int64_t kKeyBlock = 64;

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

}  // namespace favor::kernels::FAVOR_KERNEL_NS
