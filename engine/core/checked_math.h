// Sizes from untrusted numbers (a model header, a --ctx-size, a feature count) must not wrap
// around: these saturate at INT64_MAX instead, so a product that would overflow reads as "too
// big" and is refused by the check that follows it.
#pragma once

#include <cstdint>
#include <limits>

namespace favor {

inline constexpr int64_t kSaturated = std::numeric_limits<int64_t>::max();

// a * b for non-negative a and b, or kSaturated when the product does not fit.
inline int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t product = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &product)) return kSaturated;
  return product;
}

// a + b for non-negative a and b, or kSaturated when the sum does not fit.
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &sum)) return kSaturated;
  return sum;
}

}  // namespace favor
