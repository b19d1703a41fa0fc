// Matrix products of weights kept in GGML's block formats with activations quantized to int8, the
// way quantized models are meant to run: the weights are read in their stored form (4.5 to 8.5
// bits per value instead of 32) and multiplied as integers.
//
// Every format is read through one model: a block decodes into chunks of 32 codes, with one
// scale and one offset per 16 codes (w = scale * code - offset). The codes are unsigned and below
// 64 (Q8_0's and the non-linear formats' levels are signed int8), so one integer dot product with
// the activation codes serves every format, and the offsets meet the activations' precomputed sums:
//   sum_i w_i x_i = dx * sum_half scale_half * (codes . xcodes)_half - sum_half offset_half *
//   sums_half
// Each decoded chunk serves up to kQuantMaxTokens activation rows (prefill), so decoding is paid
// once per weight and tile, not per token.
#include <math.h>  // NAN only: no C++ inline math in per-ISA code (see vec.h).
#include <string.h>

#include <type_traits>

#include "engine/core/quant_blocks.h"
#include "engine/core/quant_scales_inl.h"
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/quant_kernel_inl.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

// The scales and offsets of the two halves of one chunk of 32 values.
struct ChunkScales {
  float scale[2];
  float offset[2];
};

ChunkScales Uniform(float scale, float offset) { return {{scale, scale}, {offset, offset}}; }

// One struct per format: kElements values in kBytes bytes, decoded as kChunks chunks of 32
// (kUniform: both halves of a chunk share their scale and offset).
// Scales() fills every chunk's scales; CodesAt() writes the 32 codes of chunk c (the scalar
// decoder, also the reference the SIMD one is tested against through the kernels); Codes()
// returns them in a vector.
struct Q8_0 {
  static constexpr int64_t kElements = 32, kBytes = 34, kChunks = 1;
  static constexpr bool kSigned = true, kUniform = true;
  static void Scales(const uint8_t* b, ChunkScales* s) { s[0] = Uniform(HalfAt(b), 0.0f); }
  static void CodesAt(const uint8_t* b, int, int8_t* codes) { memcpy(codes, b + 2, 32); }
#if defined(__AVX2__)
  static __m256i Codes(const uint8_t* b, int) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
  }
#endif
};

#if defined(__AVX2__)
// 16 bytes of nibbles: the low ones are values 0-15, the high ones 16-31 (legacy formats).
__m256i SplitNibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i low = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low), _mm_and_si128(q, low));
}

// 0x10 in byte j where bit j of qh is set.
__m256i FifthBits(uint32_t qh) {
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
                          _mm256_set1_epi8(0x10));
}

// `value` in each byte of v whose bits `mask` are all set, else 0.
__m256i WhereBits(__m256i v, int mask, int value) {
  const __m256i m = _mm256_set1_epi8(static_cast<char>(mask));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, m), m),
                          _mm256_set1_epi8(static_cast<char>(value)));
}

// The bits (v >> shift) & mask of each byte.
__m256i BitsAt(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srli_epi16(v, shift), _mm256_set1_epi8(static_cast<char>(mask)));
}

__m256i Load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Eight unsigned 8-bit values times d, as floats.
__m256 Widen8(const uint8_t* values, float d) {
  const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(values));
  return _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)));
}

// Per-chunk values (8 chunks of 32) as per-half values (16 halves of 16).
void SpreadOverHalves(__m256 per_chunk, __m256* per_half) {
  per_half[0] = _mm256_permutevar8x32_ps(per_chunk, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
  per_half[1] = _mm256_permutevar8x32_ps(per_chunk, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7));
}

// The scales of chunk c's two halves, each over its 4 lanes of a DotChunk result, from the 16
// per-half values of a super-block.
__m256 ChunkLanes(const __m256* per_half, int c) {
  const int j = 2 * (c % 4);
  return _mm256_permutevar8x32_ps(per_half[c / 4],
                                  _mm256_setr_epi32(j, j, j, j, j + 1, j + 1, j + 1, j + 1));
}
#endif

