// The decode step of a random-feature attention state (TailDecodeStep in kernel_table.h), fused
// into one routine per ISA. A step of one head reads its projection (d x M) and its state S
// (M x d) once each; at M = 256, d = 64 those are 64 KB apiece and arrive cold (the model's
// weights stream through the caches between layers), while the rest is a few vectors of M. So:
//   1. one pass over the projection gives the key's and every query row's log-features, strips
//      of columns held in registers for up to four rows at a time;
//   2. the scale bookkeeping and the exps run over M-vectors that stay in L1;
//   3. one pass over S serves every query row and the key's update of S.
// It replaced generic kernel calls per step (two one-row GEMMs, a dozen vector passes): one head's
// hot step (favor_bench BM_FavorDecodeStep/M:256/d:64) went from 3.4 to 2.2 us.
#include <math.h>  // INFINITY, FLT_MAX only: no C++ inline math in per-ISA code (see vec.h).

#include <float.h>

#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

// Both passes read cold memory (a model's weights flush the caches between layers) in patterns
// the hardware prefetchers follow late: the projection by strips of columns (rows m floats
// apart), and S one head after another with each head's stream starting cold. Prefetching a few
// rows ahead made the cold step of BM_HybridDecodeCold about an eighth faster (median of 6
// alternating runs: 680 against 785 us above window-only). Prefetches past an array's end are
// harmless (they never fault).
constexpr int64_t kProjectionAheadRows = 8;
constexpr int64_t kStateAheadRows = 16;

// Prefetches the cache lines of n floats from p (for writing when kWrite is 1).
template <int kWrite>
inline void PrefetchFloats(const float* p, int64_t n) {
  constexpr int64_t kLineFloats = 16;
  for (int64_t i = 0; i < n; i += kLineFloats) __builtin_prefetch(p + i, kWrite);
}

// Columns of the projection per strip: 4 vectors (2 with AVX2's 16 registers), so that four rows
// of accumulators and the strip's loads fit in registers.
constexpr int kStripVecs = kLanes == 8 ? 2 : 4;
constexpr int kMaxStripRows = 4;

