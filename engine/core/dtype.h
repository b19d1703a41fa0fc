// Element types of tensors, and everything the engine knows about each, in one table (ggml's
// type_traits): its name, its block (a block of `block_elements` values takes `block_bytes`
// bytes, so sizes are computed one way for every type), its names in the file formats, and the
// scalar reference operations loading, the NaN check, embedding lookups and matrix code share.
// A new weight type is one row here (and its kernels); tests/core/dtype_test.cc checks every row.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/core/dtype_id.h"

namespace favor {

struct DTypeInfo {
  DType dtype;
  absl::string_view name;
  int64_t block_elements;
  int64_t block_bytes;
  int ggml_type;                       // GGUF's type id; -1: none.
  absl::string_view safetensors_name;  // "": none.
  // Weight types only (null for i32). `count` is a whole number of blocks.
  // f32 values of `count` elements.
  void (*to_f32)(const void* data, float* out, int64_t count);
  // The representable values nearest `values` (quantized: as ggml's reference quantizers choose
  // them, engine/core/quant_blocks.h).
  void (*from_f32)(const float* values, void* out, int64_t count);
  // The index of the first NaN or Inf (quantized: the first element of the block whose scale is
  // one), or -1.
  int64_t (*first_non_finite)(const void* data, int64_t count);
  // The dot product of `count` elements with f32 values, accumulated in double: the reference
  // every matrix kernel of the type is tested against.
  double (*dot_f32)(const void* data, const float* x, int64_t count);

  bool quantized() const { return block_elements > 1; }
  bool weights() const { return to_f32 != nullptr; }
};

const DTypeInfo& GetDTypeInfo(DType dtype);
absl::string_view DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(absl::string_view name);
// Every type of the table (tests iterate it).
std::span<const DTypeInfo> AllDTypes();

// A file's type ids and names; errors list the supported ones.
absl::StatusOr<DType> DTypeFromGgml(uint32_t ggml_type);
absl::StatusOr<DType> DTypeFromSafetensors(absl::string_view name);

// Bytes taken by `elements` values; the count must be a whole number of blocks.
absl::StatusOr<int64_t> BytesFor(DType dtype, int64_t elements);

// Size of one element of a non-block type (f32: 4, f16: 2, ...). Block types return 0.
int64_t ElementSize(DType dtype);

}  // namespace favor
