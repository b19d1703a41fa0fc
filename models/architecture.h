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
  // Norm weights w are applied as (1 + w) (Gemma). Hugging Face files only: llama.cpp's converter
  // adds the 1 to the weights it writes.
  bool norm_adds_one;
  io::FeedForwardKind feed_forward;
  io::PositionKind positions;
  bool attention_bias = false;    // q/k/v projections have biases.
  bool linear_biases = false;     // The output and feed-forward projections too.
  bool scale_embeddings = false;  // Embeddings multiplied by sqrt(dim) (Gemma).
  bool post_norms = false;        // Norms on the attention and FFN outputs (Gemma 2).
  // Which layers use the sliding window when the file sets one (ModelConfig), and the window
  // when the file does not say (llama.cpp's default for Gemma 2).
  int64_t sliding_window_period = 1;
  int64_t default_sliding_window = 0;
  // Fused weights the files store: blk.N.attn_qkv (q, k, v rows one after another) and ffn_up
  // holding the gate rows then the up rows (Phi-3); split into the separate matrices at load.
  bool fused_qkv = false;
  bool fused_gate_up = false;
  // How GGUF files store the rotary pairs: llama.cpp's converter permutes q/k rows into adjacent
  // pairs for the Llama family and leaves others (Qwen2, Phi-3, Gemma) as the halves they are.
  io::RotaryPairs gguf_rotary_pairs = io::RotaryPairs::kAdjacent;
  // What a GGUF file leaves implicit and llama.cpp derives from the model's size (Gemma 2's query
  // scale, Phi-3's default window); null when nothing is.
  void (*gguf_implicit_settings)(io::ModelConfig& config) = nullptr;
};

// The row for `name`, or an error listing the supported ones.
absl::StatusOr<const Architecture*> FindArchitecture(std::string_view name);
std::vector<std::string> SupportedArchitectures();

// Sets the model's traits from its architecture's row.
absl::Status ApplyArchitecture(io::ModelFile& model);

}  // namespace favor::models