// out[r][j0 ...] = bias + x[r] . projection columns [j0, j0 + kVecs vectors) for kRows rows (the
// last vector `last_width` wide): each loaded vector of the projection serves kRows FMAs.
template <int kRows, int kVecs>
inline void ProjectStrip(const float* const* x, float* const* out, const float* bias,
                         const float* projection_t, int64_t m, int64_t d, int64_t j0,
                         int64_t last_width) {
  auto width_of = [&](int v) { return v == kVecs - 1 ? last_width : kLanes; };
  auto load = [&](const float* p, int v) {
    return width_of(v) == kLanes ? Load(p) : LoadTail(p, width_of(v));
  };
  VecF32 acc[kRows][kVecs];
  for (int v = 0; v < kVecs; ++v) {
    const VecF32 b = load(bias + j0 + v * kLanes, v);
    for (int r = 0; r < kRows; ++r) acc[r][v] = b;
  }
  for (int64_t p = 0; p < d; ++p) {
    // The strip's rows are m floats apart (and the next strip follows the last row's end).
    const int64_t ahead = p + kProjectionAheadRows;
    PrefetchFloats<0>(ahead < d ? projection_t + ahead * m + j0
                                : projection_t + (ahead - d) * m + j0 + kVecs * kLanes,
                      kVecs * kLanes);
    VecF32 wv[kVecs];
    for (int v = 0; v < kVecs; ++v) wv[v] = load(projection_t + p * m + j0 + v * kLanes, v);
    for (int r = 0; r < kRows; ++r) {
      const VecF32 xv = Set1(x[r][p]);
      for (int v = 0; v < kVecs; ++v) acc[r][v] = Fma(xv, wv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int v = 0; v < kVecs; ++v) {
      float* o = out[r] + j0 + v * kLanes;
      if (width_of(v) == kLanes) {
        Store(o, acc[r][v]);
      } else {
        StoreTail(o, acc[r][v], width_of(v));
      }
    }
  }
}

// The rows of one projection pass: the key (if any) then the query rows, each with its output.
struct ProjectionRows {
  const float* key;  // Null: only query rows.
  float* key_out;
  const float* queries;
  float* query_out;
  int64_t count, m, d;
  const float* in(int64_t r) const {
    return key != nullptr ? (r == 0 ? key : queries + (r - 1) * d) : queries + r * d;
  }
  float* out(int64_t r) const {
    return key != nullptr ? (r == 0 ? key_out : query_out + (r - 1) * m) : query_out + r * m;
  }
};

template <int kVecs>
void ProjectRows(const ProjectionRows& rows, const float* bias, const float* projection_t,
                 int64_t j0, int64_t last_width) {
  // Rows in groups of up to four re-read the strip from L1 (it is d x kVecs vectors).
  for (int64_t r = 0; r < rows.count; r += kMaxStripRows) {
    const float* x[kMaxStripRows];
    float* out[kMaxStripRows];
    const int64_t n = rows.count - r < kMaxStripRows ? rows.count - r : kMaxStripRows;
    for (int64_t i = 0; i < n; ++i) {
      x[i] = rows.in(r + i);
      out[i] = rows.out(r + i);
    }
    const int64_t m = rows.m, d = rows.d;
    switch (n) {
      case 1:
        ProjectStrip<1, kVecs>(x, out, bias, projection_t, m, d, j0, last_width);
        break;
      case 2:
        ProjectStrip<2, kVecs>(x, out, bias, projection_t, m, d, j0, last_width);
        break;
      case 3:
        ProjectStrip<3, kVecs>(x, out, bias, projection_t, m, d, j0, last_width);
        break;
      default:
        ProjectStrip<4, kVecs>(x, out, bias, projection_t, m, d, j0, last_width);
    }
  }
}

// out = bias + projection^T x for every row, strip by strip: one pass over the projection.
void Project(const ProjectionRows& rows, const float* bias, const float* projection_t) {
  const int64_t m = rows.m;
  int64_t j = 0;
  for (; j + kStripVecs * kLanes <= m; j += kStripVecs * kLanes) {
    ProjectRows<kStripVecs>(rows, bias, projection_t, j, kLanes);
  }
  for (; j < m; j += kLanes) {
    ProjectRows<1>(rows, bias, projection_t, j, m - j < kLanes ? m - j : kLanes);
  }
}

// The pass over S for columns [j0, j0 + kVecs vectors) (the last vector `last_width` wide) and up
// to kHeads heads at a time: numerators[h] += sum_m phi[h][m] S[m], and on the last group's pass
// S[m] = S[m] rescale[m] + u[m] v. Rows in order (rather than one column vector down all M rows)
// make S one sequential stream, which the hardware prefetchers follow.
template <int kVecs, int kHeads>
void StateColumns(const float* phi, int64_t heads, float* numerators, float* s, const float* u,
                  const float* v, const float* rescale, int64_t m, int64_t d, int64_t j0,
                  int64_t last_width) {
  auto width_of = [&](int c) { return c == kVecs - 1 ? last_width : kLanes; };
  auto load = [&](const float* p, int c) {
    return width_of(c) == kLanes ? Load(p) : LoadTail(p, width_of(c));
  };
  auto store = [&](float* p, VecF32 x, int c) {
    if (width_of(c) == kLanes) {
      Store(p, x);
    } else {
      StoreTail(p, x, width_of(c));
    }
  };
  for (int64_t h0 = 0; h0 < heads; h0 += kHeads) {
    const int64_t hn = heads - h0 < kHeads ? heads - h0 : kHeads;
    const bool update = u != nullptr && h0 + kHeads >= heads;  // On the last group's pass.
    VecF32 acc[kHeads][kVecs];
    for (int64_t h = 0; h < hn; ++h) {
      for (int c = 0; c < kVecs; ++c)
        acc[h][c] = load(numerators + (h0 + h) * d + j0 + c * kLanes, c);
    }
    VecF32 vv[kVecs];
    for (int c = 0; c < kVecs; ++c) vv[c] = update ? load(v + j0 + c * kLanes, c) : Set1(0.0f);
    for (int64_t f = 0; f < m; ++f) {
      float* row = s + f * d + j0;
      PrefetchFloats<1>(row + kStateAheadRows * d, kVecs * kLanes);
      VecF32 sv[kVecs];
      for (int c = 0; c < kVecs; ++c) sv[c] = load(row + c * kLanes, c);
      for (int64_t h = 0; h < hn; ++h) {
        const VecF32 p = Set1(phi[(h0 + h) * m + f]);
        for (int c = 0; c < kVecs; ++c) acc[h][c] = Fma(p, sv[c], acc[h][c]);
      }
      if (update) {
        // The update rides on the same read of S (after every head has used it).
        const VecF32 weight = Set1(u[f]), scale = Set1(rescale[f]);
        for (int c = 0; c < kVecs; ++c)
          store(row + c * kLanes, Fma(weight, vv[c], sv[c] * scale), c);
      }
    }
    for (int64_t h = 0; h < hn; ++h) {
      for (int c = 0; c < kVecs; ++c)
        store(numerators + (h0 + h) * d + j0 + c * kLanes, acc[h][c], c);
    }
  }
}

// Every query row (up to 8 at a time) shares one read of S: the rows are split into as few column
// chunks as keep heads x vectors accumulators in registers, so one or two rows (d = 64 on
// AVX-512) walk whole rows of S, 4 rows two halves of them, 5 to 8 rows one vector at a time.
void StatePass(const float* phi, int64_t heads, float* numerators, float* s, const float* u,
               const float* v, const float* rescale, int64_t m, int64_t d) {
  const int64_t max_vecs = heads <= 2 ? 4 : heads <= 4 ? 2 : 1;
  for (int64_t j0 = 0; j0 < d; j0 += max_vecs * kLanes) {
    const int64_t columns = d - j0 < max_vecs * kLanes ? d - j0 : max_vecs * kLanes;
    const int64_t vecs = (columns + kLanes - 1) / kLanes;
    const int64_t last_width = columns - (vecs - 1) * kLanes;
    switch (vecs) {
      case 1:
        StateColumns<1, 8>(phi, heads, numerators, s, u, v, rescale, m, d, j0, last_width);
        break;
      case 2:
        StateColumns<2, 4>(phi, heads, numerators, s, u, v, rescale, m, d, j0, last_width);
        break;
      case 3:
        StateColumns<3, 2>(phi, heads, numerators, s, u, v, rescale, m, d, j0, last_width);
        break;
      default:
        StateColumns<4, 2>(phi, heads, numerators, s, u, v, rescale, m, d, j0, last_width);
    }
  }
}

// Lanes of x that are -inf (a feature that holds nothing) take `if_empty`, the others `otherwise`.
inline VecF32 IfEmpty(VecF32 x, VecF32 if_empty, VecF32 otherwise) {
  return SelectLess(x, Set1(-FLT_MAX), if_empty, otherwise);
}

// fn(offset, lanes) over n values by vectors, the last one possibly partial.
template <typename Fn>
inline void ForEachVector(int64_t n, Fn fn) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) fn(i, kLanes);
  if (i < n) fn(i, n - i);
}