// Legacy formats (blocks of 32): f16 d, [f16 m], [u32 qh], 16 bytes of nibbles. Values j and
// j + 16 share byte j; the fifth bit of value j is bit j of qh.
template <int kBits, bool kMin>
struct Legacy {
  static constexpr int64_t kElements = 32, kChunks = 1;
  static constexpr int64_t kQhAt = kMin ? 4 : 2, kQsAt = kQhAt + (kBits == 5 ? 4 : 0);
  static constexpr int64_t kBytes = kQsAt + 16;
  static constexpr bool kSigned = false, kUniform = true;
  static void Scales(const uint8_t* b, ChunkScales* s) {
    const float d = HalfAt(b);
    s[0] = kMin ? Uniform(d, -HalfAt(b + 2)) : Uniform(d, d * static_cast<float>(1 << (kBits - 1)));
  }
  static uint32_t HighBits(const uint8_t* b) {
    uint32_t qh = 0;
    if constexpr (kBits == 5) memcpy(&qh, b + kQhAt, 4);
    return qh;
  }
  static void CodesAt(const uint8_t* b, int, uint8_t* codes) {
    const uint32_t qh = HighBits(b);
    for (int j = 0; j < 16; ++j) {
      codes[j] = static_cast<uint8_t>((b[kQsAt + j] & 0x0F) | (((qh >> j) & 1) << 4));
      codes[j + 16] = static_cast<uint8_t>((b[kQsAt + j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
    }
  }
#if defined(__AVX2__)
  static __m256i Codes(const uint8_t* b, int) {
    const __m256i nibbles = SplitNibbles(b + kQsAt);
    if constexpr (kBits == 4) return nibbles;
    return _mm256_or_si256(nibbles, FifthBits(HighBits(b)));
  }
#endif
};

// Q4_K and Q5_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, [qh: 32 bytes of fifth
// bits], 128 bytes of nibbles. Chunk 2i is the low nibbles of bytes 32i..32i+31, chunk 2i + 1
// their high nibbles; the fifth bit of chunk c's value l is bit c of qh[l].
template <int kBits>
struct KQuant45 {
  static constexpr int64_t kElements = 256, kChunks = 8;
  static constexpr int64_t kQsAt = kBits == 5 ? 48 : 16;
  static constexpr int64_t kBytes = kQsAt + 128;
  static constexpr bool kSigned = false, kUniform = true;
  static void Scales(const uint8_t* b, ChunkScales* s) {
    const float d = HalfAt(b), dmin = HalfAt(b + 2);
    for (int c = 0; c < 8; ++c) {
      uint8_t scale, min;
      quant::ScaleMinK4(c, b + 4, &scale, &min);
      s[c] = Uniform(d * static_cast<float>(scale), dmin * static_cast<float>(min));
    }
  }
  static void CodesAt(const uint8_t* b, int c, uint8_t* codes) {
    const uint8_t* qs = b + kQsAt + 32 * (c / 2);
    for (int l = 0; l < 32; ++l) {
      int code = (c % 2 == 0) ? (qs[l] & 0x0F) : (qs[l] >> 4);
      if constexpr (kBits == 5) code |= ((b[16 + l] >> c) & 1) << 4;
      codes[l] = static_cast<uint8_t>(code);
    }
  }
#if defined(__AVX2__)
  static void HalfScales(const uint8_t* b, __m256* scale, __m256* offset) {
    uint8_t scales[8], mins[8];
    for (int c = 0; c < 8; ++c) quant::ScaleMinK4(c, b + 4, &scales[c], &mins[c]);
    SpreadOverHalves(Widen8(scales, HalfAt(b)), scale);
    SpreadOverHalves(Widen8(mins, HalfAt(b + 2)), offset);
  }
  static __m256i Codes(const uint8_t* b, int c) {
    const __m256i nibbles = BitsAt(Load32(b + kQsAt + 32 * (c / 2)), (c % 2) * 4, 0x0F);
    if constexpr (kBits == 4) return nibbles;
    return _mm256_or_si256(nibbles, WhereBits(Load32(b + 16), 1 << c, 0x10));
  }
#endif
};

// Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d; w = d scale (q - 32)
// over sub-blocks of 16. Chunk c = 4n + j: ql bytes 64n + 32 (j odd) + l, their high nibbles when
// j >= 2, and bits 2j, 2j + 1 of qh[32n + l]; its halves use scales 2c and 2c + 1.
struct Q6_K {
  static constexpr int64_t kElements = 256, kBytes = 210, kChunks = 8;
  static constexpr bool kSigned = false, kUniform = false;
  static void Scales(const uint8_t* b, ChunkScales* s) {
    const float d = HalfAt(b + 208);
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    for (int c = 0; c < 8; ++c) {
      const float lo = d * static_cast<float>(sc[2 * c]),
                  hi = d * static_cast<float>(sc[2 * c + 1]);
      s[c] = {{lo, hi}, {32.0f * lo, 32.0f * hi}};
    }
  }
  static void CodesAt(const uint8_t* b, int c, uint8_t* codes) {
    const int n = c / 4, j = c % 4;
    const uint8_t* ql = b + 64 * n + 32 * (j % 2);
    const uint8_t* qh = b + 128 + 32 * n;
    for (int l = 0; l < 32; ++l) {
      const int low = j >= 2 ? ql[l] >> 4 : ql[l] & 0x0F;
      codes[l] = static_cast<uint8_t>(low | (((qh[l] >> (2 * j)) & 3) << 4));
    }
  }
#if defined(__AVX2__)
  static void HalfScales(const uint8_t* b, __m256* scale, __m256* offset) {
    const __m256 d = _mm256_set1_ps(HalfAt(b + 208));
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
    for (int h = 0; h < 2; ++h) {
      scale[h] = _mm256_mul_ps(
          d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(h == 0 ? sc : _mm_srli_si128(sc, 8))));
      offset[h] = _mm256_mul_ps(scale[h], _mm256_set1_ps(32.0f));
    }
  }
  static __m256i Codes(const uint8_t* b, int c) {
    const int n = c / 4, j = c % 4;
    const __m256i low = BitsAt(Load32(b + 64 * n + 32 * (j % 2)), j >= 2 ? 4 : 0, 0x0F);
    const __m256i high = _mm256_slli_epi16(BitsAt(Load32(b + 128 + 32 * n), 2 * j, 3), 4);
    return _mm256_or_si256(low, high);
  }
#endif
};

// Q2_K and Q3_K: sub-blocks of 16 with 2 low bits per value in qs[64]; chunk c = 4n + j is bits
// 2j, 2j + 1 of qs[32n + l]. Q2_K: scales[16] (low nibble scale, high nibble min), qs, f16 d,
// f16 dmin; w = d scale q - dmin min. Q3_K: hmask[32] (bit c of byte l: the third bit of chunk
// c's value l), qs, 12 bytes of 6-bit scales offset by 32, f16 d; w = d scale (q - 4).
template <int kBits>
struct KQuant23 {
  static constexpr int64_t kElements = 256, kChunks = 8;
  static constexpr int64_t kQsAt = kBits == 2 ? 16 : 32;
  static constexpr int64_t kBytes = kBits == 2 ? 84 : 110;
  static constexpr bool kSigned = false, kUniform = false;
  static void Scales(const uint8_t* b, ChunkScales* s) {
    if constexpr (kBits == 2) {
      const float d = HalfAt(b + 80), dmin = HalfAt(b + 82);
      for (int c = 0; c < 8; ++c) {
        const uint8_t lo = b[2 * c], hi = b[2 * c + 1];
        s[c] = {{d * static_cast<float>(lo & 0xF), d * static_cast<float>(hi & 0xF)},
                {dmin * static_cast<float>(lo >> 4), dmin * static_cast<float>(hi >> 4)}};
      }
    } else {
      const float d = HalfAt(b + 108);
      int8_t scales[16];
      quant::UnpackQ3_KScales(b + 96, scales);
      for (int c = 0; c < 8; ++c) {
        const float lo = d * static_cast<float>(scales[2 * c] - 32);
        const float hi = d * static_cast<float>(scales[2 * c + 1] - 32);
        s[c] = {{lo, hi}, {4.0f * lo, 4.0f * hi}};
      }
    }
  }
  static void CodesAt(const uint8_t* b, int c, uint8_t* codes) {
    const uint8_t* qs = b + kQsAt + 32 * (c / 4);
    for (int l = 0; l < 32; ++l) {
      int code = (qs[l] >> (2 * (c % 4))) & 3;
      if constexpr (kBits == 3) code |= ((b[l] >> c) & 1) << 2;
      codes[l] = static_cast<uint8_t>(code);
    }
  }
#if defined(__AVX2__)
  static void HalfScales(const uint8_t* b, __m256* scale, __m256* offset) {
    if constexpr (kBits == 2) {
      const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
      const __m128i low = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
      const __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
      const __m256 d = _mm256_set1_ps(HalfAt(b + 80)), dmin = _mm256_set1_ps(HalfAt(b + 82));
      for (int h = 0; h < 2; ++h) {
        scale[h] = _mm256_mul_ps(
            d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(h == 0 ? low : _mm_srli_si128(low, 8))));
        offset[h] = _mm256_mul_ps(
            dmin,
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(h == 0 ? high : _mm_srli_si128(high, 8))));
      }
    } else {
      int8_t unpacked[16];
      quant::UnpackQ3_KScales(b + 96, unpacked);
      const __m128i sc = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(unpacked)),
                                      _mm_set1_epi8(32));
      const __m256 d = _mm256_set1_ps(HalfAt(b + 108));
      for (int h = 0; h < 2; ++h) {
        scale[h] = _mm256_mul_ps(
            d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(h == 0 ? sc : _mm_srli_si128(sc, 8))));
        offset[h] = _mm256_mul_ps(scale[h], _mm256_set1_ps(4.0f));
      }
    }
  }
  static __m256i Codes(const uint8_t* b, int c) {
    const __m256i low = BitsAt(Load32(b + kQsAt + 32 * (c / 4)), 2 * (c % 4), 3);
    if constexpr (kBits == 2) return low;
    return _mm256_or_si256(low, WhereBits(Load32(b), 1 << c, 4));
  }
