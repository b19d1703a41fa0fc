#include "engine/core/dtype.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/half.h"
#include "engine/core/quant_blocks.h"

namespace favor {
namespace {

// --- Plain floats: one conversion per element ---

template <float (*kToF32)(uint16_t)>
void HalfToF32(const void* data, float* out, int64_t count) {
  const auto* in = static_cast<const uint16_t*>(data);
  for (int64_t i = 0; i < count; ++i) out[i] = kToF32(in[i]);
}

template <uint16_t (*kFromF32)(float)>
void HalfFromF32(const float* values, void* out, int64_t count) {
  auto* bits = static_cast<uint16_t*>(out);
  for (int64_t i = 0; i < count; ++i) bits[i] = kFromF32(values[i]);
}

void F32ToF32(const void* data, float* out, int64_t count) {
  std::memcpy(out, data, static_cast<size_t>(count) * sizeof(float));
}

void F32FromF32(const float* values, void* out, int64_t count) {
  std::memcpy(out, values, static_cast<size_t>(count) * sizeof(float));
}

// The first element of `count` that is an Inf or a NaN in an IEEE binary format whose magnitude
// bits are `magnitude_mask` and whose all-ones exponent starts at `infinity`, or -1. A value is
// non-finite iff its magnitude bits are >= infinity's: a max-reduction per block, which compilers
// vectorise (a bool-or of exponent tests did not: 4x slower), so the check streams the weights
// near memory speed (bench/load_checks_bench.cc).
template <typename Bits, Bits kMagnitudeMask, Bits kInfinity>
int64_t FirstNonFinite(const void* data, int64_t count) {
  const auto* bits = static_cast<const Bits*>(data);
  constexpr int64_t kBlock = 4096;
  for (int64_t start = 0; start < count; start += kBlock) {
    const int64_t end = std::min(count, start + kBlock);
    Bits largest = 0;
    for (int64_t i = start; i < end; ++i) {
      const Bits magnitude = static_cast<Bits>(bits[i] & kMagnitudeMask);
      largest = magnitude > largest ? magnitude : largest;
    }
    if (largest < kInfinity) continue;
    for (int64_t i = start; i < end; ++i) {
      if (static_cast<Bits>(bits[i] & kMagnitudeMask) >= kInfinity) return i;
    }
  }
  return -1;
}

// Reference dot products: elements converted one block at a time, summed in double.
template <void (*kToF32)(const void*, float*, int64_t), int64_t kBlockElements, int64_t kBlockBytes>
double DotF32(const void* data, const float* x, int64_t count) {
  const auto* bytes = static_cast<const std::byte*>(data);
  float block[kBlockElements];
  double sum = 0;
  for (int64_t start = 0; start < count; start += kBlockElements) {
    kToF32(bytes + start / kBlockElements * kBlockBytes, block, kBlockElements);
    for (int64_t i = 0; i < kBlockElements; ++i) {
      sum += static_cast<double>(block[i]) * x[start + i];
    }
  }
  return sum;
}

// --- Q8_0: per block of 32, an f16 scale d and int8 q; x = d * q ---

constexpr int64_t kQ8Block = 32;
constexpr int64_t kQ8Bytes = quant::kQ8_0Bytes;

void Q8_0ToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kQ8Block; ++b, block += kQ8Bytes) {
    uint16_t scale_bits;
    std::memcpy(&scale_bits, block, 2);
    const float scale = F16ToF32(scale_bits);
    for (int64_t i = 0; i < kQ8Block; ++i) {
      out[b * kQ8Block + i] = scale * static_cast<float>(static_cast<int8_t>(block[2 + i]));
    }
  }
}

