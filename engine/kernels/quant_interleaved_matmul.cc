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

#include <type_traits>

#include "engine/core/quant_blocks.h"
#include "engine/core/quant_interleaved.h"
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/quant_kernel_inl.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

using quant::kInterleavedRows;
using quant::kIQ4_XSx8Codes;
using quant::kIQ4_XSx8Scales;
using quant::kQ4_0x8Codes;
using quant::kQ4_Kx8Codes;
using quant::kQ4_Kx8Dmin;
using quant::kQ4_Kx8Mins;
using quant::kQ4_Kx8Scales;
using quant::kQ6_Kx8Chunk;
using quant::kQ6_Kx8Codes;
using quant::kQ6_Kx8Scales;
using quant::kQ8_0x8Codes;

// The formats: kElements values per block of 8 rows (kBytes), kSubBlocks runs of 32 values each
// with a scale and an offset per row: w = scale * code - offset.
struct Q4_0x8 {
  static constexpr int kCodeBits = 4;
  static int Level(int code) { return code; }
  static constexpr int64_t kElements = 32, kBytes = 144, kSubBlocks = 1;
  static const uint8_t* Runs(const uint8_t* block, int) { return block + kQ4_0x8Codes; }
  static float Scale(const uint8_t* block, int, int r) { return HalfAt(block + 2 * r); }
  static float Offset(const uint8_t* block, int, int r) { return 8.0f * HalfAt(block + 2 * r); }
};

// Q4_K and Q5_K: sub-blocks of 32 with 6-bit scales and mins; Q5_K's runs carry fifth bits.
template <int kBits>
struct KQuantx8 {
  static constexpr int kCodeBits = kBits;
  static int Level(int code) { return code; }
  static constexpr int64_t kChunk = kBits == 4 ? 128 : quant::kQ5_Kx8Chunk;
  static constexpr int64_t kElements = 256, kBytes = kQ4_Kx8Codes + 8 * kChunk, kSubBlocks = 8;
  static const uint8_t* Runs(const uint8_t* block, int s) {
    return block + kQ4_Kx8Codes + kChunk * s;
  }
  static float Scale(const uint8_t* block, int s, int r) {
    return HalfAt(block + 2 * r) * static_cast<float>(block[kQ4_Kx8Scales + 8 * s + r]);
  }
  static float Offset(const uint8_t* block, int s, int r) {
    return HalfAt(block + kQ4_Kx8Dmin + 2 * r) * static_cast<float>(block[kQ4_Kx8Mins + 8 * s + r]);
  }
};
using Q4_Kx8 = KQuantx8<4>;
using Q5_Kx8 = KQuantx8<5>;

// Q8_0: signed codes, one scale per block of 32.
struct Q8_0x8 {
  static constexpr int64_t kElements = 32, kBytes = 272;
};

// Q6_K: chunks of 32 values whose two halves (vectors 0-3 and 4-7) have their own scales; codes
// of 6 bits, w = d scale (code - 32).
struct Q6_Kx8 {
  static constexpr int64_t kElements = 256, kBytes = 1680, kChunks = 8;
  static const uint8_t* Chunk(const uint8_t* block, int c) {
    return block + kQ6_Kx8Codes + kQ6_Kx8Chunk * c;
  }
  // Sub-block j (of 16 values) of row r.
  static float Scale(const uint8_t* block, int j, int r) {
    return HalfAt(block + 2 * r) *
           static_cast<float>(static_cast<int8_t>(block[kQ6_Kx8Scales + 8 * j + r]));
  }
};

