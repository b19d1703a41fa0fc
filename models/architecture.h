// The architectures the engine builds, as data: each is a row of traits (norm, feed-forward,
// positions, ...) that fill a ModelConfig, which the one generic decoder (models/decoder.h) turns
// into a graph. Adding an architecture is adding a row here, the file formats' names for it
// (engine/io), and any op its traits need that the engine lacks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/io/model_file.h"

namespace favor::models {

struct Architecture {
  std::string_view name;  // GGUF's general.architecture.
  io::NormKind norm;
  bool norm_adds_one;
  io::FeedForwardKind feed_forward;
  io::PositionKind positions;
  bool attention_bias = false;  // q/k/v projections have biases.
  // How GGUF files store the rotary pairs: llama.cpp's converter permutes q/k rows into adjacent
  // pairs for the Llama family and leaves others (Qwen2, Phi-3, Gemma) as the halves they are.
  io::RotaryPairs gguf_rotary_pairs = io::RotaryPairs::kAdjacent;
};

// The row for `name`, or an error listing the supported ones.
absl::StatusOr<const Architecture*> FindArchitecture(std::string_view name);
std::vector<std::string> SupportedArchitectures();

// Sets the model's traits from its architecture's row.
absl::Status ApplyArchitecture(io::ModelFile& model);

}  // namespace favor::models
