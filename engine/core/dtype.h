// Element types of tensors. Block-quantized types (Q8_0, ...) are described by their block: a
// block of `block_elements` values takes `block_bytes` bytes, so sizes are computed one way for
// every type.
#pragma once

#include <cstdint>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace favor {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kI32,
  kQ8_0,  // GGML Q8_0: 32 int8 values and one f16 scale per block.
};

struct DTypeInfo {
  absl::string_view name;
  int64_t block_elements;
  int64_t block_bytes;
};

const DTypeInfo& GetDTypeInfo(DType dtype);
absl::string_view DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(absl::string_view name);

// Bytes taken by `elements` values; the count must be a whole number of blocks.
absl::StatusOr<int64_t> BytesFor(DType dtype, int64_t elements);

// Size of one element of a non-block type (f32: 4, f16: 2, ...). Block types return 0.
int64_t ElementSize(DType dtype);

}  // namespace favor
