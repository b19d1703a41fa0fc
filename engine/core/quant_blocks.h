// GGML's quantized block formats (the GGUF specification; ggml-common.h in ggerganov/llama.cpp
// names the fields), as the scalar reference operations of the type table (engine/core/dtype.h):
// dequantization, which must equal ggml's bit for bit (tests/data/quantized holds ggml's own
// output), reference quantization where the engine has one, and the NaN check of the f16 scales.
//
// Legacy formats, blocks of 32: Q4_0 (f16 d; 16 bytes of 4-bit q; x = d (q - 8)), Q4_1 (f16 d,
// f16 m; x = d q + m), Q5_0 and Q5_1 (the same with a fifth bit per value in a 32-bit qh).
// K-quants, super-blocks of 256 in sub-blocks of 16 or 32 with quantized scales: Q2_K, Q3_K,
// Q4_K, Q5_K (2 to 5 bits per value, scales and mins of 4 or 6 bits under f16 super-scales) and
// Q6_K (6 bits, int8 scales).
// Non-linear formats (iq4_blocks.cc): 4-bit codes index a fixed table of 16 int8 levels, denser
// near zero. IQ4_NL: blocks of 32 laid out as Q4_0 (f16 d, 16 bytes of nibbles; x = d level);
// IQ4_XS: super-blocks of 256 (f16 d, u16 scales_h, 4 bytes scales_l, 128 bytes of nibbles), each
// sub-block of 32 under a 6-bit scale ls; x = d (ls - 32) level.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace favor::quant {

inline constexpr int64_t kLegacyBlock = 32;
inline constexpr int64_t kSuperBlock = 256;

inline constexpr int64_t kQ8_0Bytes = 34;
inline constexpr int64_t kQ4_0Bytes = 18;
inline constexpr int64_t kQ4_1Bytes = 20;
inline constexpr int64_t kQ5_0Bytes = 22;
inline constexpr int64_t kQ5_1Bytes = 24;
inline constexpr int64_t kQ2_KBytes = 84;
inline constexpr int64_t kQ3_KBytes = 110;
inline constexpr int64_t kQ4_KBytes = 144;
inline constexpr int64_t kQ5_KBytes = 176;
inline constexpr int64_t kQ6_KBytes = 210;
inline constexpr int64_t kIQ4_NLBytes = 18;
inline constexpr int64_t kIQ4_XSBytes = 136;

// The levels of the non-linear formats' 4-bit codes.
inline constexpr int8_t kIQ4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

// `count` f32 values from whole blocks at `data`.
void Q4_0ToF32(const void* data, float* out, int64_t count);
void Q4_1ToF32(const void* data, float* out, int64_t count);
void Q5_0ToF32(const void* data, float* out, int64_t count);
void Q5_1ToF32(const void* data, float* out, int64_t count);
void Q2_KToF32(const void* data, float* out, int64_t count);
void Q3_KToF32(const void* data, float* out, int64_t count);
void Q4_KToF32(const void* data, float* out, int64_t count);
void Q5_KToF32(const void* data, float* out, int64_t count);
void Q6_KToF32(const void* data, float* out, int64_t count);
void IQ4_NLToF32(const void* data, float* out, int64_t count);
void IQ4_XSToF32(const void* data, float* out, int64_t count);

// Quantization as ggml's reference quantizers do it (no importance matrix), bit for bit: round to
// nearest for the legacy formats; for the K-quants (kquant_from_f32.cc) a search for each
// sub-block's scale and min, then the scales themselves quantized.
void Q4_0FromF32(const float* values, void* out, int64_t count);
void Q4_1FromF32(const float* values, void* out, int64_t count);
void Q5_0FromF32(const float* values, void* out, int64_t count);
void Q5_1FromF32(const float* values, void* out, int64_t count);
void Q2_KFromF32(const float* values, void* out, int64_t count);
void Q3_KFromF32(const float* values, void* out, int64_t count);
void Q4_KFromF32(const float* values, void* out, int64_t count);
void Q5_KFromF32(const float* values, void* out, int64_t count);
void Q6_KFromF32(const float* values, void* out, int64_t count);
// The non-linear formats: each sub-block's scale by a search over 15 candidates (ggml's
// quantize_iq4_nl and quantize_iq4_xs without an importance matrix), codes the nearest levels.
void IQ4_NLFromF32(const float* values, void* out, int64_t count);
void IQ4_XSFromF32(const float* values, void* out, int64_t count);

// For the reference quantizers: false, and the block of `bytes` zeroed with NaN f16 scales at
// the byte offsets `nan_at`, when x[0..n) holds a NaN or an Inf (the loader's check then refuses
// the tensor rather than run garbage codes); true otherwise.
bool FiniteOrPoisoned(const float* x, int64_t n, uint8_t* block, int64_t bytes,
                      std::initializer_list<int> nan_at);

// The first element of the first block whose f16 scales (at the byte offsets kOffsets of each
// kBlockBytes-byte block of kBlockElements values) hold a NaN or an Inf, or -1.
template <int64_t kBlockElements, int64_t kBlockBytes, int... kOffsets>
int64_t FirstNonFiniteScale(const void* data, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kBlockElements; ++b, block += kBlockBytes) {
    for (const int offset : {kOffsets...}) {
      const auto bits = static_cast<uint16_t>(block[offset] | (block[offset + 1] << 8));
      if ((bits & 0x7fff) >= 0x7c00) return b * kBlockElements;
    }
  }
  return -1;
}

}  // namespace favor::quant