#endif
};

// The non-linear formats: signed codes, the levels their 4-bit indices name, under one scale per
// 32 values. IQ4_NL: f16 d, 16 bytes of nibbles, laid out as Q4_0. IQ4_XS: f16 d, u16 scales_h,
// scales_l[4], then per chunk c 16 bytes of nibbles at 8 + 16 c, under d (6-bit scale - 32).
#if defined(__AVX2__)
__m256i LevelsOf(__m256i nibbles) {
  const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIQ4Levels));
  return _mm256_shuffle_epi8(_mm256_set_m128i(levels, levels), nibbles);
}
#endif

template <bool kSuper>
struct NonLinear4 {
  static constexpr int64_t kElements = kSuper ? 256 : 32, kChunks = kSuper ? 8 : 1;
  static constexpr int64_t kBytes = kSuper ? 136 : 18;
  static constexpr bool kSigned = true, kUniform = true;
  static const uint8_t* Nibbles(const uint8_t* b, int c) { return b + (kSuper ? 8 + 16 * c : 2); }
  static float ChunkScale(const uint8_t* b, int c) {
    if constexpr (!kSuper) return HalfAt(b);
    return HalfAt(b) * static_cast<float>(quant::IQ4_XSSubScale(b, c) - 32);
  }
  static void Scales(const uint8_t* b, ChunkScales* s) {
    for (int c = 0; c < kChunks; ++c) s[c] = Uniform(ChunkScale(b, c), 0.0f);
  }
  static void CodesAt(const uint8_t* b, int c, int8_t* codes) {
    const uint8_t* qs = Nibbles(b, c);
    for (int j = 0; j < 16; ++j) {
      codes[j] = quant::kIQ4Levels[qs[j] & 0x0F];
      codes[j + 16] = quant::kIQ4Levels[qs[j] >> 4];
    }
  }
#if defined(__AVX2__)
  static void HalfScales(const uint8_t* b, __m256* scale, __m256* offset) {
    alignas(32) float chunk_scales[8];
    for (int c = 0; c < 8; ++c) chunk_scales[c] = ChunkScale(b, c);
    SpreadOverHalves(_mm256_load_ps(chunk_scales), scale);
    offset[0] = offset[1] = _mm256_setzero_ps();
  }
  static __m256i Codes(const uint8_t* b, int c) { return LevelsOf(SplitNibbles(Nibbles(b, c))); }
#endif
};

