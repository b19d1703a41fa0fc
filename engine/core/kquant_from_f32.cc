// The K-quants' reference quantizers (no importance matrix), as ggml's quantize_row_q*_K_ref
// define them: per sub-block, a search for the scale (and min) that minimises a weighted error,
// then the sub-block scales quantized to 4, 6 or 8 bits under an f16 super-block scale, then
// every value rounded against its dequantized sub-block scale.
//
// The goal is ggml's output bit for bit (tests/core/quant_blocks_test.cc compares against its
// blocks), so every product and sum is written in ggml's order, one operation at a time, and
// this file is compiled without FMA contraction, as ggml's is. A super-block holding a NaN or an
// Inf is stored with a NaN scale and zero codes, which the loader's NaN check refuses.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/core/half.h"
#include "engine/core/quant_blocks.h"
#include "engine/core/quant_scales_inl.h"

namespace favor::quant {
namespace {

// Below this largest magnitude a sub-block counts as all zeros.
constexpr float kZeroGroup = 1e-15f;

// Symmetric codes in [-nmax, nmax) for n values, weighted by x^2: the scale maps the value of
// largest magnitude to -nmax, then 18 nearby scales are tried and the one of least weighted
// squared error kept (ggml's make_qx_quants with rmse_type 1). L receives codes + nmax.
float SymmetricScale(int n, int nmax, const float* x, int8_t* L) {
  const float max = SignedMax(x, n);
  if (std::fabs(max) < kZeroGroup) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto code = [&](float iscale, int i) {
    return std::max(-nmax, std::min(nmax - 1, NearestInt(iscale * x[i])));
  };
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = code(iscale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = code(iscale, i);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + code(iscale, i));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's variant (ggml's make_q3_quants with do_rmse): codes start from the largest magnitude's
// scale, then each is moved, one at a time for up to 5 rounds, to the value that best fits the
// others' least-squares scale. L receives codes + nmax.
float SymmetricScaleRefined(int n, int nmax, const float* x, int8_t* L) {
  const float max = SignedMax(x, n);
  if (std::fabs(max) < kZeroGroup) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::max(-nmax, std::min(nmax - 1, NearestInt(iscale * x[i])));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int round = 0; round < 5; ++round) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * static_cast<float>(L[i]);
      if (slx <= 0) continue;
      float sl2 = suml2 - w * static_cast<float>(L[i]) * static_cast<float>(L[i]);
      const int new_l = std::max(-nmax, std::min(nmax - 1, NearestInt(x[i] * sl2 / slx)));
      if (new_l == L[i]) continue;
      slx += w * x[i] * static_cast<float>(new_l);
      sl2 += w * static_cast<float>(new_l) * static_cast<float>(new_l);
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<int8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sumlx / suml2;
}

// Asymmetric codes in [0, nmax] (x ~ scale * code - min) for n weighted values: from the range
// [min(x, 0), max(x)], nstep + 1 scales (rmin + rdelta * step + nmax steps over the range) are
// tried, each with its least-squares scale and min, keeping the one of least weighted error
// (absolute with use_mad, else squared) (ggml's make_qkx2_quants). Returns the scale; *the_min
// receives the min as a positive offset.
float AsymmetricScale(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                      float* the_min, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *the_min = -min;
    return 0.0f;
  }
  const auto error = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    best_error += weights[i] * error(scale * static_cast<float>(L[i]) + min - x[i]);
  }
  uint8_t candidate[32];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, NearestInt(iscale * (x[i] - min))));
      candidate[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * static_cast<float>(l);
      sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
      sum_xl += w * static_cast<float>(l) * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float this_error = 0;
    for (int i = 0; i < n; ++i) {
      this_error +=
          weights[i] * error(this_scale * static_cast<float>(candidate[i]) + this_min - x[i]);
    }
    if (this_error < best_error) {
      std::copy(candidate, candidate + n, L);
      best_error = this_error;
      scale = this_scale;
      min = this_min;
    }
  }
  *the_min = -min;
  return scale;
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins (packed as ScaleMinK4 reads
// them), codes of kBits bits; Q5_K keeps the fifth bits in qh[32] (bit c of byte l: chunk c's
// value l).
template <int kBits>
void KQuant45FromF32(const float* values, void* out, int64_t count) {
  constexpr int kMax = (1 << kBits) - 1;
  constexpr int64_t kBytes = kBits == 4 ? kQ4_KBytes : kQ5_KBytes;
  constexpr int64_t kQsAt = kBits == 4 ? 16 : 48;
  // The search grids ggml uses for each width.
  constexpr float kRmin = kBits == 4 ? -1.0f : -0.5f;
  constexpr int kSteps = kBits == 4 ? 20 : 15;
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kBytes) {
    const float* x = values + b * kSuperBlock;
    if (!FiniteOrPoisoned(x, kSuperBlock, block, kBytes, {0, 2})) continue;
    uint8_t L[kSuperBlock];
    float scales[8], mins[8], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
      scales[j] =
          AsymmetricScale(32, kMax, xs, weights, L + 32 * j, &mins[j], kRmin, 0.1f, kSteps, false);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t* packed = block + 4;
    std::memset(packed, 0, 12);
    for (int j = 0; j < 8; ++j) {
      const auto ls = static_cast<uint8_t>(
          std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_scale * scales[j]))));
      const auto lm = static_cast<uint8_t>(
          std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_min * mins[j]))));
      if (j < 4) {
        packed[j] = ls;
        packed[j + 4] = lm;
      } else {
        packed[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | ((ls >> 4) << 6));
        packed[j] = static_cast<uint8_t>(packed[j] | ((lm >> 4) << 6));
      }
    }
    StoreF16(block, max_scale / 63.f);
    StoreF16(block + 2, max_min / 63.f);
    const float d_all = F16At(block), dmin_all = F16At(block + 2);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      ScaleMinK4(j, packed, &sc, &m);
      const float d = d_all * static_cast<float>(sc);
      if (d == 0.0f) continue;
      const float dm = dmin_all * static_cast<float>(m);
      for (int i = 0; i < 32; ++i) {
        const int l = NearestInt((x[32 * j + i] + dm) / d);
        L[32 * j + i] = static_cast<uint8_t>(std::max(0, std::min(kMax, l)));
      }
    }
    uint8_t* qs = block + kQsAt;
    if constexpr (kBits == 5) std::memset(block + 16, 0, 32);
    for (int n = 0; n < 4; ++n) {  // Values 64n..64n+63: chunks 2n and 2n + 1.
      for (int l = 0; l < 32; ++l) {
        const int low = L[64 * n + l], high = L[64 * n + 32 + l];
        qs[32 * n + l] = static_cast<uint8_t>((low & 0xF) | ((high & 0xF) << 4));
        if constexpr (kBits == 5) {
          block[16 + l] = static_cast<uint8_t>(block[16 + l] | ((low >> 4) << (2 * n)) |
                                               ((high >> 4) << (2 * n + 1)));
        }
      }
    }
  }
}

}  // namespace

