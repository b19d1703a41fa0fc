// Scalar conversions between f32 and the 16-bit float formats, for loaders, references and
// tests. (SIMD kernels have their own vector conversions in engine/kernels.)
#pragma once

#include <cstdint>

namespace favor {

float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);  // Round to nearest even; overflow gives infinity.
float BF16ToF32(uint16_t h);
uint16_t F32ToBF16(float f);  // Round to nearest even; NaN stays NaN.

// An f16 field of a quantized block (little-endian bytes at p), read and written.
float F16At(const uint8_t* p);
void StoreF16(uint8_t* p, float value);

}  // namespace favor