// Rows of quantized activations as the kernels walk them.
struct Activations {
  const Q8Rows& x;
  int64_t token;
  const int8_t* Codes(int64_t chunk) const { return x.codes + token * x.k + chunk * kQ8Block; }
  float Scale(int64_t chunk) const { return x.scales[token * (x.k / kQ8Block) + chunk]; }
  const float* Sums(int64_t chunk) const { return x.sums + token * (x.k / 16) + 2 * chunk; }
};

#if defined(__AVX2__)

// The 8 int32 lanes of sum(codes * x) over 4 consecutive values each: lanes 0-3 cover values
// 0-15, lanes 4-7 values 16-31. maddubs adds pairs of u8 x s8 products into int16: with codes
// below 64 (or |code| <= 128 for the signed form) a pair cannot saturate.
template <bool kSigned>
__m256i DotChunk(__m256i codes, __m256i x) {
  const __m256i pairs =
      kSigned ? _mm256_maddubs_epi16(_mm256_sign_epi8(codes, codes), _mm256_sign_epi8(x, codes))
              : _mm256_maddubs_epi16(codes, x);
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// kRows weight rows x kTokens activation rows, fully unrolled so that the kRows x kTokens
// accumulators stay in registers (independent chains, which also hide the FMA latency).
template <typename F, int kRows, int kTokens>
void RowTile(const uint8_t* w, int64_t row_bytes, const Q8Rows& x, float* y, int64_t ldy) {
  __m256 acc[kRows][kTokens];
  float offsets[kRows][kTokens];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) {
      acc[r][t] = _mm256_setzero_ps();
      offsets[r][t] = 0.0f;
    }
  }
  const int64_t blocks = x.k / F::kElements;
  // The tile's rows are one contiguous region read as kRows short streams, which the hardware
  // prefetchers do not follow: fetch the region kPrefetchTiles tiles ahead, spread over the
  // blocks of this one (prefetches past the matrix are harmless hints).
  constexpr int64_t kPrefetchTiles = 4;
  const int64_t tile_bytes = kRows * row_bytes;
  // Each block prefetches its share of the lines (no division in the loop: it would cost as much
  // as the block's arithmetic).
  const int64_t share = (tile_bytes + blocks - 1) / blocks;
  const uint8_t* next_line = w + kPrefetchTiles * tile_bytes;
  const uint8_t* share_end = next_line;
  for (int64_t b = 0; b < blocks; ++b) {
    for (share_end += share; next_line < share_end; next_line += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(next_line), _MM_HINT_T0);
    }
    if constexpr (F::kChunks == 8) {
      // Super-blocks: the 16 per-half scales and offsets as vectors, the offsets met by the 16
      // activation sums at once (subtracted from the same accumulators, summed at the end).
      __m256 half_scales[kRows][2];
      for (int r = 0; r < kRows; ++r) {
        __m256 half_offsets[2];
        F::HalfScales(w + r * row_bytes + b * F::kBytes, half_scales[r], half_offsets);
        for (int t = 0; t < kTokens; ++t) {
          const float* sums = Activations{x, t}.Sums(b * 8);
          acc[r][t] = _mm256_fnmadd_ps(half_offsets[0], _mm256_loadu_ps(sums), acc[r][t]);
          acc[r][t] = _mm256_fnmadd_ps(half_offsets[1], _mm256_loadu_ps(sums + 8), acc[r][t]);
        }
      }
      // Unrolled: each chunk's shifts and lane permutations become constants.
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const int64_t chunk = b * 8 + c;
        __m256i codes[kRows];
        __m256 scale[kRows];
        for (int r = 0; r < kRows; ++r) {
          codes[r] = F::Codes(w + r * row_bytes + b * F::kBytes, c);
          scale[r] = ChunkLanes(half_scales[r], c);
        }
        for (int t = 0; t < kTokens; ++t) {
          const Activations a{x, t};
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.Codes(chunk)));
          const __m256 dx = _mm256_set1_ps(a.Scale(chunk));
          for (int r = 0; r < kRows; ++r) {
            const __m256 products = _mm256_cvtepi32_ps(DotChunk<F::kSigned>(codes[r], xv));
            acc[r][t] = _mm256_fmadd_ps(products, _mm256_mul_ps(scale[r], dx), acc[r][t]);
          }
        }
      }
      continue;
    }
    ChunkScales scales[kRows][F::kChunks];
    for (int r = 0; r < kRows; ++r) F::Scales(w + r * row_bytes + b * F::kBytes, scales[r]);
    for (int c = 0; c < F::kChunks; ++c) {
      const int64_t chunk = b * F::kChunks + c;
      __m256i codes[kRows];
      __m256 scale[kRows];
      for (int r = 0; r < kRows; ++r) {
        codes[r] = F::Codes(w + r * row_bytes + b * F::kBytes, c);
        scale[r] = F::kUniform ? _mm256_set1_ps(scales[r][c].scale[0])
                               : _mm256_set_m128(_mm_set1_ps(scales[r][c].scale[1]),
                                                 _mm_set1_ps(scales[r][c].scale[0]));
      }
      for (int t = 0; t < kTokens; ++t) {
        const Activations a{x, t};
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.Codes(chunk)));
        const __m256 dx = _mm256_set1_ps(a.Scale(chunk));
        const float* sums = a.Sums(chunk);
        for (int r = 0; r < kRows; ++r) {
          const __m256 products = _mm256_cvtepi32_ps(DotChunk<F::kSigned>(codes[r], xv));
          acc[r][t] = _mm256_fmadd_ps(products, _mm256_mul_ps(scale[r], dx), acc[r][t]);
          offsets[r][t] +=
              F::kUniform ? scales[r][c].offset[0] * (sums[0] + sums[1])
                          : scales[r][c].offset[0] * sums[0] + scales[r][c].offset[1] * sums[1];
        }
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) y[t * ldy + r] = HorizontalSum(acc[r][t]) - offsets[r][t];
  }
}

