// Matrix products of weights read as they are stored, row-major [N, K] (the mapped file): f16 and
// bf16 widened in registers, f32 as they are, with f32 activations, never copied. The decode-time
// product, bound by memory bandwidth (2 or 4 bytes per weight); compiled once per ISA.
#include <type_traits>

#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

enum class Stored { kF16, kBF16, kF32 };

template <Stored kType>
using Element = std::conditional_t<kType == Stored::kF32, float, uint16_t>;

template <Stored kType>
VecF32 LoadWeights(const Element<kType>* p) {
  if constexpr (kType == Stored::kF32) return Load(p);
  if constexpr (kType == Stored::kBF16) return LoadBF16(p);
  if constexpr (kType == Stored::kF16) return LoadF16(p);
}
template <Stored kType>
VecF32 LoadWeightsTail(const Element<kType>* p, int64_t n) {
  if constexpr (kType == Stored::kF32) return LoadTail(p, n);
  if constexpr (kType == Stored::kBF16) return LoadBF16Tail(p, n);
  if constexpr (kType == Stored::kF16) return LoadF16Tail(p, n);
}

// kRows weight rows x kTokens activation rows, the accumulators in registers. The tile's rows are
// read as kRows short streams, which the hardware prefetchers do not follow: the rows
// kPrefetchTiles tiles ahead are fetched explicitly (harmless past the matrix: hints only).
template <Stored kType, int kRows, int kTokens>
void Tile(const Element<kType>* w, int64_t k, const float* x, int64_t ldx, float* y, int64_t ldy) {
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
      weights[r] = LoadWeights<kType>(w + r * k + p);
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
        acc[r][t] = Fma(LoadWeightsTail<kType>(w + r * k + p, k - p), xv, acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) y[t * ldy + r] = ReduceSum(acc[r][t]);
  }
}

template <Stored kType, int kTokens>
void AllRows(const Element<kType>* w, int64_t n, int64_t k, const float* x, int64_t ldx, float* y,
             int64_t ldy) {
  // One token: more rows for independent chains. Four tokens on AVX-512: a 4x4 tile of
  // accumulators loads one value per FMA instead of 1.5 (21 of its 32 registers; AVX2's 16 would
  // spill). Batched decode (favor serve's slots) runs here: 8 sequences 561 -> 643 t/s.
  constexpr int kRows = kTokens == 1 || (kTokens == 4 && kLanes >= 16) ? 4 : 2;
  int64_t i = 0;
  for (; i + kRows <= n; i += kRows) Tile<kType, kRows, kTokens>(w + i * k, k, x, ldx, y + i, ldy);
  for (; i < n; ++i) Tile<kType, 1, kTokens>(w + i * k, k, x, ldx, y + i, ldy);
}

template <Stored kType>
void StoredMatMul(const Element<kType>* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                  int64_t tokens, float* y, int64_t ldy) {
  static_assert(kQuantMaxTokens == 4);
  switch (tokens) {
    case 1:
      return AllRows<kType, 1>(w, n, k, x, ldx, y, ldy);
    case 2:
      return AllRows<kType, 2>(w, n, k, x, ldx, y, ldy);
    case 3:
      return AllRows<kType, 3>(w, n, k, x, ldx, y, ldy);
    default:
      return AllRows<kType, 4>(w, n, k, x, ldx, y, ldy);
  }
}

}  // namespace

void F16MatMul(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t tokens,
               float* y, int64_t ldy) {
  StoredMatMul<Stored::kF16>(w, n, k, x, ldx, tokens, y, ldy);
}

void BF16MatMul(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                int64_t tokens, float* y, int64_t ldy) {
  StoredMatMul<Stored::kBF16>(w, n, k, x, ldx, tokens, y, ldy);
}

void F32MatMul(const float* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t tokens,
               float* y, int64_t ldy) {
  StoredMatMul<Stored::kF32>(w, n, k, x, ldx, tokens, y, ldy);
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
