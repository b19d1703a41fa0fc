// Quantized matrix products on weights repacked with 8 rows interleaved (the layouts are in
// engine/core/quant_interleaved.h): the decode kernels of the formats that have such a layout.
//
// Per block and token, the 8 code vectors of a block (4 codes of each row in each 32-bit lane)
// meet the matching 4 activation codes broadcast to every lane; maddubs sums pairs into int16
// (codes below 16 times |x| <= 127, 8 vectors added: at most 8 * 2 * 15 * 127 = 30480, no
// saturation), one madd widens to the 8 rows' int32 sums, and one FMA scales them by the rows'
// scales. Against the file layout (quant_matmul.cc) this needs no horizontal sums and a third of
// the instructions per weight, which is what decode on 4-bit weights is bound by.
#include <string.h>

#include "engine/core/quant_interleaved.h"
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/quant_kernel_inl.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

using quant::kInterleavedRows;
using quant::kQ4_0x8Codes;
using quant::kQ4_Kx8Codes;
using quant::kQ4_Kx8Dmin;
using quant::kQ4_Kx8Mins;
using quant::kQ4_Kx8Scales;

// The formats: kElements values per block of 8 rows (kBytes), kSubBlocks runs of 32 values each
// with a scale and an offset per row: w = scale * code - offset.
struct Q4_0x8 {
  static constexpr int64_t kElements = 32, kBytes = 144, kSubBlocks = 1;
  static const uint8_t* Runs(const uint8_t* block, int) { return block + kQ4_0x8Codes; }
  static float Scale(const uint8_t* block, int, int r) { return HalfAt(block + 2 * r); }
  static float Offset(const uint8_t* block, int, int r) { return 8.0f * HalfAt(block + 2 * r); }
};

struct Q4_Kx8 {
  static constexpr int64_t kElements = 256, kBytes = 1184, kSubBlocks = 8;
  static const uint8_t* Runs(const uint8_t* block, int s) { return block + kQ4_Kx8Codes + 128 * s; }
  static float Scale(const uint8_t* block, int s, int r) {
    return HalfAt(block + 2 * r) * static_cast<float>(block[kQ4_Kx8Scales + 8 * s + r]);
  }
  static float Offset(const uint8_t* block, int s, int r) {
    return HalfAt(block + kQ4_Kx8Dmin + 2 * r) * static_cast<float>(block[kQ4_Kx8Mins + 8 * s + r]);
  }
};

#if defined(__AVX2__)

// The 8 rows' f16 values at p as floats.
__m256 Halves8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The 8 rows' unsigned bytes at p as floats.
__m256 Bytes8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// Per-row scales and offsets of every sub-block of a block, as vectors over the 8 rows.
template <typename F>
void RowScales(const uint8_t* block, __m256* scales, __m256* offsets) {
  if constexpr (F::kSubBlocks == 1) {
    scales[0] = Halves8(block);
    offsets[0] = _mm256_mul_ps(scales[0], _mm256_set1_ps(8.0f));
  } else {
    const __m256 d = Halves8(block), dmin = Halves8(block + kQ4_Kx8Dmin);
    for (int s = 0; s < 8; ++s) {
      scales[s] = _mm256_mul_ps(d, Bytes8(block + kQ4_Kx8Scales + 8 * s));
      offsets[s] = _mm256_mul_ps(dmin, Bytes8(block + kQ4_Kx8Mins + 8 * s));
    }
  }
}

