// The one generic decoder-only Transformer builder: from a ModelConfig (hyper-parameters and
// architecture traits) and the file's tensors under canonical names, the graph
//   embedding -> n_layers x [norm, q/k/v projections, positions, attention, output projection,
//   residual, norm, feed-forward, residual] -> norm -> logits of the last position.
// Which tensors it reads follows from the config (DecoderTensors); optional ones (the output head
// when tied) are read when present, and a tensor the decoder would not read is an error rather
// than silently ignored (a bias it cannot add would give wrong logits).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/io/model_file.h"

namespace favor::models {

struct BuildOptions {
  DType weights = DType::kF32;  // Matrix weights for compute: f32 or bf16.
};

struct TensorSlot {
  std::string name;
  Shape shape;
  bool optional = false;
};

// Every tensor the decoder of `config` reads, with its shape.
std::vector<TensorSlot> DecoderTensors(const io::ModelConfig& config);

// Checks the file's tensors against DecoderTensors: each required one present with its shape,
// and none the decoder would not read. Errors name the file and the tensor.
absl::Status ValidateTensors(const io::ModelFile& model);

// The graph (input: token ids i32[T]; output: logits f32[1, vocab] of the last position, after a
// LastRow node that scoring bypasses). The config's architecture traits must have been applied
// (models::ApplyArchitecture) and the tensors validated.
absl::StatusOr<std::shared_ptr<Graph>> BuildDecoder(const io::ModelFile& model,
                                                    const BuildOptions& options);

}  // namespace favor::models