// The non-linear formats: 4-bit indices into signed int8 levels, one scale per run of 32 and
// row, no offset. IQ4_NL: one run per block under the row's d; IQ4_XS: 8 runs under d times the
// run's int8 sub-scale.
template <bool kSuper>
struct NonLinearx8 {
  static constexpr int64_t kElements = kSuper ? 256 : 32;
  static constexpr int64_t kBytes = kSuper ? kIQ4_XSx8Codes + 8 * 128 : 144;
  static constexpr int kSubBlocks = kSuper ? 8 : 1;
  static const uint8_t* Runs(const uint8_t* block, int s) {
    return kSuper ? block + kIQ4_XSx8Codes + 128 * s : block + kQ4_0x8Codes;
  }
  static constexpr int kCodeBits = 4;
  static int Level(int code) { return quant::kIQ4Levels[code]; }
  static float Scale(const uint8_t* block, int s, int r) {
    const float d = HalfAt(block + 2 * r);
    if constexpr (!kSuper) return d;
    return d * static_cast<float>(static_cast<int8_t>(block[kIQ4_XSx8Scales + 8 * s + r]));
  }
  static float Offset(const uint8_t*, int, int) { return 0.0f; }
};
using IQ4_NLx8 = NonLinearx8<false>;
using IQ4_XSx8 = NonLinearx8<true>;

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
      if constexpr (F::kCodeBits == 5) {
        const __m256i fifth = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(runs + 128));
        for (int j = 0; j < 8; ++j) {
          const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(fifth, j), _mm256_set1_epi8(1));
          codes[j] = _mm256_or_si256(codes[j], _mm256_slli_epi16(bit, 4));
        }
      }
      for (int t = 0; t < kTokens; ++t) {
        const int8_t* xc = x.codes + t * x.k + chunk * kQ8Block;
        // int16 sums of pairs: 8 vectors of 4-bit codes (8 * 2 * 15 * 127 = 30480), or 4 of
        // 5-bit ones (4 * 2 * 31 * 127 = 31496), before widening.
        constexpr int kPerSum = F::kCodeBits == 4 ? 8 : 4;
        __m256i dots32 = _mm256_setzero_si256();
        for (int first = 0; first < 8; first += kPerSum) {
          __m256i pairs = _mm256_setzero_si256();
          for (int j = first; j < first + kPerSum; ++j) {
            int32_t four;
            memcpy(&four, xc + 4 * j, 4);
            pairs =
                _mm256_add_epi16(pairs, _mm256_maddubs_epi16(codes[j], _mm256_set1_epi32(four)));
          }
          dots32 = _mm256_add_epi32(dots32, _mm256_madd_epi16(pairs, ones));
        }
        const __m256 dots = _mm256_cvtepi32_ps(dots32);
        const float dx = x.scales[t * (x.k / kQ8Block) + chunk];
        const float* sums = x.sums + t * (x.k / 16) + 2 * chunk;
        acc[t] = _mm256_fmadd_ps(dots, _mm256_mul_ps(scales[s], _mm256_set1_ps(dx)), acc[t]);
        acc[t] = _mm256_fnmadd_ps(offsets[s], _mm256_set1_ps(sums[0] + sums[1]), acc[t]);
      }
    }
  }
  for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// 8 vectors of signed codes (4 of each row in each 32-bit lane, values 0-31 of a run) times the
// activations' block `chunk` of each token, scaled per row by `scales` and the block's dx, into
// acc. maddubs takes |w| times x with w's sign (pairs up to 2 * 127 * 128: one vector's pairs at a
// time widen to int32).
template <int kTokens>
void AddSignedRun(const __m256i* codes, __m256 scales, const Q8Rows& x, int64_t chunk,
                  __m256* acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i magnitudes[8];
  for (int j = 0; j < 8; ++j) magnitudes[j] = _mm256_sign_epi8(codes[j], codes[j]);
  for (int t = 0; t < kTokens; ++t) {
    const int8_t* xc = x.codes + t * x.k + chunk * kQ8Block;
    __m256i dots = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      int32_t four;
      memcpy(&four, xc + 4 * j, 4);
      const __m256i signed_x = _mm256_sign_epi8(_mm256_set1_epi32(four), codes[j]);
      dots = _mm256_add_epi32(
          dots, _mm256_madd_epi16(_mm256_maddubs_epi16(magnitudes[j], signed_x), ones));
    }
    const float dx = x.scales[t * (x.k / kQ8Block) + chunk];
    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(scales, _mm256_set1_ps(dx)),
                             acc[t]);
  }
}

// Q8_0: the codes as stored.
template <int kTokens>
void Group8(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  __m256 acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
  const int64_t blocks = x.k / Q8_0x8::kElements;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * Q8_0x8::kBytes;
    __m256i codes[8];
    for (int j = 0; j < 8; ++j) {
      codes[j] =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kQ8_0x8Codes + 32 * j));
    }
    AddSignedRun<kTokens>(codes, Halves8(block), x, b, acc);
  }
  for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// The non-linear formats: each run's nibbles become their levels by one byte shuffle, then meet
// the activations as Q8_0's signed codes do.
template <typename F, int kTokens>
void GroupLevels(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  __m256 acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIQ4Levels));
  const __m256i levels = _mm256_set_m128i(table, table);
  const int64_t blocks = x.k / F::kElements;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * F::kBytes;
    const __m256 d = Halves8(block);
    for (int s = 0; s < F::kSubBlocks; ++s) {
      const __m256 scales =
          F::kSubBlocks == 1
              ? d
              : _mm256_mul_ps(
                    d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
                           reinterpret_cast<const __m128i*>(block + kIQ4_XSx8Scales + 8 * s)))));
      const uint8_t* runs = F::Runs(block, s);
      __m256i codes[8];
      for (int m = 0; m < 4; ++m) {
        const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(runs + 32 * m));
        codes[2 * m] = _mm256_shuffle_epi8(levels, _mm256_and_si256(packed, low));
        codes[2 * m + 1] =
            _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(packed, 4), low));
      }
      AddSignedRun<kTokens>(codes, scales, x, b * F::kSubBlocks + s, acc);
    }
  }
  for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q6_K: codes up to 63, so maddubs pairs reach 2 * 63 * 127 = 16002 and only two vectors' pairs
