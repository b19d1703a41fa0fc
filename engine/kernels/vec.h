// A small SIMD vector wrapper: the kernels are written once against it and compiled once per ISA
// (scalar, AVX2, AVX-512), each time with that ISA's compiler flags and inside that ISA's
// namespace (FAVOR_KERNEL_NS, set by the build).
//
// One rule keeps per-ISA compilation safe: a kernel source may only call inline code that lives in
// its own ISA namespace (this file) or intrinsics. An ordinary inline function or template from
// another header (std::max, an engine helper) would be compiled with AVX-512 flags in one object
// and with baseline flags in another, and the linker would keep one copy for all: an illegal
// instruction on a CPU without AVX-512. Plain C functions from libm (std::exp, std::sqrt on float)
// are out-of-line library calls and are fine.
#pragma once

#include <cstdint>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifndef FAVOR_KERNEL_NS
#error "FAVOR_KERNEL_NS must be defined by the build (scalar, avx2 or avx512)"
#endif

namespace favor::kernels::FAVOR_KERNEL_NS {

// Constants of the exp approximation (Cephes expf): range reduction x = n ln2 + r with ln2 split
// in two for accuracy, then a degree-6 polynomial on r; relative error about 2e-7.
inline constexpr float kExpLo = -87.33654f;  // Below: the result is flushed to 0.
inline constexpr float kExpHi =
    88.3762626647949f;  // Above: +inf (2^n would overflow the exponent).
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
inline constexpr float kExpP0 = 1.9875691500e-4f;
inline constexpr float kExpP1 = 1.3981999507e-3f;
inline constexpr float kExpP2 = 8.3334519073e-3f;
inline constexpr float kExpP3 = 4.1665795894e-2f;
inline constexpr float kExpP4 = 1.6666665459e-1f;
inline constexpr float kExpP5 = 5.0000001201e-1f;

#if defined(__AVX512F__)

inline constexpr int kLanes = 16;
struct VecF32 {
  __m512 v;
};
inline __mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline VecF32 Load(const float* p) { return {_mm512_loadu_ps(p)}; }
inline VecF32 LoadTail(const float* p, int64_t n) {
  return {_mm512_maskz_loadu_ps(TailMask(n), p)};
}
inline void Store(float* p, VecF32 a) { _mm512_storeu_ps(p, a.v); }
inline void StoreTail(float* p, VecF32 a, int64_t n) { _mm512_mask_storeu_ps(p, TailMask(n), a.v); }
inline VecF32 Set1(float x) { return {_mm512_set1_ps(x)}; }
inline VecF32 operator+(VecF32 a, VecF32 b) { return {_mm512_add_ps(a.v, b.v)}; }
inline VecF32 operator-(VecF32 a, VecF32 b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline VecF32 operator*(VecF32 a, VecF32 b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline VecF32 operator/(VecF32 a, VecF32 b) { return {_mm512_div_ps(a.v, b.v)}; }
inline VecF32 Fma(VecF32 a, VecF32 b, VecF32 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline VecF32 Max(VecF32 a, VecF32 b) { return {_mm512_max_ps(a.v, b.v)}; }
inline VecF32 Min(VecF32 a, VecF32 b) { return {_mm512_min_ps(a.v, b.v)}; }
inline float ReduceSum(VecF32 a) { return _mm512_reduce_add_ps(a.v); }
inline float ReduceMax(VecF32 a) { return _mm512_reduce_max_ps(a.v); }
// Lanes past n of a tail are filled with `fill` (so a max or sum over a tail is unaffected).
inline VecF32 LoadTailFill(const float* p, int64_t n, float fill) {
  return {_mm512_mask_loadu_ps(_mm512_set1_ps(fill), TailMask(n), p)};
}
inline VecF32 Abs(VecF32 a) { return {_mm512_abs_ps(a.v)}; }
// Lanes where a < b take if_less, the others otherwise.
inline VecF32 SelectLess(VecF32 a, VecF32 b, VecF32 if_less, VecF32 otherwise) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ), otherwise.v, if_less.v)};
}
// |magnitude| with the sign of `sign`.
inline VecF32 CopySign(VecF32 magnitude, VecF32 sign) {
  // Bitwise (bit ? sign : magnitude): ternary-logic table 0xAC over (bit, magnitude, sign).
  const __m512i bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  return {_mm512_castsi512_ps(_mm512_ternarylogic_epi32(bit, _mm512_castps_si512(magnitude.v),
                                                        _mm512_castps_si512(sign.v), 0xAC))};
}

