// Llama-architecture models with random weights, built in memory at the sizes of real models, so
// that speed and memory can be measured at those sizes without a download (favor bench --shape).
// Weights are uniform in +-0.02 with norms near 1, which keeps activations in a sane range; the
// vocabulary is a byte-fallback one of the right size. Not for quality measurements.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/io/model_file.h"

namespace favor::models {

struct SyntheticShape {
  std::string name;
  int64_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len;
};

// tiny (tests), stories15M, stories110M, llama-1b.
const std::vector<SyntheticShape>& SyntheticShapes();
absl::StatusOr<SyntheticShape> FindSyntheticShape(const std::string& name);

// The model file of `shape` with weights drawn from `seed`; its path reads "synthetic:NAME".
absl::StatusOr<io::ModelFile> SyntheticModelFile(const SyntheticShape& shape, uint64_t seed = 1);

}  // namespace favor::models
