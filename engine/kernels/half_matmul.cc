// Matrix products of 16-bit weights (f16 or bf16) read as they are stored, row-major [N, K] (the
// mapped file), with f32 activations: each weight is widened in registers and never copied. The
// decode-time product, bound by memory bandwidth at 2 bytes per weight; compiled once per ISA.
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

template <bool kBf16>
VecF32 LoadWeights(const uint16_t* p) {
  return kBf16 ? LoadBF16(p) : LoadF16(p);
}
template <bool kBf16>
VecF32 LoadWeightsTail(const uint16_t* p, int64_t n) {
  return kBf16 ? LoadBF16Tail(p, n) : LoadF16Tail(p, n);
}

// kRows weight rows x kTokens activation rows, the accumulators in registers. The tile's rows are
// read as kRows short streams, which the hardware prefetchers do not follow: the rows
// kPrefetchTiles tiles ahead are fetched explicitly (harmless past the matrix: hints only).
template <bool kBf16, int kRows, int kTokens>
void Tile(const uint16_t* w, int64_t k, const float* x, int64_t ldx, float* y, int64_t ldy) {
  constexpr int64_t kPrefetchTiles = 4;
  VecF32 acc[kRows][kTokens];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) acc[r][t] = Set1(0.0f);
  }
  int64_t p = 0;
  for (; p + kLanes <= k; p += kLanes) {
    VecF32 weights[kRows];
    for (int r = 0; r < kRows; ++r) {
      __builtin_prefetch(w + (r + kPrefetchTiles * kRows) * k + p);
      weights[r] = LoadWeights<kBf16>(w + r * k + p);
    }
    for (int t = 0; t < kTokens; ++t) {
      const VecF32 xv = Load(x + t * ldx + p);
      for (int r = 0; r < kRows; ++r) acc[r][t] = Fma(weights[r], xv, acc[r][t]);
    }
  }
  if (p < k) {
    for (int t = 0; t < kTokens; ++t) {
      const VecF32 xv = LoadTail(x + t * ldx + p, k - p);
      for (int r = 0; r < kRows; ++r) {
        acc[r][t] = Fma(LoadWeightsTail<kBf16>(w + r * k + p, k - p), xv, acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) y[t * ldy + r] = ReduceSum(acc[r][t]);
  }
}

template <bool kBf16, int kTokens>
void AllRows(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, float* y,
             int64_t ldy) {
  constexpr int kRows = kTokens == 1 ? 4 : 2;  // One token: more rows for independent chains.
  int64_t i = 0;
  for (; i + kRows <= n; i += kRows) Tile<kBf16, kRows, kTokens>(w + i * k, k, x, ldx, y + i, ldy);
  for (; i < n; ++i) Tile<kBf16, 1, kTokens>(w + i * k, k, x, ldx, y + i, ldy);
}

template <bool kBf16>
void HalfMatMul(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                int64_t tokens, float* y, int64_t ldy) {
  static_assert(kQuantMaxTokens == 4);
  switch (tokens) {
    case 1:
      return AllRows<kBf16, 1>(w, n, k, x, ldx, y, ldy);
    case 2:
      return AllRows<kBf16, 2>(w, n, k, x, ldx, y, ldy);
    case 3:
      return AllRows<kBf16, 3>(w, n, k, x, ldx, y, ldy);
    default:
      return AllRows<kBf16, 4>(w, n, k, x, ldx, y, ldy);
  }
}

}  // namespace

void F16MatMul(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t tokens,
               float* y, int64_t ldy) {
  HalfMatMul<false>(w, n, k, x, ldx, tokens, y, ldy);
}

void BF16MatMul(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                int64_t tokens, float* y, int64_t ldy) {
  HalfMatMul<true>(w, n, k, x, ldx, tokens, y, ldy);
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