inline VecF32 Exp(VecF32 x) {
  const __mmask16 underflow = _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(kExpLo), _CMP_LT_OQ);
  const __mmask16 overflow = _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(kExpHi), _CMP_GT_OQ);
  __m512 xc = _mm512_min_ps(_mm512_max_ps(x.v, _mm512_set1_ps(kExpLo)), _mm512_set1_ps(kExpHi));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  xc = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), xc);
  xc = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), xc);
  __m512 y = _mm512_set1_ps(kExpP0);
  y = _mm512_fmadd_ps(y, xc, _mm512_set1_ps(kExpP1));
  y = _mm512_fmadd_ps(y, xc, _mm512_set1_ps(kExpP2));
  y = _mm512_fmadd_ps(y, xc, _mm512_set1_ps(kExpP3));
  y = _mm512_fmadd_ps(y, xc, _mm512_set1_ps(kExpP4));
  y = _mm512_fmadd_ps(y, xc, _mm512_set1_ps(kExpP5));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(xc, xc), _mm512_add_ps(xc, _mm512_set1_ps(1.0f)));
  const __m512i exponent =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  y = _mm512_mul_ps(y, _mm512_castsi512_ps(exponent));
  y = _mm512_mask_blend_ps(underflow, y, _mm512_setzero_ps());
  return {_mm512_mask_blend_ps(overflow, y, _mm512_set1_ps(__builtin_inff()))};
}

// 16-bit float loads (f16 via the hardware converter; bf16 is the high half of an f32).
inline VecF32 LoadF16(const uint16_t* p) {
  return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
}
inline VecF32 LoadF16Tail(const uint16_t* p, int64_t n) {
  return {_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(TailMask(n), p))};
}
inline VecF32 LoadBF16(const uint16_t* p) {
  const __m512i wide =
      _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16))};
}
inline VecF32 LoadBF16Tail(const uint16_t* p, int64_t n) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(TailMask(n), p));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16))};
}
// f32 -> bf16 with round-to-nearest-even. A NaN is truncated and kept quiet instead: rounding
// would carry its mantissa into the exponent and sign (0x7fffffff became -0, 0x7f800001 +Inf).
inline __m256i ToBF16Bits(VecF32 a) {
  const __m512i bits = _mm512_castps_si512(a.v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q);
  const __m512i quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x400000));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_mask_blend_epi32(nan, rounded, quiet), 16));
}
inline void StoreBF16(uint16_t* p, VecF32 a) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), ToBF16Bits(a));
}
inline void StoreBF16Tail(uint16_t* p, VecF32 a, int64_t n) {
  _mm256_mask_storeu_epi16(p, TailMask(n), ToBF16Bits(a));
}

#elif defined(__AVX2__)

