// The K-quants' packed sub-block scales, unpacked, and the value a symmetric block's scale comes
// from: shared by the scalar quantizers and dequantizers (quant_blocks.cc, kquant_from_f32.cc,
// quant_interleaved.cc) and the per-ISA matrix kernels (kernels/quant_matmul.cc). The functions
// have internal linkage on purpose: per-ISA sources must not share an inline function with code
// built for another ISA (engine/kernels/vec.h says why), and each source gets its own copy.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

namespace favor::quant {

// Scale and min of sub-block j (0-7) of a Q4_K/Q5_K super-block from its 12 bytes of 6-bit
// values: bytes 0-3 hold scales 0-3 (low 6 bits), 4-7 mins 0-3; bytes 8-11 hold the low 4 bits
// of scales and mins 4-7, whose top 2 bits are the spare top bits of bytes 0-7.
static inline void ScaleMinK4(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

// The 16 6-bit scales of a Q3_K super-block (still offset by 32) from its 12 packed bytes: the
// low 4 bits of scales 0-7 and 8-15 in the nibbles of bytes 0-7, the top 2 bits in bytes 8-11.
static inline void UnpackQ3_KScales(const uint8_t* packed, int8_t* scales) {
  constexpr uint32_t kMask1 = 0x03030303, kMask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  memcpy(aux, packed, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kMask2) | (((tmp >> 4) & kMask1) << 4);
  aux[3] = ((aux[1] >> 4) & kMask2) | (((tmp >> 6) & kMask1) << 4);
  aux[0] = (aux[0] & kMask2) | (((tmp >> 0) & kMask1) << 4);
  aux[1] = (aux[1] & kMask2) | (((tmp >> 2) & kMask1) << 4);
  memcpy(scales, aux, 16);
}

// The value of largest magnitude, with its sign (the first of equals): the symmetric formats map
// it to their most negative code.
static inline float SignedMax(const float* x, int64_t n) {
  float amax = 0.0f, max = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (amax < fabsf(x[i])) {
      amax = fabsf(x[i]);
      max = x[i];
    }
  }
  return max;
}

// The 6-bit scale (still offset by 32) of sub-block j (0-7) of an IQ4_XS super-block: its low 4
// bits are nibble j % 2 of scales_l[j / 2] (bytes 4-7), its top 2 bits bits 2j, 2j + 1 of the
// 16-bit scales_h (bytes 2-3).
static inline int IQ4_XSSubScale(const uint8_t* block, int j) {
  const int scales_h = block[2] | (block[3] << 8);
  return ((block[4 + j / 2] >> (4 * (j % 2))) & 0x0F) | (((scales_h >> (2 * j)) & 3) << 4);
}

// Round half to even, as ggml's nearest_int does for the magnitudes it allows (|v| < 2^22);
// beyond that (a value divided by a tiny sub-block scale) the codes are clamped anyway.
static inline int NearestInt(float v) {
  const float limit = 4194303.0f;
  return static_cast<int>(nearbyintf(fminf(fmaxf(v, -limit), limit)));
}

}  // namespace favor::quant
