// The element types' identifiers alone, without their table (engine/core/dtype.h): a plain enum
// that the kernel table (which may include nothing with inline code) can index by.
#pragma once

#include <stdint.h>

namespace favor {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kI32,
  kQ8_0,  // GGML Q8_0: 32 int8 values and one f16 scale per block.
  // GGML's other block formats (engine/core/quant_blocks.h).
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ2_K,
  kQ3_K,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kIQ4_NL,
  kIQ4_XS,
};
inline constexpr int kDTypeCount = static_cast<int>(DType::kIQ4_XS) + 1;

}  // namespace favor
