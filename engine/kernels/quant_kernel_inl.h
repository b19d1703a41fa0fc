// Helpers shared by the quantized-weight kernels (quant_matmul.cc,
// quant_interleaved_matmul.cc), in the ISA's own namespace as vec.h requires of inline code.
#pragma once

#include <stdint.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#ifndef FAVOR_KERNEL_NS
#error "FAVOR_KERNEL_NS must be defined by the build (scalar, avx2 or avx512)"
#endif

namespace favor::kernels::FAVOR_KERNEL_NS {

// The f16 at p (little-endian, as GGUF stores it) as a float.
inline float HalfAt(const uint8_t* p) {
#if defined(__F16C__)
  uint16_t bits;  // x86: little-endian, as the file.
  memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
#else
  const auto bits = static_cast<uint16_t>(p[0] | (p[1] << 8));
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ffu;
  uint32_t out;
  if (exponent == 0) {  // Zero or subnormal: mantissa * 2^-24, exact in f32.
    float value = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    memcpy(&out, &value, 4);
    out |= sign;
  } else if (exponent == 31) {
    out = sign | 0x7f800000u | (mantissa << 13);
  } else {
    out = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float result;
  memcpy(&result, &out, 4);
  return result;
#endif
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