void Q8_0FromF32(const float* values, void* out, int64_t count) {
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < count / kQ8Block; ++b, block += kQ8Bytes) {
    const float* x = values + b * kQ8Block;
    float largest = 0;
    bool finite = true;
    for (int64_t i = 0; i < kQ8Block; ++i) {
      finite = finite && std::isfinite(x[i]);
      largest = std::max(largest, std::fabs(x[i]));
    }
    // A NaN or Inf makes the scale non-finite, where the NaN check finds it.
    const float scale = finite ? largest / 127.0f : std::numeric_limits<float>::quiet_NaN();
    const uint16_t scale_bits = F32ToF16(scale);
    std::memcpy(block, &scale_bits, 2);
    const float inverse = scale != 0.0f && finite ? 1.0f / scale : 0.0f;
    for (int64_t i = 0; i < kQ8Block; ++i) {
      const float q = std::clamp(std::nearbyint(x[i] * inverse), -127.0f, 127.0f);
      block[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
  }
}

int64_t Q8_0FirstNonFinite(const void* data, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kQ8Block; ++b, block += kQ8Bytes) {
    uint16_t scale_bits;
    std::memcpy(&scale_bits, block, 2);
    if ((scale_bits & 0x7fff) >= 0x7c00) return b * kQ8Block;
  }
  return -1;
}

using quant::FirstNonFiniteScale;
using quant::kLegacyBlock;
using quant::kSuperBlock;

constexpr std::array<DTypeInfo, kDTypeCount> kInfos = {{
    {DType::kF32, "f32", 1, 4, 0, "F32", F32ToF32, F32FromF32,
     FirstNonFinite<uint32_t, 0x7fffffffu, 0x7f800000u>, DotF32<F32ToF32, 1, 4>},
    {DType::kF16, "f16", 1, 2, 1, "F16", HalfToF32<F16ToF32>, HalfFromF32<F32ToF16>,
     FirstNonFinite<uint16_t, 0x7fff, 0x7c00>, DotF32<HalfToF32<F16ToF32>, 1, 2>},
    {DType::kBF16, "bf16", 1, 2, 30, "BF16", HalfToF32<BF16ToF32>, HalfFromF32<F32ToBF16>,
     FirstNonFinite<uint16_t, 0x7fff, 0x7f80>, DotF32<HalfToF32<BF16ToF32>, 1, 2>},
    {DType::kI32, "i32", 1, 4, -1, "", nullptr, nullptr, nullptr, nullptr},
    {DType::kQ8_0, "q8_0", kQ8Block, kQ8Bytes, 8, "", Q8_0ToF32, Q8_0FromF32, Q8_0FirstNonFinite,
     DotF32<Q8_0ToF32, kQ8Block, kQ8Bytes>},
    {DType::kQ4_0, "q4_0", kLegacyBlock, quant::kQ4_0Bytes, 2, "", quant::Q4_0ToF32,
     quant::Q4_0FromF32, FirstNonFiniteScale<kLegacyBlock, quant::kQ4_0Bytes, 0>,
     DotF32<quant::Q4_0ToF32, kLegacyBlock, quant::kQ4_0Bytes>},
    {DType::kQ4_1, "q4_1", kLegacyBlock, quant::kQ4_1Bytes, 3, "", quant::Q4_1ToF32,
     quant::Q4_1FromF32, FirstNonFiniteScale<kLegacyBlock, quant::kQ4_1Bytes, 0, 2>,
     DotF32<quant::Q4_1ToF32, kLegacyBlock, quant::kQ4_1Bytes>},
    {DType::kQ5_0, "q5_0", kLegacyBlock, quant::kQ5_0Bytes, 6, "", quant::Q5_0ToF32,
     quant::Q5_0FromF32, FirstNonFiniteScale<kLegacyBlock, quant::kQ5_0Bytes, 0>,
     DotF32<quant::Q5_0ToF32, kLegacyBlock, quant::kQ5_0Bytes>},
    {DType::kQ5_1, "q5_1", kLegacyBlock, quant::kQ5_1Bytes, 7, "", quant::Q5_1ToF32,
     quant::Q5_1FromF32, FirstNonFiniteScale<kLegacyBlock, quant::kQ5_1Bytes, 0, 2>,
     DotF32<quant::Q5_1ToF32, kLegacyBlock, quant::kQ5_1Bytes>},
    {DType::kQ2_K, "q2_k", kSuperBlock, quant::kQ2_KBytes, 10, "", quant::Q2_KToF32,
     quant::Q2_KFromF32, FirstNonFiniteScale<kSuperBlock, quant::kQ2_KBytes, 80, 82>,
     DotF32<quant::Q2_KToF32, kSuperBlock, quant::kQ2_KBytes>},
    {DType::kQ3_K, "q3_k", kSuperBlock, quant::kQ3_KBytes, 11, "", quant::Q3_KToF32,
     quant::Q3_KFromF32, FirstNonFiniteScale<kSuperBlock, quant::kQ3_KBytes, 108>,
     DotF32<quant::Q3_KToF32, kSuperBlock, quant::kQ3_KBytes>},
    {DType::kQ4_K, "q4_k", kSuperBlock, quant::kQ4_KBytes, 12, "", quant::Q4_KToF32,
     quant::Q4_KFromF32, FirstNonFiniteScale<kSuperBlock, quant::kQ4_KBytes, 0, 2>,
     DotF32<quant::Q4_KToF32, kSuperBlock, quant::kQ4_KBytes>},
    {DType::kQ5_K, "q5_k", kSuperBlock, quant::kQ5_KBytes, 13, "", quant::Q5_KToF32,
     quant::Q5_KFromF32, FirstNonFiniteScale<kSuperBlock, quant::kQ5_KBytes, 0, 2>,
     DotF32<quant::Q5_KToF32, kSuperBlock, quant::kQ5_KBytes>},
    {DType::kQ6_K, "q6_k", kSuperBlock, quant::kQ6_KBytes, 14, "", quant::Q6_KToF32,
     quant::Q6_KFromF32, FirstNonFiniteScale<kSuperBlock, quant::kQ6_KBytes, 208>,
     DotF32<quant::Q6_KToF32, kSuperBlock, quant::kQ6_KBytes>},
    {DType::kIQ4_NL, "iq4_nl", kLegacyBlock, quant::kIQ4_NLBytes, 20, "", quant::IQ4_NLToF32,
     quant::IQ4_NLFromF32, FirstNonFiniteScale<kLegacyBlock, quant::kIQ4_NLBytes, 0>,
     DotF32<quant::IQ4_NLToF32, kLegacyBlock, quant::kIQ4_NLBytes>},
    {DType::kIQ4_XS, "iq4_xs", kSuperBlock, quant::kIQ4_XSBytes, 23, "", quant::IQ4_XSToF32,
     quant::IQ4_XSFromF32, FirstNonFiniteScale<kSuperBlock, quant::kIQ4_XSBytes, 0>,
     DotF32<quant::IQ4_XSToF32, kSuperBlock, quant::kIQ4_XSBytes>},
}};