// Q2_K: 16 sub-blocks of 16, 2-bit codes, 4-bit scales and mins under f16 d and dmin.
void Q2_KFromF32(const float* values, void* out, int64_t count) {
  constexpr float kScaleMax = 15.f;
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ2_KBytes) {
    const float* x = values + b * kSuperBlock;
    if (!FiniteOrPoisoned(x, kSuperBlock, block, kQ2_KBytes, {80, 82})) continue;
    uint8_t L[kSuperBlock];
    float scales[16], mins[16], weights[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] =
          AsymmetricScale(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    uint8_t* packed = block;
    std::memset(packed, 0, 16);
    if (max_scale > 0) {
      const float iscale = kScaleMax / max_scale;
      for (int j = 0; j < 16; ++j) packed[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
    }
    StoreF16(block + 80, max_scale > 0 ? max_scale / kScaleMax : 0.f);
    if (max_min > 0) {
      const float iscale = kScaleMax / max_min;
      for (int j = 0; j < 16; ++j) {
        packed[j] = static_cast<uint8_t>(packed[j] | (NearestInt(iscale * mins[j]) << 4));
      }
    }
    StoreF16(block + 82, max_min > 0 ? max_min / kScaleMax : 0.f);
    const float d_all = F16At(block + 80), dmin_all = F16At(block + 82);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * static_cast<float>(packed[j] & 0xF);
      if (d == 0.0f) continue;
      const float dm = dmin_all * static_cast<float>(packed[j] >> 4);
      for (int i = 0; i < 16; ++i) {
        const int l = NearestInt((x[16 * j + i] + dm) / d);
        L[16 * j + i] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
      }
    }
    uint8_t* qs = block + 16;
    for (int n = 0; n < 2; ++n) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* v = L + 128 * n + l;
        qs[32 * n + l] = static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
      }
    }
  }
}

