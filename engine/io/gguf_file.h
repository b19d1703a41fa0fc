// GGUF at the level of the file: its typed metadata and its tensors in file order, read from any
// version (1 to 3) and written as version 3. `favor quantize` rewrites a file through these; the
// model loader (LoadGguf in model_file.h) reads the same structures.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/tensor.h"

namespace favor::io {

// GGUF's metadata value types.
enum GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// A metadata value as the file types it: a scalar (integers in `integer`, every number also in
// `number`), a string, or an array of numbers or strings (`element_type`).
struct GgufValue {
  uint32_t type = 0;
  double number = 0.0;
  bool is_integer = false;
  int64_t integer = 0;
  std::string text;
  uint32_t element_type = 0;
  std::vector<double> numbers;
  std::vector<std::string> strings;
  uint64_t array_length = 0;
};

struct GgufContents {
  uint32_t version = 3;
  std::vector<std::pair<std::string, GgufValue>> metadata;
  // In file order; [outermost, ..., innermost] shapes; views into the mapped file when read.
  std::vector<std::pair<std::string, Tensor>> tensors;
};

// The whole file, checked as the loader checks it (but without interpreting the model).
absl::StatusOr<GgufContents> ReadGgufContents(const std::string& path);

// Writes `contents` as GGUF version 3 (tensor data aligned to general.alignment, default 32),
// calling `progress` after each tensor's data. Errors name the path.
absl::Status WriteGguf(const std::string& path, const GgufContents& contents,
                       const std::function<void(size_t written)>& progress = nullptr);

// The same bytes in memory (for metadata-only files: a vocabulary checked before anything is
// written to disk).
absl::StatusOr<std::string> SerializeGguf(const GgufContents& contents);

}  // namespace favor::io