#else

template <typename F, int kRows, int kTokens>
void RowTile(const uint8_t* w, int64_t row_bytes, const Q8Rows& x, float* y, int64_t ldy) {
  constexpr int64_t tokens = kTokens;
  using Code = std::conditional_t<F::kSigned, int8_t, uint8_t>;
  for (int r = 0; r < kRows; ++r) {
    const uint8_t* row = w + r * row_bytes;
    float acc[kQuantMaxTokens] = {};
    const int64_t blocks = x.k / F::kElements;
    for (int64_t b = 0; b < blocks; ++b) {
      ChunkScales scales[F::kChunks];
      F::Scales(row + b * F::kBytes, scales);
      for (int c = 0; c < F::kChunks; ++c) {
        const int64_t chunk = b * F::kChunks + c;
        Code codes[32];
        F::CodesAt(row + b * F::kBytes, c, codes);
        for (int64_t t = 0; t < tokens; ++t) {
          const Activations a{x, t};
          const int8_t* xc = a.Codes(chunk);
          int32_t halves[2] = {0, 0};
          for (int i = 0; i < 32; ++i) halves[i / 16] += static_cast<int32_t>(codes[i]) * xc[i];
          const float* sums = a.Sums(chunk);
          const float dx = a.Scale(chunk);
          const float offsets = F::kUniform
                                    ? scales[c].offset[0] * (sums[0] + sums[1])
                                    : scales[c].offset[0] * sums[0] + scales[c].offset[1] * sums[1];
          acc[t] += dx * (scales[c].scale[0] * static_cast<float>(halves[0]) +
                          scales[c].scale[1] * static_cast<float>(halves[1])) -
                    offsets;
        }
      }
    }
    for (int64_t t = 0; t < tokens; ++t) y[t * ldy + r] = acc[t];
  }
}

