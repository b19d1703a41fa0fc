// Rotary position embedding, compiled once per ISA. The caller computes cos/sin of the angles of
// one position (head_dim/2 values); the rotation is applied to every head of a row.
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

// (x[i], x[i + half]) pairs: two contiguous halves, fully vectorised.
void RopeHalves(float* x, const float* cos, const float* sin, int64_t half) {
  float* x1 = x;
  float* x2 = x + half;
  int64_t i = 0;
  for (; i + kLanes <= half; i += kLanes) {
    const VecF32 a = Load(x1 + i), b = Load(x2 + i), c = Load(cos + i), s = Load(sin + i);
    Store(x1 + i, a * c - b * s);
    Store(x2 + i, Fma(b, c, a * s));
  }
  if (i < half) {
    const int64_t r = half - i;
    const VecF32 a = LoadTail(x1 + i, r), b = LoadTail(x2 + i, r);
    const VecF32 c = LoadTail(cos + i, r), s = LoadTail(sin + i, r);
    StoreTail(x1 + i, a * c - b * s, r);
    StoreTail(x2 + i, Fma(b, c, a * s), r);
  }
}

// (x[2i], x[2i + 1]) pairs: interleaved; a plain loop (the compiler vectorises it per ISA), as
// RoPE is a negligible share of a forward pass.
void RopeAdjacent(float* x, const float* cos, const float* sin, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * cos[i] - b * sin[i];
    x[2 * i + 1] = b * cos[i] + a * sin[i];
  }
}

}  // namespace

void Rope(float* x, const float* cos, const float* sin, int64_t n_heads, int64_t head_dim,
          RopeStyle style) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = x + h * head_dim;
    if (style == RopeStyle::kHalves) {
      RopeHalves(head, cos, sin, half);
    } else {
      RopeAdjacent(head, cos, sin, half);
    }
  }
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
