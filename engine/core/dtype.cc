#include "engine/core/dtype.h"

#include <array>
#include <limits>

#include "absl/strings/str_cat.h"

namespace favor {
namespace {

constexpr std::array<DTypeInfo, 5> kInfos = {{
    {"f32", 1, 4},
    {"f16", 1, 2},
    {"bf16", 1, 2},
    {"i32", 1, 4},
    {"q8_0", 32, 34},
}};

}  // namespace

const DTypeInfo& GetDTypeInfo(DType dtype) { return kInfos[static_cast<size_t>(dtype)]; }

absl::string_view DTypeName(DType dtype) { return GetDTypeInfo(dtype).name; }

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (size_t i = 0; i < kInfos.size(); ++i) {
    if (kInfos[i].name == name) return static_cast<DType>(i);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", name, "'"));
}

absl::StatusOr<int64_t> BytesFor(DType dtype, int64_t elements) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  if (elements < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative element count ", elements));
  }
  if (elements % info.block_elements != 0) {
    return absl::InvalidArgumentError(absl::StrCat(elements, " elements of ", info.name,
                                                   " is not a whole number of blocks of ",
                                                   info.block_elements));
  }
  const int64_t blocks = elements / info.block_elements;
  if (blocks > std::numeric_limits<int64_t>::max() / info.block_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(elements, " elements of ", info.name, " overflow a 64-bit byte count"));
  }
  return blocks * info.block_bytes;
}

int64_t ElementSize(DType dtype) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  return info.block_elements == 1 ? info.block_bytes : 0;
}

}  // namespace favor