#endif

template <typename F, int kTokens>
void RowsTimesTokens(const uint8_t* rows, int64_t row_bytes, int64_t n, const Q8Rows& x, float* y,
                     int64_t ldy) {
  // One token (decode) takes four rows at a time for independent chains; more tokens give them.
  constexpr int kRows = kTokens == 1 ? 4 : 2;
  int64_t i = 0;
  for (; i + kRows <= n; i += kRows) {
    RowTile<F, kRows, kTokens>(rows + i * row_bytes, row_bytes, x, y + i, ldy);
  }
  for (; i < n; ++i) RowTile<F, 1, kTokens>(rows + i * row_bytes, row_bytes, x, y + i, ldy);
}

template <typename F>
void QuantMatMul(const void* w, int64_t row_bytes, int64_t n, const Q8Rows& x, int64_t tokens,
                 float* y, int64_t ldy) {
  const auto* rows = static_cast<const uint8_t*>(w);
  switch (tokens) {
    case 1:
      return RowsTimesTokens<F, 1>(rows, row_bytes, n, x, y, ldy);
    case 2:
      return RowsTimesTokens<F, 2>(rows, row_bytes, n, x, y, ldy);
    case 3:
      return RowsTimesTokens<F, 3>(rows, row_bytes, n, x, y, ldy);
    default:
      static_assert(kQuantMaxTokens == 4);
      return RowsTimesTokens<F, 4>(rows, row_bytes, n, x, y, ldy);
  }
}

}  // namespace