template <typename F, int kTokens>
void Group(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  __m256 acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t blocks = x.k / F::kElements;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * F::kBytes;
    __m256 scales[F::kSubBlocks], offsets[F::kSubBlocks];
    RowScales<F>(block, scales, offsets);
    for (int s = 0; s < F::kSubBlocks; ++s) {
      const int64_t chunk = b * F::kSubBlocks + s;  // The activations' block of 32.
      const uint8_t* runs = F::Runs(block, s);
      __m256i codes[8];
      for (int m = 0; m < 4; ++m) {
        const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(runs + 32 * m));
        codes[2 * m] = _mm256_and_si256(packed, low);
        codes[2 * m + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
      }
      for (int t = 0; t < kTokens; ++t) {
        const int8_t* xc = x.codes + t * x.k + chunk * kQ8Block;
        __m256i pairs = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
          int32_t four;
          memcpy(&four, xc + 4 * j, 4);
          pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(codes[j], _mm256_set1_epi32(four)));
        }
        const __m256 dots = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
        const float dx = x.scales[t * (x.k / kQ8Block) + chunk];
        const float* sums = x.sums + t * (x.k / 16) + 2 * chunk;
        acc[t] = _mm256_fmadd_ps(dots, _mm256_mul_ps(scales[s], _mm256_set1_ps(dx)), acc[t]);
        acc[t] = _mm256_fnmadd_ps(offsets[s], _mm256_set1_ps(sums[0] + sums[1]), acc[t]);
      }
    }
  }
  for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

#else

// The scalar reference: each row's codes read back from the runs.
template <typename F, int kTokens>
void Group(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  const int64_t blocks = x.k / F::kElements;
  for (int r = 0; r < kInterleavedRows; ++r) {
    float acc[kTokens] = {};
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = group + b * F::kBytes;
      for (int s = 0; s < F::kSubBlocks; ++s) {
        const int64_t chunk = b * F::kSubBlocks + s;
        const uint8_t* runs = F::Runs(block, s);
        const float scale = F::Scale(block, s, r), offset = F::Offset(block, s, r);
        for (int t = 0; t < kTokens; ++t) {
          const int8_t* xc = x.codes + t * x.k + chunk * kQ8Block;
          int32_t dot = 0;
          for (int m = 0; m < 4; ++m) {
            for (int i = 0; i < 4; ++i) {
              const uint8_t byte = runs[32 * m + 4 * r + i];
              dot += (byte & 0x0F) * xc[8 * m + i] + (byte >> 4) * xc[8 * m + 4 + i];
            }
          }
          const float dx = x.scales[t * (x.k / kQ8Block) + chunk];
          const float* sums = x.sums + t * (x.k / 16) + 2 * chunk;
          acc[t] += scale * dx * static_cast<float>(dot) - offset * (sums[0] + sums[1]);
        }
      }
    }
    for (int t = 0; t < kTokens; ++t) y[t * ldy + r] = acc[t];
  }
}

#endif

template <typename F>
void InterleavedMatMul(const void* w, int64_t groups, const Q8Rows& x, int64_t tokens, float* y,
                       int64_t ldy) {
  const auto* group = static_cast<const uint8_t*>(w);
  const int64_t group_bytes = x.k / F::kElements * F::kBytes;
  for (int64_t g = 0; g < groups; ++g, group += group_bytes, y += kInterleavedRows) {
    switch (tokens) {
      case 1:
        Group<F, 1>(group, x, y, ldy);
        break;
      case 2:
        Group<F, 2>(group, x, y, ldy);
        break;
      case 3:
        Group<F, 3>(group, x, y, ldy);
        break;
      default:
        static_assert(kQuantMaxTokens == 4);
        Group<F, 4>(group, x, y, ldy);
    }
  }
}

}  // namespace

static_assert(static_cast<int>(DType::kQ4_0) == 5 && static_cast<int>(DType::kQ4_K) == 11 &&
              kDTypeCount == 14);
const InterleavedMatMulFn kInterleavedMatMul[kDTypeCount] = {
    nullptr,                     // f32
    nullptr,                     // f16
    nullptr,                     // bf16
    nullptr,                     // i32
    nullptr,                     // q8_0
    &InterleavedMatMul<Q4_0x8>,  // q4_0
    nullptr,                     // q4_1
    nullptr,                     // q5_0
    nullptr,                     // q5_1
    nullptr,                     // q2_k
    nullptr,                     // q3_k
    &InterleavedMatMul<Q4_Kx8>,  // q4_k
    nullptr,                     // q5_k
    nullptr,                     // q6_k
};

}  // namespace favor::kernels::FAVOR_KERNEL_NS
