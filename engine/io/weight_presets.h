// Weight-type presets, as llama.cpp's llama-quantize names them (q8_0, q4_0, ...): which type each
// tensor of a model gets and the conversion, shared by `favor quantize` (which writes the result)
// and `favor bench --dtype` (which runs synthetic models stored that way).
//
// Matrices (rank 2, ".weight", not the learned positions) take the preset's type; norms, biases
// and rope factors keep theirs. The output head (or the tied embedding) gets Q6_K in llama.cpp's
// 4- and 5-bit presets; without a K-quant quantizer it gets Q8_0 here. A matrix whose rows are
// not whole blocks of the type falls back to f16 (llama.cpp's last fallback).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "engine/core/tensor.h"

namespace favor::io {

struct WeightPreset {
  const char* name;
  DType matrices;
  int file_type;  // llama.cpp's llama_ftype, for GGUF's general.file_type.
  DType head;
};

// The presets' names, "q8_0, q4_0, ...".
std::string WeightPresetNames();
// A preset by name; the K-quant ones are refused as not implemented, naming the others.
absl::StatusOr<WeightPreset> FindWeightPreset(const std::string& name);

// The type a tensor gets, and a note when it is not the preset's matrix type.
struct WeightChoice {
  DType type;
  std::string note;
};
WeightChoice ChooseWeightType(const std::string& name, const Tensor& tensor,
                              const WeightPreset& preset, bool is_head);

// `source` (any weight type) in `type`: rows converted in parallel through f32 (the type table's
// reference conversions, ggml's bit for bit). The same tensor when the type is already `type`.
absl::StatusOr<Tensor> ConvertWeights(const Tensor& source, DType type, int threads);

}  // namespace favor::io