template <typename F>
void QuantToF32(const void* w, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(w);
  for (int64_t b = 0; b < count / F::kElements; ++b, block += F::kBytes) {
    ChunkScales scales[F::kChunks];
    F::Scales(block, scales);
    for (int c = 0; c < F::kChunks; ++c, out += 32) {
#if defined(__AVX2__)
      const __m256i codes = F::Codes(block, c);
      for (int g = 0; g < 4; ++g) {
        const __m128i bytes =
            g < 2 ? _mm256_castsi256_si128(codes) : _mm256_extracti128_si256(codes, 1);
        const __m128i eight = g % 2 == 0 ? bytes : _mm_srli_si128(bytes, 8);
        const __m256i ints = F::kSigned ? _mm256_cvtepi8_epi32(eight) : _mm256_cvtepu8_epi32(eight);
        const __m256 scaled =
            _mm256_mul_ps(_mm256_set1_ps(scales[c].scale[g / 2]), _mm256_cvtepi32_ps(ints));
        _mm256_storeu_ps(out + 8 * g,
                         _mm256_sub_ps(scaled, _mm256_set1_ps(scales[c].offset[g / 2])));
      }
#else
      std::conditional_t<F::kSigned, int8_t, uint8_t> codes[32];
      F::CodesAt(block, c, codes);
      for (int i = 0; i < 32; ++i) {
        const float scaled = scales[c].scale[i / 16] * static_cast<float>(codes[i]);
        out[i] = scaled - scales[c].offset[i / 16];
      }
#endif
    }
  }
}

// In DType order: the four unquantized types first, then the block formats.
static_assert(static_cast<int>(DType::kQ8_0) == 4 && static_cast<int>(DType::kQ4_0) == 5 &&
              static_cast<int>(DType::kQ5_1) == 8 && static_cast<int>(DType::kQ2_K) == 9 &&
              static_cast<int>(DType::kQ6_K) == 13 && static_cast<int>(DType::kIQ4_NL) == 14 &&
              kDTypeCount == 16);
const QuantMatMulFn kQuantMatMul[kDTypeCount] = {
    nullptr,  // f32
    nullptr,  // f16
    nullptr,  // bf16
    nullptr,  // i32
    &QuantMatMul<Q8_0>,
    &QuantMatMul<Legacy<4, false>>,
    &QuantMatMul<Legacy<4, true>>,
    &QuantMatMul<Legacy<5, false>>,
    &QuantMatMul<Legacy<5, true>>,
    &QuantMatMul<KQuant23<2>>,
    &QuantMatMul<KQuant23<3>>,
    &QuantMatMul<KQuant45<4>>,
    &QuantMatMul<KQuant45<5>>,
    &QuantMatMul<Q6_K>,
    &QuantMatMul<NonLinear4<false>>,
    &QuantMatMul<NonLinear4<true>>,
};

