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

// FavorDecode over columns [j0, j0 + kVecs vectors) of S (the last vector `last_width` wide) for
// up to kHeads heads at a time: the rows of S are walked in order, each row's kVecs vectors read
// once for every head of the group and, on the last group's pass, written back updated. Rows in
// order (rather than one column vector down all M rows) make S one sequential stream, which the
// hardware prefetchers follow; at M = 256, d = 64 it is 64 KB per head and token.
template <int kVecs, int kHeads>
void FavorDecodeColumns(const float* phi, int64_t heads, float* numerators, float* s,
                        const float* w, const float* v, const float* rescale, int64_t m, int64_t d,
                        int64_t j0, int64_t last_width) {
  auto width_of = [&](int u) { return u == kVecs - 1 ? last_width : kLanes; };
  auto load = [&](const float* p, int u) {
    return width_of(u) == kLanes ? Load(p) : LoadTail(p, width_of(u));
  };
  auto store = [&](float* p, VecF32 x, int u) {
    if (width_of(u) == kLanes) {
      Store(p, x);
    } else {
      StoreTail(p, x, width_of(u));
    }
  };
  for (int64_t h0 = 0; h0 < heads; h0 += kHeads) {
    const int64_t hn = heads - h0 < kHeads ? heads - h0 : kHeads;
    const bool update = w != nullptr && h0 + kHeads >= heads;  // On the last group's pass.
    VecF32 acc[kHeads][kVecs];
    for (int64_t h = 0; h < hn; ++h) {
      for (int u = 0; u < kVecs; ++u)
        acc[h][u] = load(numerators + (h0 + h) * d + j0 + u * kLanes, u);
    }
    VecF32 vv[kVecs];
    for (int u = 0; u < kVecs; ++u) vv[u] = update ? load(v + j0 + u * kLanes, u) : Set1(0.0f);
    for (int64_t f = 0; f < m; ++f) {
      float* row = s + f * d + j0;
      VecF32 sv[kVecs];
      for (int u = 0; u < kVecs; ++u) sv[u] = load(row + u * kLanes, u);
      for (int64_t h = 0; h < hn; ++h) {
        const VecF32 p = Set1(phi[(h0 + h) * m + f]);
        for (int u = 0; u < kVecs; ++u) acc[h][u] = Fma(p, sv[u], acc[h][u]);
      }
      if (update) {
        // The state update rides on the same read of S (after every head has used it).
        const VecF32 weight = Set1(w[f]), scale = Set1(rescale[f]);
        for (int u = 0; u < kVecs; ++u)
          store(row + u * kLanes, Fma(weight, vv[u], sv[u] * scale), u);
      }
    }
    for (int64_t h = 0; h < hn; ++h) {
      for (int u = 0; u < kVecs; ++u)
        store(numerators + (h0 + h) * d + j0 + u * kLanes, acc[h][u], u);
    }
  }
}

}  // namespace

// Every query head of a group (up to 8) shares one read of S: the rows are split into as few
// column chunks as keep heads x vectors accumulators in registers, so a head of its own (d = 64
// on AVX-512) walks whole rows, 4 heads two halves of them, 5 to 8 heads one vector of them at a
// time. More than 8 heads read S again per group of 8.
void FavorDecode(const float* phi, int64_t heads, float* numerators, float* s, const float* w,
                 const float* v, const float* rescale, int64_t m, int64_t d) {
  const int64_t max_vecs = heads <= 2 ? 4 : heads <= 4 ? 2 : 1;
  for (int64_t j0 = 0; j0 < d; j0 += max_vecs * kLanes) {
    const int64_t columns = d - j0 < max_vecs * kLanes ? d - j0 : max_vecs * kLanes;
    const int64_t vecs = (columns + kLanes - 1) / kLanes;
    const int64_t last_width = columns - (vecs - 1) * kLanes;
    switch (vecs) {
      case 1:
        FavorDecodeColumns<1, 8>(phi, heads, numerators, s, w, v, rescale, m, d, j0, last_width);
        break;
      case 2:
        FavorDecodeColumns<2, 4>(phi, heads, numerators, s, w, v, rescale, m, d, j0, last_width);
        break;
      case 3:
        FavorDecodeColumns<3, 2>(phi, heads, numerators, s, w, v, rescale, m, d, j0, last_width);
        break;
      default:
        FavorDecodeColumns<4, 2>(phi, heads, numerators, s, w, v, rescale, m, d, j0, last_width);
    }
  }
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
