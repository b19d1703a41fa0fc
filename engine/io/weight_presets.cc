#include "engine/io/weight_presets.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"

namespace favor::io {
namespace {

constexpr WeightPreset kPresets[] = {
    {"q8_0", DType::kQ8_0, 7, DType::kQ8_0},  {"q4_0", DType::kQ4_0, 2, DType::kQ8_0},
    {"q4_1", DType::kQ4_1, 3, DType::kQ8_0},  {"q5_0", DType::kQ5_0, 8, DType::kQ8_0},
    {"q5_1", DType::kQ5_1, 9, DType::kQ8_0},  {"f16", DType::kF16, 1, DType::kF16},
    {"bf16", DType::kBF16, 32, DType::kBF16}, {"f32", DType::kF32, 0, DType::kF32},
};
constexpr const char* kKQuantPresets[] = {"q2_k",   "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s",
                                          "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"};

}  // namespace

std::string WeightPresetNames() {
  std::vector<std::string> names;
  for (const WeightPreset& p : kPresets) names.emplace_back(p.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<WeightPreset> FindWeightPreset(const std::string& name) {
  for (const WeightPreset& p : kPresets) {
    if (name == p.name) return p;
  }
  for (const char* k : kKQuantPresets) {
    if (name == k) {
      return absl::UnimplementedError(absl::StrCat(
          "--type ", name, ": the K-quant quantizers are not implemented yet (K-quant ",
          "files load and run; make them with llama-quantize); types: ", WeightPresetNames()));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --type '", name, "'; types: ", WeightPresetNames()));
}

WeightChoice ChooseWeightType(const std::string& name, const Tensor& tensor,
                              const WeightPreset& preset, bool is_head) {
  const bool matrix =
      tensor.rank() == 2 && absl::EndsWith(name, ".weight") && name != "position_embd.weight";
  if (!matrix) return {tensor.dtype(), ""};
  DType type = is_head ? preset.head : preset.matrices;
  std::string note;
  if (is_head && preset.head != preset.matrices) {
    note = absl::StrCat("output head: ", DTypeName(type),
                        " (llama.cpp's preset gives it q6_k, which favor cannot write yet)");
  }
  const int64_t row = tensor.dim(1), block = GetDTypeInfo(type).block_elements;
  if (row % block != 0) {
    note = absl::StrCat(DTypeName(type), " needs rows of whole ", block, "-value blocks, ", name,
                        " has rows of ", row, ": f16 instead");
    type = DType::kF16;
  }
  return {type, note};
}

absl::StatusOr<Tensor> ConvertWeights(const Tensor& source, DType type, int threads) {
  if (source.dtype() == type) return source;
  FAVOR_ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(type, source.shape()));
  const DTypeInfo& from = GetDTypeInfo(source.dtype());
  const DTypeInfo& to = GetDTypeInfo(type);
  const int64_t rows = source.dim(0), row = source.NumElements() / rows;
  const int64_t from_row_bytes = row / from.block_elements * from.block_bytes;
  const int64_t to_row_bytes = row / to.block_elements * to.block_bytes;
  ParallelFor(rows, threads, 16, [&](int64_t r) {
    std::vector<float> values(static_cast<size_t>(row));
    from.to_f32(static_cast<const std::byte*>(source.raw_data()) + r * from_row_bytes,
                values.data(), row);
    to.from_f32(values.data(), static_cast<std::byte*>(out.mutable_raw_data()) + r * to_row_bytes,
                row);
  });
  return out;
}

}  // namespace favor::io
