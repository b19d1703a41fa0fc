// Weight-type presets, as llama.cpp's llama-quantize names them (q8_0, q4_0, q4_k_m, ...): which
// type each tensor of a model gets and the conversion, shared by `favor quantize` (which writes
// the result) and `favor bench --dtype` (which runs synthetic models stored that way).
//
// Matrices (rank 2, ".weight", not the learned positions) take the preset's type; norms, biases
// and rope factors keep theirs. As in llama.cpp, the output head (or the tied embedding) of a
// quantized preset gets Q6_K (Q8_0 in q8_0), and the K presets give some tensors more bits: the
// rules are data (kRules in weight_presets.cc), one list per preset. A matrix whose rows are not
// whole blocks of its type falls back to a smaller block, as llama.cpp's does, then to f16.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/tensor.h"

namespace favor::io {

// Which layers a rule covers, among the tensors of its role (llama.cpp's choices).
enum class LayerSet {
  kAll,
  kMoreBits,  // The first and last eighth, and every third one between (use_more_bits).
  kFirstEighth,
  kFirstSixteenth,
  kFirstTwo,
  kFirstFour,
};

// Tensors whose name contains `role`, in the layers of `layers`, get `type`; with
// `needs_grouped_queries`, only in models with at least 4 query heads per KV head.
struct TypeRule {
  const char* role;
  LayerSet layers;
  DType type;
  bool needs_grouped_queries = false;
};

struct WeightPreset {
  const char* name;
  DType matrices;
  int file_type;                    // llama.cpp's llama_ftype, for GGUF's general.file_type.
  std::span<const TypeRule> rules;  // The first that matches wins.
};

// The presets' names, "q8_0, q4_0, ...".
std::string WeightPresetNames();
// A preset by name; an unknown one is refused, naming the others.
absl::StatusOr<WeightPreset> FindWeightPreset(const std::string& name);

// The type a tensor gets, and a note when it falls back from the type its rules give.
struct WeightChoice {
  DType type;
  std::string note;
};

// A preset applied to one model, whose tensors are named as in GGUF ("blk.N.attn_v.weight"): the
// rules need each tensor's layer, the number of layers and of query heads per KV head.
class WeightTypePlan {
 public:
  WeightTypePlan(const WeightPreset& preset, const std::vector<std::string>& tensor_names,
                 int64_t query_heads_per_kv_head);
  WeightChoice Choose(const std::string& name, const Tensor& tensor) const;

 private:
  // The type the preset's rules give a matrix, before the fallbacks for its row size.
  DType RuleType(const std::string& name) const;

  WeightPreset preset_;
  std::string head_;  // output.weight, or the tied token_embd.weight.
  int64_t layers_ = 0;
  int64_t query_heads_per_kv_head_;
};

// `source` (any weight type) in `type`: rows converted in parallel through f32 (the type table's
// reference conversions, ggml's bit for bit). The same tensor when the type is already `type`.
absl::StatusOr<Tensor> ConvertWeights(const Tensor& source, DType type, int threads);

}  // namespace favor::io
