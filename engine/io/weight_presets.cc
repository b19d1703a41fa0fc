#include "engine/io/weight_presets.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"

namespace favor::io {
namespace {

using enum LayerSet;

// llama.cpp's rules (llama_tensor_get_type) for the presets that give some tensors more bits, in
// its order of precedence. Its rules for MoE (8 experts), 70B models and Falcon are left out:
// favor runs none of those. q2_k_s and the IQ types below 4 bits need an importance matrix, which
// favor does not compute.
constexpr TypeRule kQ2_KRules[] = {
    {"attn_v.weight", kAll, DType::kQ4_K, true},
    {"attn_v.weight", kAll, DType::kQ3_K},
    {"ffn_down", kAll, DType::kQ3_K},
    {"attn_output.weight", kAll, DType::kQ3_K},
};
constexpr TypeRule kQ3_K_MRules[] = {
    {"attn_v.weight", kFirstTwo, DType::kQ5_K},  {"attn_v.weight", kAll, DType::kQ4_K},
    {"ffn_down", kFirstSixteenth, DType::kQ5_K}, {"ffn_down", kAll, DType::kQ4_K},
    {"attn_output.weight", kAll, DType::kQ4_K},  {"attn_qkv.weight", kAll, DType::kQ4_K},
};
constexpr TypeRule kQ3_K_LRules[] = {
    {"attn_v.weight", kAll, DType::kQ5_K},
    {"ffn_down", kAll, DType::kQ5_K},
    {"attn_output.weight", kAll, DType::kQ5_K},
    {"attn_qkv.weight", kAll, DType::kQ4_K},
};
constexpr TypeRule kQ4_K_SRules[] = {
    {"attn_v.weight", kFirstFour, DType::kQ5_K},
    {"ffn_down", kFirstEighth, DType::kQ5_K},
};
constexpr TypeRule kQ4_K_MRules[] = {
    {"attn_v.weight", kMoreBits, DType::kQ6_K},
    {"ffn_down", kMoreBits, DType::kQ6_K},
    {"attn_qkv.weight", kAll, DType::kQ5_K},
};
// Without an importance matrix (always, in favor) llama.cpp gives the first eighth of ffn_down more
// bits too.
constexpr TypeRule kIQ4Rules[] = {
    {"attn_v.weight", kAll, DType::kQ5_K, true},
    {"ffn_down", kFirstEighth, DType::kQ5_K},
};
constexpr TypeRule kQ5_K_MRules[] = {
    {"attn_v.weight", kMoreBits, DType::kQ6_K},
    {"ffn_down", kMoreBits, DType::kQ6_K},
    {"attn_qkv.weight", kAll, DType::kQ6_K},
};

constexpr WeightPreset kPresets[] = {
    {"q8_0", DType::kQ8_0, 7, {}},
    {"q6_k", DType::kQ6_K, 18, {}},
    {"q5_k_m", DType::kQ5_K, 17, kQ5_K_MRules},
    {"q5_k_s", DType::kQ5_K, 16, {}},
    {"q5_1", DType::kQ5_1, 9, {}},
    {"q5_0", DType::kQ5_0, 8, {}},
    {"q4_k_m", DType::kQ4_K, 15, kQ4_K_MRules},
    {"q4_k_s", DType::kQ4_K, 14, kQ4_K_SRules},
    {"q4_1", DType::kQ4_1, 3, {}},
    {"q4_0", DType::kQ4_0, 2, {}},
    {"iq4_nl", DType::kIQ4_NL, 25, kIQ4Rules},
    {"iq4_xs", DType::kIQ4_XS, 30, kIQ4Rules},
    {"q3_k_l", DType::kQ3_K, 13, kQ3_K_LRules},
    {"q3_k_m", DType::kQ3_K, 12, kQ3_K_MRules},
    {"q3_k_s", DType::kQ3_K, 11, {}},
    {"q2_k", DType::kQ2_K, 10, kQ2_KRules},
    {"f16", DType::kF16, 1, {}},
    {"bf16", DType::kBF16, 32, {}},
    {"f32", DType::kF32, 0, {}},
};

bool InLayerSet(LayerSet set, int64_t layer, int64_t layers) {
  switch (set) {
    case kAll:
      return true;
    case kMoreBits:
      return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    case kFirstEighth:
      return layer < layers / 8;
    case kFirstSixteenth:
      return layer < layers / 16;
    case kFirstTwo:
      return layer < 2;
    case kFirstFour:
      return layer < 4;
  }
  return false;
}

// The N of "blk.N.", or -1.
int64_t LayerNumber(const std::string& name) {
  constexpr size_t kPrefix = 4;  // "blk."
  if (!absl::StartsWith(name, "blk.")) return -1;
  const size_t dot = name.find('.', kPrefix);
  int64_t layer = 0;
  if (dot == std::string::npos || !absl::SimpleAtoi(name.substr(kPrefix, dot - kPrefix), &layer)) {
    return -1;
  }
  return layer;
}

// The type llama.cpp falls back to when a matrix's rows are not whole blocks of `type`; every type
// falls back to f16 when even that does not fit.
DType SmallerBlockType(DType type) {
  switch (type) {
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kIQ4_XS:
      return DType::kIQ4_NL;
    case DType::kQ4_K:
      return DType::kQ5_0;
    case DType::kQ5_K:
      return DType::kQ5_1;
    case DType::kQ6_K:
      return DType::kQ8_0;
    default:
      return DType::kF16;
  }
}

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
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --type '", name, "'; types: ", WeightPresetNames()));
}

WeightTypePlan::WeightTypePlan(const WeightPreset& preset,
                               const std::vector<std::string>& tensor_names,
                               int64_t query_heads_per_kv_head)
    : preset_(preset),
      head_("token_embd.weight"),
      query_heads_per_kv_head_(query_heads_per_kv_head) {
  for (const std::string& name : tensor_names) {
    if (name == "output.weight") head_ = name;
    layers_ = std::max(layers_, LayerNumber(name) + 1);
  }
}

DType WeightTypePlan::RuleType(const std::string& name) const {
  const bool quantized = GetDTypeInfo(preset_.matrices).block_elements > 1;
  if (name == head_ && quantized) {
    return preset_.matrices == DType::kQ8_0 ? DType::kQ8_0 : DType::kQ6_K;
  }
  for (const TypeRule& rule : preset_.rules) {
    if (name.find(rule.role) == std::string::npos) continue;
    if (rule.needs_grouped_queries && query_heads_per_kv_head_ < 4) continue;
    if (InLayerSet(rule.layers, std::max<int64_t>(0, LayerNumber(name)), layers_)) {
      return rule.type;
    }
  }
  return preset_.matrices;
}

WeightChoice WeightTypePlan::Choose(const std::string& name, const Tensor& tensor) const {
  const bool matrix =
      tensor.rank() == 2 && absl::EndsWith(name, ".weight") && name != "position_embd.weight";
  if (!matrix) return {tensor.dtype(), ""};
  const DType wanted = RuleType(name);
  const int64_t row = tensor.dim(1);
  DType type = wanted;
  if (row % GetDTypeInfo(type).block_elements != 0) type = SmallerBlockType(type);
  if (row % GetDTypeInfo(type).block_elements != 0) type = DType::kF16;
  if (type == wanted) return {type, ""};
  return {type, absl::StrCat(name, " has rows of ", row, ", not whole ",
                             GetDTypeInfo(wanted).block_elements, "-value blocks of ",
                             DTypeName(wanted), ": ", DTypeName(type), " instead")};
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
