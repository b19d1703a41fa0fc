// Row normalisations: RMSNorm, LayerNorm and softmax, compiled once per ISA.

#include <math.h>  // INFINITY only: no C++ inline math in per-ISA code (see vec.h).

#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {

void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  VecF32 acc = Set1(0.0f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const VecF32 v = Load(x + i);
    acc = Fma(v, v, acc);
  }
  if (i < n) {
    const VecF32 v = LoadTail(x + i, n - i);
    acc = Fma(v, v, acc);
  }
  const float mean_square = ReduceSum(acc) / static_cast<float>(n);
  const VecF32 inv_rms = Set1(1.0f / __builtin_sqrtf(mean_square + eps));
  for (i = 0; i + kLanes <= n; i += kLanes) {
    Store(out + i, Load(x + i) * inv_rms * Load(weight + i));
  }
  if (i < n) {
    const int64_t r = n - i;
    StoreTail(out + i, LoadTail(x + i, r) * inv_rms * LoadTail(weight + i, r), r);
  }
}

void LayerNorm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
               float eps) {
  // Two passes (the mean, then the variance around it): the one-pass E[x^2] - E[x]^2 cancels
  // badly on rows with a large mean. The mean is summed relative to x[0], so that a large common
  // offset does not swamp the float sum either.
  const VecF32 shift = Set1(x[0]);
  VecF32 acc = Set1(0.0f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) acc = acc + (Load(x + i) - shift);
  if (i < n) acc = acc + (LoadTailFill(x + i, n - i, x[0]) - shift);
  const float mean_value = x[0] + ReduceSum(acc) / static_cast<float>(n);
  const VecF32 mean = Set1(mean_value);
  acc = Set1(0.0f);
  for (i = 0; i + kLanes <= n; i += kLanes) {
    const VecF32 d = Load(x + i) - mean;
    acc = Fma(d, d, acc);
  }
  if (i < n) {
    // Lanes past the tail load as 0 and would add mean^2 each: masked by filling with the mean.
    const VecF32 d = LoadTailFill(x + i, n - i, mean_value) - mean;
    acc = Fma(d, d, acc);
  }
  const float variance = ReduceSum(acc) / static_cast<float>(n);
  const VecF32 inv_std = Set1(1.0f / __builtin_sqrtf(variance + eps));
  for (i = 0; i + kLanes <= n; i += kLanes) {
    Store(out + i, Fma((Load(x + i) - mean) * inv_std, Load(weight + i), Load(bias + i)));
  }
  if (i < n) {
    const int64_t r = n - i;
    StoreTail(
        out + i,
        Fma((LoadTail(x + i, r) - mean) * inv_std, LoadTail(weight + i, r), LoadTail(bias + i, r)),
        r);
  }
}

void Softmax(const float* x, float* out, int64_t n) {
  if (n <= 0) return;
  VecF32 max_vec = Set1(-INFINITY);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) max_vec = Max(max_vec, Load(x + i));
  if (i < n) max_vec = Max(max_vec, LoadTailFill(x + i, n - i, -INFINITY));
  const float max_value = ReduceMax(max_vec);
  // A row of -inf (everything masked) has no distribution; it yields zeros, not NaN.
  const VecF32 shift = Set1(__builtin_isinf(max_value) && max_value < 0 ? 0.0f : max_value);
  VecF32 sum = Set1(0.0f);
  for (i = 0; i + kLanes <= n; i += kLanes) {
    const VecF32 e = Exp(Load(x + i) - shift);
    Store(out + i, e);
    sum = sum + e;
  }
  if (i < n) {
    const int64_t r = n - i;
    const VecF32 e = Exp(LoadTailFill(x + i, r, -INFINITY) - shift);
    StoreTail(out + i, e, r);
    sum = sum + e;
  }
  const float total = ReduceSum(sum);
  const VecF32 inv = Set1(total > 0.0f ? 1.0f / total : 0.0f);
  for (i = 0; i + kLanes <= n; i += kLanes) Store(out + i, Load(out + i) * inv);
  if (i < n) StoreTail(out + i, LoadTail(out + i, n - i) * inv, n - i);
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
