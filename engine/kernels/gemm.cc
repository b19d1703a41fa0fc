// A small register-blocked GEMM, compiled once per ISA: blocks of 4 rows x one vector of columns
// kept in registers while k runs, so each loaded element of B serves 4 FMAs. Enough for the
// random-feature attention products (tens to hundreds in every dimension), where a library call
// per small product would cost more than the product.
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

// kRows rows x kVecs vectors of columns of C in registers while k runs: each loaded element of B
// serves kRows FMAs and each broadcast of A serves kVecs, and 4 x 2 = 8 independent accumulator
// chains cover the FMA latency on two FMA ports. Columns start at j0; the last vector may be
// partial (width).
template <int kRows, int kVecs>
inline void Tile(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate, int64_t j0, int64_t last_width) {
  VecF32 acc[kRows][kVecs];
  auto width_of = [&](int v) { return v == kVecs - 1 ? last_width : kLanes; };
  for (int r = 0; r < kRows; ++r) {
    for (int v = 0; v < kVecs; ++v) {
      const float* cp = c + r * ldc + j0 + v * kLanes;
      acc[r][v] = !accumulate             ? Set1(0.0f)
                  : width_of(v) == kLanes ? Load(cp)
                                          : LoadTail(cp, width_of(v));
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    VecF32 bv[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      const float* bp = b + p * ldb + j0 + v * kLanes;
      bv[v] = width_of(v) == kLanes ? Load(bp) : LoadTail(bp, width_of(v));
    }
    for (int r = 0; r < kRows; ++r) {
      const VecF32 av = Set1(a[r * lda + p]);
      for (int v = 0; v < kVecs; ++v) acc[r][v] = Fma(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int v = 0; v < kVecs; ++v) {
      float* cp = c + r * ldc + j0 + v * kLanes;
      if (width_of(v) == kLanes) {
        Store(cp, acc[r][v]);
      } else {
        StoreTail(cp, acc[r][v], width_of(v));
      }
    }
  }
}

template <int kRows>
inline void Block(int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* c, int64_t ldc, bool accumulate) {
  int64_t j = 0;
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    Tile<kRows, 2>(k, a, lda, b, ldb, c, ldc, accumulate, j, kLanes);
  }
  for (; j < n; j += kLanes) {
    Tile<kRows, 1>(k, a, lda, b, ldb, c, ldc, accumulate, j, n - j < kLanes ? n - j : kLanes);
  }
}

}  // namespace

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + 6 <= m; i += 6) Block<6>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
  for (; i + 4 <= m; i += 4) Block<4>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
  for (; i < m; ++i) Block<1>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

// One group of kMatVecGroup output rows: kMatVecGroup x kRows independent accumulator chains hide
// the FMA latency, and each x vector loaded serves the whole group. kRows is a template parameter
// so that the accumulators stay in registers.
template <int kRows>
inline void MatVecGroup(const uint16_t* w, int64_t k, const float* x, int64_t ldx, float* y,
                        int64_t ldy, int64_t valid_rows) {
  constexpr int64_t kGroup = kMatVecGroup, kBlock = kMatVecBlock;
  constexpr int64_t kPrefetchAhead = 32 * kGroup * kBlock;  // 4 KiB ahead (tuned here).
  VecF32 acc[kGroup][kRows];
  for (int64_t o = 0; o < kGroup; ++o) {
    for (int r = 0; r < kRows; ++r) acc[o][r] = Set1(0.0f);
  }
  for (int64_t p = 0; p < k; p += kBlock, w += kGroup * kBlock) {
    __builtin_prefetch(w + kPrefetchAhead);
    for (int64_t s = 0; s < kBlock && p + s < k; s += kLanes) {
      const int64_t width = k - p - s;  // The weights are zero-padded; x is not.
      VecF32 wv[kGroup];
      for (int64_t o = 0; o < kGroup; ++o) wv[o] = LoadBF16(w + o * kBlock + s);
      for (int r = 0; r < kRows; ++r) {
        const float* xr = x + r * ldx + p + s;
        const VecF32 xv = width >= kLanes ? Load(xr) : LoadTail(xr, width);
        for (int64_t o = 0; o < kGroup; ++o) acc[o][r] = Fma(wv[o], xv, acc[o][r]);
      }
    }
  }
  for (int64_t o = 0; o < valid_rows; ++o) {
    for (int r = 0; r < kRows; ++r) y[r * ldy + o] = ReduceSum(acc[o][r]);
  }
}

template <int kRows>
void MatVecAllGroups(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, float* y,
                     int64_t ldy) {
  const int64_t padded_k = (k + kMatVecBlock - 1) / kMatVecBlock * kMatVecBlock;
  for (int64_t i = 0; i < n; i += kMatVecGroup, w += kMatVecGroup * padded_k) {
    const int64_t valid = n - i < kMatVecGroup ? n - i : kMatVecGroup;
    MatVecGroup<kRows>(w, k, x, ldx, y + i, ldy, valid);
  }
}

}  // namespace

void MatVecBf16(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t rows,
                float* y, int64_t ldy) {
  static_assert(kMatVecMaxRows == 4 && kMatVecBlock % kLanes == 0);
  switch (rows) {
    case 1:
      MatVecAllGroups<1>(w, n, k, x, ldx, y, ldy);
      break;
    case 2:
      MatVecAllGroups<2>(w, n, k, x, ldx, y, ldy);
      break;
    case 3:
      MatVecAllGroups<3>(w, n, k, x, ldx, y, ldy);
      break;
    default:
      MatVecAllGroups<4>(w, n, k, x, ldx, y, ldy);
      break;
  }
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
