// Inline row operations shared by the per-ISA kernel sources (same ISA namespace: see vec.h).
// vector_rows.cc exposes them in the kernel table; other kernels inline them in their loops.
#pragma once

#include <math.h>  // INFINITY only: no C++ inline math in per-ISA code (see vec.h).

#include <cstdint>

#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS::rows {

// y += a * x.
inline void Axpy(float a, const float* x, float* y, int64_t n) {
  const VecF32 av = Set1(a);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(y + i, Fma(av, Load(x + i), Load(y + i)));
  if (i < n) StoreTail(y + i, Fma(av, LoadTail(x + i, n - i), LoadTail(y + i, n - i)), n - i);
}

// y *= a.
inline void Scale(float a, float* y, int64_t n) {
  const VecF32 av = Set1(a);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(y + i, Load(y + i) * av);
  if (i < n) StoreTail(y + i, LoadTail(y + i, n - i) * av, n - i);
}

// out = exp(x - shift) (out may be x); returns the sum.
inline float ExpShifted(const float* x, float shift, float* out, int64_t n) {
  const VecF32 shift_vec = Set1(shift);
  VecF32 sum = Set1(0.0f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const VecF32 e = Exp(Load(x + i) - shift_vec);
    Store(out + i, e);
    sum = sum + e;
  }
  if (i < n) {
    const VecF32 e = Exp(LoadTailFill(x + i, n - i, -INFINITY) - shift_vec);
    StoreTail(out + i, e, n - i);
    sum = sum + e;
  }
  return ReduceSum(sum);
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS::rows