inline VecF32 LoadN(const float* p, int64_t lanes, float fill = 0.0f) {
  return lanes == kLanes ? Load(p) : LoadTailFill(p, lanes, fill);
}
inline void StoreN(float* p, VecF32 x, int64_t lanes) {
  if (lanes == kLanes) {
    Store(p, x);
  } else {
    StoreTail(p, x, lanes);
  }
}

}  // namespace

void TailDecode(const TailDecodeStep& step) {
  const int64_t m = step.features, d = step.dim, heads = step.heads;
  const bool joins = step.key != nullptr;
  float* key_logs = step.scratch;
  float* new_scale = key_logs + m;
  float* rescale = new_scale + m;
  float* u = rescale + m;  // The key's weight per feature at the new scales.
  float* phi = u + m;      // heads x M: log-features, then the rows' weights.

  // 1. Log-features of the key and every query row, one pass over the projection.
  Project({.key = step.key,
           .key_out = key_logs,
           .queries = step.queries,
           .query_out = phi,
           .count = heads + (joins ? 1 : 0),
           .m = m,
           .d = d},
          step.bias, step.projection_t);

  // 2. The new scales, the carried state's rescale and the key's weights.
  const VecF32 key_quadratic = Set1(step.key_quadratic), zero = Set1(0.0f), one = Set1(1.0f);
  ForEachVector(m, [&](int64_t i, int64_t lanes) {
    const VecF32 c = LoadN(step.scale + i, lanes, -INFINITY);
    if (!joins) {
      StoreN(new_scale + i, c, lanes);
      StoreN(rescale + i, IfEmpty(c, zero, one), lanes);
      return;
    }
    const VecF32 b = LoadN(key_logs + i, lanes) + key_quadratic;
    const VecF32 c_new = Max(c, b);
    StoreN(new_scale + i, c_new, lanes);
    StoreN(rescale + i, IfEmpty(c, zero, Exp(c - c_new)), lanes);
    StoreN(u + i, Exp(b - c_new), lanes);
  });

  // 3. Each row's scale r_h and weights; the key's share and the denominators.
  for (int64_t h = 0; h < heads; ++h) {
    float* row = phi + h * m;
    VecF32 most = Set1(-INFINITY);
    ForEachVector(m, [&](int64_t i, int64_t lanes) {
      const VecF32 a = LoadN(row + i, lanes) + LoadN(new_scale + i, lanes, -INFINITY);
      StoreN(row + i, a, lanes);
      most = Max(most, a);
    });
    const float r = ReduceMax(most);
    step.row_scales[h] = r;
    float* numerator = step.numerators + h * d;
    if (r == -INFINITY) {  // Nothing held and nothing joining: this row reads nothing.
      ForEachVector(m, [&](int64_t i, int64_t lanes) { StoreN(row + i, zero, lanes); });
      ForEachVector(d, [&](int64_t i, int64_t lanes) { StoreN(numerator + i, zero, lanes); });
      step.denominators[h] = 0.0f;
      continue;
    }
    const VecF32 shift = Set1(r);
    VecF32 own = zero, carried = zero;
    ForEachVector(m, [&](int64_t i, int64_t lanes) {
      const VecF32 e = Exp(LoadN(row + i, lanes, -INFINITY) - shift);
      if (joins) own = Fma(e, LoadN(u + i, lanes), own);
      const VecF32 p = e * LoadN(rescale + i, lanes);  // The carried state at its own scales.
      StoreN(row + i, p, lanes);
      carried = Fma(p, LoadN(step.z + i, lanes), carried);
    });
    const float self = joins ? ReduceSum(own) : 0.0f;
    step.denominators[h] = ReduceSum(carried) + self;
    const VecF32 self_vec = Set1(self);
    ForEachVector(d, [&](int64_t i, int64_t lanes) {
      StoreN(numerator + i, joins ? self_vec * LoadN(step.value + i, lanes) : zero, lanes);
    });
  }

  // 4. One pass over S: every row reads it, then the key joins it.
  StatePass(phi, heads, step.numerators, step.s, joins ? u : nullptr, step.value, rescale, m, d);
  if (!joins) return;
  ForEachVector(m, [&](int64_t i, int64_t lanes) {
    StoreN(step.z + i,
           Fma(LoadN(step.z + i, lanes), LoadN(rescale + i, lanes), LoadN(u + i, lanes)), lanes);
    StoreN(step.scale + i, LoadN(new_scale + i, lanes), lanes);
  });
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
