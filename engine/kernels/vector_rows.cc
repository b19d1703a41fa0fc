// Generic row operations used by random-feature attention, compiled once per ISA.
#include <math.h>  // INFINITY only: no C++ inline math in per-ISA code (see vec.h).

#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/row_ops_inl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {

float ExpShifted(const float* x, float shift, float* out, int64_t n) {
  return rows::ExpShifted(x, shift, out, n);
}

float Max(const float* x, int64_t n) {
  VecF32 m = Set1(-INFINITY);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) m = Max(m, Load(x + i));
  if (i < n) m = Max(m, LoadTailFill(x + i, n - i, -INFINITY));
  return ReduceMax(m);
}

void Axpy(float a, const float* x, float* y, int64_t n) { rows::Axpy(a, x, y, n); }

void Scale(float a, float* y, int64_t n) { rows::Scale(a, y, n); }

}  // namespace favor::kernels::FAVOR_KERNEL_NS