inline constexpr int kLanes = 8;
struct VecF32 {
  __m256 v;
};
inline __m256i TailMask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline VecF32 Load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline VecF32 LoadTail(const float* p, int64_t n) { return {_mm256_maskload_ps(p, TailMask(n))}; }
inline void Store(float* p, VecF32 a) { _mm256_storeu_ps(p, a.v); }
inline void StoreTail(float* p, VecF32 a, int64_t n) { _mm256_maskstore_ps(p, TailMask(n), a.v); }
inline VecF32 Set1(float x) { return {_mm256_set1_ps(x)}; }
inline VecF32 operator+(VecF32 a, VecF32 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline VecF32 operator-(VecF32 a, VecF32 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline VecF32 operator*(VecF32 a, VecF32 b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline VecF32 operator/(VecF32 a, VecF32 b) { return {_mm256_div_ps(a.v, b.v)}; }
inline VecF32 Fma(VecF32 a, VecF32 b, VecF32 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline VecF32 Max(VecF32 a, VecF32 b) { return {_mm256_max_ps(a.v, b.v)}; }
inline VecF32 Min(VecF32 a, VecF32 b) { return {_mm256_min_ps(a.v, b.v)}; }
inline float ReduceSum(VecF32 a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float ReduceMax(VecF32 a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline VecF32 LoadTailFill(const float* p, int64_t n, float fill) {
  const __m256i mask = TailMask(n);
  return {_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, mask),
                           _mm256_castsi256_ps(mask))};
}
inline VecF32 Abs(VecF32 a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline VecF32 SelectLess(VecF32 a, VecF32 b, VecF32 if_less, VecF32 otherwise) {
  return {_mm256_blendv_ps(otherwise.v, if_less.v, _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ))};
}
inline VecF32 CopySign(VecF32 magnitude, VecF32 sign) {
  const __m256 bit = _mm256_set1_ps(-0.0f);
  return {_mm256_or_ps(_mm256_andnot_ps(bit, magnitude.v), _mm256_and_ps(bit, sign.v))};
}

inline VecF32 Exp(VecF32 x) {
  const __m256 underflow = _mm256_cmp_ps(x.v, _mm256_set1_ps(kExpLo), _CMP_LT_OQ);
  const __m256 overflow = _mm256_cmp_ps(x.v, _mm256_set1_ps(kExpHi), _CMP_GT_OQ);
  __m256 xc = _mm256_min_ps(_mm256_max_ps(x.v, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  xc = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), xc);
  xc = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), xc);
  __m256 y = _mm256_set1_ps(kExpP0);
  y = _mm256_fmadd_ps(y, xc, _mm256_set1_ps(kExpP1));
  y = _mm256_fmadd_ps(y, xc, _mm256_set1_ps(kExpP2));
  y = _mm256_fmadd_ps(y, xc, _mm256_set1_ps(kExpP3));
  y = _mm256_fmadd_ps(y, xc, _mm256_set1_ps(kExpP4));
  y = _mm256_fmadd_ps(y, xc, _mm256_set1_ps(kExpP5));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(xc, xc), _mm256_add_ps(xc, _mm256_set1_ps(1.0f)));
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
  y = _mm256_andnot_ps(underflow, y);
  return {_mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), overflow)};
}

inline VecF32 LoadF16(const uint16_t* p) {
  return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))};
}
inline VecF32 LoadBF16(const uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(wide, 16))};
}
// AVX2 has no 16-bit masked loads: tails go through a small stack copy.
inline VecF32 LoadF16Tail(const uint16_t* p, int64_t n) {
  alignas(16) uint16_t buffer[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) buffer[i] = p[i];
  return LoadF16(buffer);
}
inline VecF32 LoadBF16Tail(const uint16_t* p, int64_t n) {
  alignas(16) uint16_t buffer[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) buffer[i] = p[i];
  return LoadBF16(buffer);
}
inline __m128i ToBF16Bits(VecF32 a) {
  const __m256i bits = _mm256_castps_si256(a.v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i nearest = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  // A NaN is truncated and kept quiet (see the AVX-512 version).
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q));
  const __m256i quiet = _mm256_or_si256(bits, _mm256_set1_epi32(0x400000));
  const __m256i rounded = _mm256_srli_epi32(_mm256_blendv_epi8(nearest, quiet, nan), 16);
  // Pack 8 x u32 (each < 65536) into 8 x u16, keeping lane order.
  const __m128i lo = _mm256_castsi256_si128(rounded);
  const __m128i hi = _mm256_extracti128_si256(rounded, 1);
  return _mm_packus_epi32(lo, hi);
}
inline void StoreBF16(uint16_t* p, VecF32 a) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), ToBF16Bits(a));
}
inline void StoreBF16Tail(uint16_t* p, VecF32 a, int64_t n) {
  alignas(16) uint16_t buffer[kLanes];
  _mm_store_si128(reinterpret_cast<__m128i*>(buffer), ToBF16Bits(a));
  for (int64_t i = 0; i < n; ++i) p[i] = buffer[i];
}

#else  // Scalar: one lane, the same algorithms.