std::string SupportedNames(bool ggml) {
  std::vector<std::string> names;
  for (const DTypeInfo& info : kInfos) {
    if (ggml ? info.ggml_type >= 0 : !info.safetensors_name.empty()) {
      names.push_back(absl::AsciiStrToUpper(info.name));
    }
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

const DTypeInfo& GetDTypeInfo(DType dtype) { return kInfos[static_cast<size_t>(dtype)]; }

absl::string_view DTypeName(DType dtype) { return GetDTypeInfo(dtype).name; }

std::span<const DTypeInfo> AllDTypes() { return kInfos; }

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (const DTypeInfo& info : kInfos) {
    if (info.name == name) return info.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", name, "'"));
}

absl::StatusOr<DType> DTypeFromGgml(uint32_t ggml_type) {
  for (const DTypeInfo& info : kInfos) {
    if (info.ggml_type >= 0 && static_cast<uint32_t>(info.ggml_type) == ggml_type) {
      return info.dtype;
    }
  }
  return absl::UnimplementedError(absl::StrCat("unsupported GGML type ", ggml_type,
                                               " (supported: ", SupportedNames(true), ")"));
}

absl::StatusOr<DType> DTypeFromSafetensors(absl::string_view name) {
  for (const DTypeInfo& info : kInfos) {
    if (!info.safetensors_name.empty() && info.safetensors_name == name) return info.dtype;
  }
  return absl::UnimplementedError(
      absl::StrCat("unsupported dtype ", name, " (supported: ", SupportedNames(false), ")"));
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