// Q3_K: 16 sub-blocks of 16, 3-bit codes (two low bits in qs, the third in hmask), 6-bit scales
// offset by 32 under f16 d.
void Q3_KFromF32(const float* values, void* out, int64_t count) {
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ3_KBytes) {
    const float* x = values + b * kSuperBlock;
    if (!FiniteOrPoisoned(x, kSuperBlock, block, kQ3_KBytes, {108})) continue;
    int8_t L[kSuperBlock];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = SymmetricScaleRefined(16, 4, x + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    uint8_t* packed = block + 96;
    std::memset(packed, 0, 12);
    if (max_scale != 0.0f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = std::max(-32, std::min(31, NearestInt(iscale * scales[j]))) + 32;
        if (j < 8) {
          packed[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          packed[j - 8] = static_cast<uint8_t>(packed[j - 8] | ((l & 0xF) << 4));
        }
        packed[j % 4 + 8] = static_cast<uint8_t>(packed[j % 4 + 8] | ((l >> 4) << (2 * (j / 4))));
      }
      StoreF16(block + 108, 1 / iscale);
    } else {
      StoreF16(block + 108, 0.f);
    }
    int8_t unpacked[16];
    UnpackQ3_KScales(packed, unpacked);
    const float d_all = F16At(block + 108);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * static_cast<float>(unpacked[j] - 32);
      if (d == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        const int l = std::max(-4, std::min(3, NearestInt(x[16 * j + i] / d)));
        L[16 * j + i] = static_cast<int8_t>(l + 4);
      }
    }
    uint8_t* hmask = block;
    std::memset(hmask, 0, 32);
    for (int j = 0; j < kSuperBlock; ++j) {  // Value j: byte j % 32, bit j / 32.
      if (L[j] > 3) {
        hmask[j % 32] = static_cast<uint8_t>(hmask[j % 32] | (1 << (j / 32)));
        L[j] = static_cast<int8_t>(L[j] - 4);
      }
    }
    uint8_t* qs = block + 32;
    for (int n = 0; n < 2; ++n) {
      for (int l = 0; l < 32; ++l) {
        const int8_t* v = L + 128 * n + l;
        qs[32 * n + l] = static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
      }
    }
  }
}

void Q4_KFromF32(const float* values, void* out, int64_t count) {
  KQuant45FromF32<4>(values, out, count);
}

void Q5_KFromF32(const float* values, void* out, int64_t count) {
  KQuant45FromF32<5>(values, out, count);
}

// Q6_K: 16 sub-blocks of 16, 6-bit codes (ql: low 4 bits, qh: high 2), int8 scales under f16 d.
void Q6_KFromF32(const float* values, void* out, int64_t count) {
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ6_KBytes) {
    const float* x = values + b * kSuperBlock;
    if (!FiniteOrPoisoned(x, kSuperBlock, block, kQ6_KBytes, {208})) continue;
    int8_t L[kSuperBlock];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = SymmetricScale(16, 32, x + 16 * j, L + 16 * j);
      const float abs_scale = std::fabs(scales[j]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[j];
      }
    }
    if (max_abs_scale < kZeroGroup) {
      std::memset(block, 0, kQ6_KBytes);
      continue;
    }
    const float iscale = -128.f / max_scale;
    StoreF16(block + 208, 1 / iscale);
    auto* sc = reinterpret_cast<int8_t*>(block + 192);
    for (int j = 0; j < 16; ++j)
      sc[j] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[j])));
    const float d_all = F16At(block + 208);
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * static_cast<float>(sc[j]);
      if (d == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        const int l = std::max(-32, std::min(31, NearestInt(x[16 * j + i] / d)));
        L[16 * j + i] = static_cast<int8_t>(l + 32);
      }
    }
    uint8_t* ql = block;
    uint8_t* qh = block + 128;
    for (int n = 0; n < 2; ++n) {
      for (int l = 0; l < 32; ++l) {
        const int8_t* v = L + 128 * n + l;
        ql[64 * n + l] = static_cast<uint8_t>((v[0] & 0xF) | ((v[64] & 0xF) << 4));
        ql[64 * n + 32 + l] = static_cast<uint8_t>((v[32] & 0xF) | ((v[96] & 0xF) << 4));
        qh[32 * n + l] = static_cast<uint8_t>((v[0] >> 4) | ((v[32] >> 4) << 2) |
                                              ((v[64] >> 4) << 4) | ((v[96] >> 4) << 6));
      }
    }
  }
}

}  // namespace favor::quant