// may be added in int16; each half chunk (16 values, 4 vectors) has its own scales.
template <int kTokens>
void Group6(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  __m256 acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i low = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(0x03);
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t blocks = x.k / Q6_Kx8::kElements;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * Q6_Kx8::kBytes;
    const __m256 d = Halves8(block);
    for (int c = 0; c < Q6_Kx8::kChunks; ++c) {
      const int64_t chunk = b * Q6_Kx8::kChunks + c;
      const uint8_t* runs = Q6_Kx8::Chunk(block, c);
      __m256i codes[8];
      for (int m = 0; m < 4; ++m) {
        const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(runs + 32 * m));
        codes[2 * m] = _mm256_and_si256(packed, low);
        codes[2 * m + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
      }
      for (int h = 0; h < 2; ++h) {
        const __m256i high =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(runs + 128 + 32 * h));
        for (int u = 0; u < 4; ++u) {
          const __m256i bits = _mm256_and_si256(_mm256_srli_epi16(high, 2 * u), two_bits);
          codes[4 * h + u] = _mm256_or_si256(codes[4 * h + u], _mm256_slli_epi16(bits, 4));
        }
      }
      __m256 scales[2];
      for (int h = 0; h < 2; ++h) {
        const __m128i bytes = _mm_loadl_epi64(
            reinterpret_cast<const __m128i*>(block + kQ6_Kx8Scales + 8 * (2 * c + h)));
        scales[h] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)));
      }
      for (int t = 0; t < kTokens; ++t) {
        const int8_t* xc = x.codes + t * x.k + chunk * kQ8Block;
        const float dx = x.scales[t * (x.k / kQ8Block) + chunk];
        const float* sums = x.sums + t * (x.k / 16) + 2 * chunk;
        for (int h = 0; h < 2; ++h) {
          __m256i pairs[2];
          for (int p = 0; p < 2; ++p) {
            int32_t four[2];
            memcpy(four, xc + 16 * h + 8 * p, 8);
            pairs[p] = _mm256_add_epi16(
                _mm256_maddubs_epi16(codes[4 * h + 2 * p], _mm256_set1_epi32(four[0])),
                _mm256_maddubs_epi16(codes[4 * h + 2 * p + 1], _mm256_set1_epi32(four[1])));
          }
          const __m256 dots = _mm256_cvtepi32_ps(_mm256_add_epi32(
              _mm256_madd_epi16(pairs[0], ones), _mm256_madd_epi16(pairs[1], ones)));
          acc[t] = _mm256_fmadd_ps(dots, _mm256_mul_ps(scales[h], _mm256_set1_ps(dx)), acc[t]);
          // The offset: 32 steps of the scale times the half's activation sum.
          acc[t] = _mm256_fnmadd_ps(scales[h], _mm256_set1_ps(32.0f * sums[h]), acc[t]);
        }
      }
    }
  }
  for (int t = 0; t < kTokens; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

#else

// The scalar reference: each row's codes read back from the runs (their levels, for the
// non-linear formats).
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
              int low = byte & 0x0F, high = byte >> 4;  // Vectors 2m and 2m + 1.
              if constexpr (F::kCodeBits == 5) {
                low |= ((runs[128 + 4 * r + i] >> (2 * m)) & 1) << 4;
                high |= ((runs[128 + 4 * r + i] >> (2 * m + 1)) & 1) << 4;
              }
              dot += F::Level(low) * xc[8 * m + i] + F::Level(high) * xc[8 * m + 4 + i];
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

template <int kTokens>
void Group8(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  const int64_t blocks = x.k / Q8_0x8::kElements;
  for (int r = 0; r < kInterleavedRows; ++r) {
    float acc[kTokens] = {};
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = group + b * Q8_0x8::kBytes;
      const float scale = HalfAt(block + 2 * r);
      for (int t = 0; t < kTokens; ++t) {
        const int8_t* xc = x.codes + t * x.k + b * kQ8Block;
        int32_t dot = 0;
        for (int j = 0; j < 8; ++j) {
          for (int i = 0; i < 4; ++i) {
            dot += static_cast<int8_t>(block[kQ8_0x8Codes + 32 * j + 4 * r + i]) * xc[4 * j + i];
          }
        }
        acc[t] += scale * x.scales[t * (x.k / kQ8Block) + b] * static_cast<float>(dot);
      }
    }
    for (int t = 0; t < kTokens; ++t) y[t * ldy + r] = acc[t];
  }
}

template <typename F, int kTokens>
void GroupLevels(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  Group<F, kTokens>(group, x, y, ldy);
}

