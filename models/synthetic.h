// Models with random weights, built in memory at the sizes of real models of each family, so that
// speed and memory can be measured at those sizes without a download (favor bench --shape). The
// tensors are the ones the architecture's decoder reads (biases, post-norms, ...); weights are
// uniform in +-0.02 with norms near 1 (near 0 where the norm is (1 + w)), which keeps activations
// in a sane range; the vocabulary is a byte-fallback one of the right size. Not for quality
// measurements.
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
  std::string architecture = "llama";  // A row of models/architecture.cc.
  int64_t head_dim = 0;                // 0: dim / heads.
  int64_t sliding_window = 0;
  float attention_soft_cap = 0.0f, final_soft_cap = 0.0f;
  float query_scale = 0.0f;
  double rope_theta = 10000.0;
};

// tiny (tests), stories15M, stories110M, llama-1b, and one per family at its real dimensions:
// qwen2.5-0.5b, llama-3.2-1b, gemma-2-2b.
const std::vector<SyntheticShape>& SyntheticShapes();
absl::StatusOr<SyntheticShape> FindSyntheticShape(const std::string& name);

// The model file of `shape` with weights drawn from `seed`; its path reads "synthetic:NAME".
absl::StatusOr<io::ModelFile> SyntheticModelFile(const SyntheticShape& shape, uint64_t seed = 1);

}  // namespace favor::models