const QuantToF32Fn kQuantToF32[kDTypeCount] = {
    nullptr,  // f32
    nullptr,  // f16
    nullptr,  // bf16
    nullptr,  // i32
    &QuantToF32<Q8_0>,
    &QuantToF32<Legacy<4, false>>,
    &QuantToF32<Legacy<4, true>>,
    &QuantToF32<Legacy<5, false>>,
    &QuantToF32<Legacy<5, true>>,
    &QuantToF32<KQuant23<2>>,
    &QuantToF32<KQuant23<3>>,
    &QuantToF32<KQuant45<4>>,
    &QuantToF32<KQuant45<5>>,
    &QuantToF32<Q6_K>,
    &QuantToF32<NonLinear4<false>>,
    &QuantToF32<NonLinear4<true>>,
};

#if !defined(__AVX2__)
namespace {
// Round to nearest even, as the vector conversion does: adding and removing 1.5 * 2^23 leaves
// the integer part (|v| <= 127 here). volatile keeps the compiler from folding the two away.
int RoundEven(float v) {
  volatile float shifted = v + 12582912.0f;
  return static_cast<int>(shifted - 12582912.0f);
}
}  // namespace
#endif

// A block holding a NaN or an Inf gets a NaN scale and zero codes, so the products it meets are
// NaN (as in f32) rather than garbage from converting a NaN to an integer.
void QuantizeQ8(const float* x, int64_t k, int8_t* codes, float* scales, float* sums) {
  for (int64_t b = 0; b < k / kQ8Block; ++b) {
    const float* v = x + b * kQ8Block;
    int8_t* q = codes + b * kQ8Block;
#if defined(__AVX2__)
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 values[4];
    __m256 amax = _mm256_setzero_ps(), probe = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      values[i] = _mm256_loadu_ps(v + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, values[i]));
      probe = _mm256_add_ps(probe, _mm256_mul_ps(values[i], _mm256_setzero_ps()));
    }
    const bool finite = _mm256_movemask_ps(_mm256_cmp_ps(probe, probe, _CMP_UNORD_Q)) == 0;
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float max = _mm_cvtss_f32(m);
#else
    float max = 0.0f, probe = 0.0f;
    for (int i = 0; i < kQ8Block; ++i) {
      const float a = v[i] < 0.0f ? -v[i] : v[i];
      if (a > max) max = a;
      probe += v[i] * 0.0f;
    }
    const bool finite = probe == 0.0f;
#endif
    if (!finite) {
      memset(q, 0, kQ8Block);
      scales[b] = sums[2 * b] = sums[2 * b + 1] = NAN;
      continue;
    }
    const float d = max / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    scales[b] = d;
#if defined(__AVX2__)
    __m256i ints[4];
    for (int i = 0; i < 4; ++i) {
      ints[i] = _mm256_cvtps_epi32(_mm256_mul_ps(values[i], _mm256_set1_ps(id)));
    }
    // Packing interleaves the 128-bit lanes; the permutation restores the order.
    const __m256i packed =
        _mm256_permutevar8x32_epi32(_mm256_packs_epi16(_mm256_packs_epi32(ints[0], ints[1]),
                                                       _mm256_packs_epi32(ints[2], ints[3])),
                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), packed);
    for (int h = 0; h < 2; ++h) {
      const __m256i s = _mm256_add_epi32(ints[2 * h], ints[2 * h + 1]);
      __m128i r = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
      r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1));
      sums[2 * b + h] = d * static_cast<float>(_mm_cvtsi128_si32(r));
    }
#else
    for (int h = 0; h < 2; ++h) {
      int sum = 0;
      for (int i = 16 * h; i < 16 * h + 16; ++i) {
        q[i] = static_cast<int8_t>(RoundEven(v[i] * id));
        sum += q[i];
      }
      sums[2 * b + h] = d * static_cast<float>(sum);
    }
#endif
  }
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