template <int kTokens>
void Group6(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  const int64_t blocks = x.k / Q6_Kx8::kElements;
  for (int r = 0; r < kInterleavedRows; ++r) {
    float acc[kTokens] = {};
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = group + b * Q6_Kx8::kBytes;
      for (int c = 0; c < Q6_Kx8::kChunks; ++c) {
        const int64_t chunk = b * Q6_Kx8::kChunks + c;
        const uint8_t* runs = Q6_Kx8::Chunk(block, c);
        int codes[32];
        for (int m = 0; m < 4; ++m) {
          for (int i = 0; i < 4; ++i) {
            const uint8_t byte = runs[32 * m + 4 * r + i];
            codes[8 * m + i] = byte & 0x0F;
            codes[8 * m + 4 + i] = byte >> 4;
          }
        }
        for (int h = 0; h < 2; ++h) {
          for (int i = 0; i < 4; ++i) {
            const uint8_t byte = runs[128 + 32 * h + 4 * r + i];
            for (int u = 0; u < 4; ++u) codes[4 * (4 * h + u) + i] |= ((byte >> (2 * u)) & 3) << 4;
          }
        }
        for (int t = 0; t < kTokens; ++t) {
          const int8_t* xc = x.codes + t * x.k + chunk * kQ8Block;
          const float dx = x.scales[t * (x.k / kQ8Block) + chunk];
          const float* sums = x.sums + t * (x.k / 16) + 2 * chunk;
          for (int h = 0; h < 2; ++h) {
            int32_t dot = 0;
            for (int i = 16 * h; i < 16 * h + 16; ++i) dot += codes[i] * xc[i];
            const float scale = Q6_Kx8::Scale(block, 2 * c + h, r);
            acc[t] += scale * dx * static_cast<float>(dot) - 32.0f * scale * sums[h];
          }
        }
      }
    }
    for (int t = 0; t < kTokens; ++t) y[t * ldy + r] = acc[t];
  }
}

#endif

// One group of 8 rows and kTokens tokens, by format.
template <typename F, int kTokens>
void AnyGroup(const uint8_t* group, const Q8Rows& x, float* y, int64_t ldy) {
  if constexpr (std::is_same_v<F, Q6_Kx8>) {
    Group6<kTokens>(group, x, y, ldy);
  } else if constexpr (std::is_same_v<F, Q8_0x8>) {
    Group8<kTokens>(group, x, y, ldy);
  } else if constexpr (std::is_same_v<F, IQ4_NLx8> || std::is_same_v<F, IQ4_XSx8>) {
    GroupLevels<F, kTokens>(group, x, y, ldy);
  } else {
    Group<F, kTokens>(group, x, y, ldy);
  }
}

template <typename F>
void InterleavedMatMul(const void* w, int64_t groups, const Q8Rows& x, int64_t tokens, float* y,
                       int64_t ldy) {
  const auto* group = static_cast<const uint8_t*>(w);
  const int64_t group_bytes = x.k / F::kElements * F::kBytes;
  for (int64_t g = 0; g < groups; ++g, group += group_bytes, y += kInterleavedRows) {
    switch (tokens) {
      case 1:
        AnyGroup<F, 1>(group, x, y, ldy);
        break;
      case 2:
        AnyGroup<F, 2>(group, x, y, ldy);
        break;
      case 3:
        AnyGroup<F, 3>(group, x, y, ldy);
        break;
      default:
        static_assert(kQuantMaxTokens == 4);
        AnyGroup<F, 4>(group, x, y, ldy);
    }
  }
}

}  // namespace

static_assert(static_cast<int>(DType::kQ5_K) == 12 && static_cast<int>(DType::kQ8_0) == 4 &&
              static_cast<int>(DType::kQ4_0) == 5 && static_cast<int>(DType::kQ4_K) == 11 &&
              static_cast<int>(DType::kQ6_K) == 13 && kDTypeCount == 16);
const InterleavedMatMulFn kInterleavedMatMul[kDTypeCount] = {
    nullptr,                     // f32
    nullptr,                     // f16
    nullptr,                     // bf16
    nullptr,                     // i32
    &InterleavedMatMul<Q8_0x8>,  // q8_0
    &InterleavedMatMul<Q4_0x8>,  // q4_0
    nullptr,                     // q4_1
    nullptr,                     // q5_0
    nullptr,                     // q5_1
    nullptr,                     // q2_k
    nullptr,                     // q3_k
    &InterleavedMatMul<Q4_Kx8>,  // q4_k
    &InterleavedMatMul<Q5_Kx8>,  // q5_k
    &InterleavedMatMul<Q6_Kx8>,  // q6_k
    &InterleavedMatMul<IQ4_NLx8>,
    &InterleavedMatMul<IQ4_XSx8>,
};

}  // namespace favor::kernels::FAVOR_KERNEL_NS