inline constexpr int kLanes = 1;
struct VecF32 {
  float v;
};
inline VecF32 Load(const float* p) { return {*p}; }
inline VecF32 LoadTail(const float* p, int64_t) { return {*p}; }
inline void Store(float* p, VecF32 a) { *p = a.v; }
inline void StoreTail(float* p, VecF32 a, int64_t) { *p = a.v; }
inline VecF32 Set1(float x) { return {x}; }
inline VecF32 operator+(VecF32 a, VecF32 b) { return {a.v + b.v}; }
inline VecF32 operator-(VecF32 a, VecF32 b) { return {a.v - b.v}; }
inline VecF32 operator*(VecF32 a, VecF32 b) { return {a.v * b.v}; }
inline VecF32 operator/(VecF32 a, VecF32 b) { return {a.v / b.v}; }
inline VecF32 Fma(VecF32 a, VecF32 b, VecF32 c) { return {a.v * b.v + c.v}; }
inline VecF32 Max(VecF32 a, VecF32 b) { return {a.v > b.v ? a.v : b.v}; }
inline VecF32 Min(VecF32 a, VecF32 b) { return {a.v < b.v ? a.v : b.v}; }
inline float ReduceSum(VecF32 a) { return a.v; }
inline float ReduceMax(VecF32 a) { return a.v; }
inline VecF32 LoadTailFill(const float* p, int64_t, float) { return {*p}; }
inline VecF32 Abs(VecF32 a) { return {__builtin_fabsf(a.v)}; }
inline VecF32 SelectLess(VecF32 a, VecF32 b, VecF32 if_less, VecF32 otherwise) {
  return a.v < b.v ? if_less : otherwise;
}
inline VecF32 CopySign(VecF32 magnitude, VecF32 sign) {
  return {__builtin_copysignf(magnitude.v, sign.v)};
}

inline VecF32 Exp(VecF32 x) {
  if (x.v < kExpLo) return {0.0f};
  if (x.v > kExpHi) return {__builtin_inff()};
  float xc = x.v;
  const float n = __builtin_rintf(xc * kLog2e);
  xc = xc - n * kLn2Hi;
  xc = xc - n * kLn2Lo;
  float y = kExpP0;
  y = y * xc + kExpP1;
  y = y * xc + kExpP2;
  y = y * xc + kExpP3;
  y = y * xc + kExpP4;
  y = y * xc + kExpP5;
  y = y * (xc * xc) + (xc + 1.0f);
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  return {y * __builtin_bit_cast(float, bits)};
}

inline float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-08f;  // 2^-24
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return __builtin_bit_cast(float, sign | 0x7f800000u | (mantissa << 13));
  return __builtin_bit_cast(float, sign | ((exponent + 112u) << 23) | (mantissa << 13));
}
inline VecF32 LoadF16(const uint16_t* p) { return {HalfBitsToFloat(*p)}; }
inline VecF32 LoadF16Tail(const uint16_t* p, int64_t) { return LoadF16(p); }
inline VecF32 LoadBF16(const uint16_t* p) {
  return {__builtin_bit_cast(float, static_cast<uint32_t>(*p) << 16)};
}
inline VecF32 LoadBF16Tail(const uint16_t* p, int64_t) { return LoadBF16(p); }
inline void StoreBF16(uint16_t* p, VecF32 a) {
  const uint32_t bits = __builtin_bit_cast(uint32_t, a.v);
  if (a.v != a.v) {  // NaN: truncated and kept quiet (see the AVX-512 version).
    *p = static_cast<uint16_t>((bits | 0x400000u) >> 16);
    return;
  }
  *p = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
inline void StoreBF16Tail(uint16_t* p, VecF32 a, int64_t) { StoreBF16(p, a); }

#endif

// tanh, from Exp: 1 - 2 / (e^{2|x|} + 1) where that has no cancellation, and near zero (|x| <
// 0.625, where it would) Cephes tanhf's odd polynomial; the sign restored last. Relative error
// about 3e-7 everywhere; e^{2|x|} overflowing to infinity gives exactly 1.
inline VecF32 Tanh(VecF32 x) {
  const VecF32 ax = Abs(x);
  const VecF32 z = ax * ax;
  VecF32 p = Set1(-5.70498872745e-3f);
  p = Fma(p, z, Set1(2.06390887954e-2f));
  p = Fma(p, z, Set1(-5.37397155531e-2f));
  p = Fma(p, z, Set1(1.33314422036e-1f));
  p = Fma(p, z, Set1(-3.33332819422e-1f));
  const VecF32 small = Fma(p * z, ax, ax);
  const VecF32 large = Set1(1.0f) - Set1(2.0f) / (Exp(ax + ax) + Set1(1.0f));
  return CopySign(SelectLess(ax, Set1(0.625f), small, large), x);
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
