// A loaded model: the file's tensors (mapped), checked once; its tokenizer; and the graph of exact
// attention, built once with every matrix packed. Attention variants are copies of that graph
// with the attention swapped: they share its ops (the packed weights) and constants, so a program
// holding exact, favor# and hybrid sessions keeps the weights once. Immutable once loaded: shared
// read-only by every session on it, on any thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/io/model_file.h"
#include "engine/rf/calibration.h"
#include "engine/text/tokenizer.h"
#include "favor/attention.hpp"
#include "models/registry.h"

namespace favor::runtime {

struct LoadOptions {
  std::string tokenizer_path;   // Overrides the model's own vocabulary (.model or tokenizer.bin).
  DType weights = DType::kF32;  // Matrix weights for compute: f32 or bf16.
};

// Which logits a graph outputs: the last position's (generation) or every position's (scoring).
enum class Logits { kLastPosition, kAllPositions };

// One attention choice of a model: its graph and what sessions need besides.
struct ModelVariant {
  std::shared_ptr<const Graph> graph;
  std::string attention;  // As resolved, for summaries (runtime::DescribeAttention).
  int64_t trained_context = 0;
  int64_t vocab_size = 0;
};

class Model {
 public:
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path,
                                                     const LoadOptions& options = {});
  // A model from a file already in memory (a synthetic model, say); its tokenizer comes from
  // options.tokenizer_path or the file's vocabulary.
  static absl::StatusOr<std::unique_ptr<Model>> FromFile(io::ModelFile file,
                                                         const LoadOptions& options = {});

  const io::ModelFile& file() const { return file_; }
  const io::ModelConfig& config() const { return file_.config; }
  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  // Exact attention, logits of the last position.
  const ModelVariant& exact() const { return exact_; }
  // A copy of the exact graph with `attention` swapped in. `calibration`: statistics already in
  // memory, replacing those the spec names (runtime::ResolveAttention).
  absl::StatusOr<ModelVariant> Variant(
      const AttentionSpec& attention, Logits logits = Logits::kLastPosition,
      std::shared_ptr<const rf::Calibration> calibration = nullptr) const;

 private:
  Model() = default;
  io::ModelFile file_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  ModelVariant exact_;
};

// The tokenizer alone, as Model::Load would find it (the file's vocabulary, `tokenizer_path`, or a
// tokenizer beside the model), without checking or building the weights.
absl::StatusOr<std::unique_ptr<text::Tokenizer>> LoadTokenizer(const std::string& model_path,
                                                               const std::string& tokenizer_path);

// Where a tokenizer is looked for when the model file carries none: tokenizer.bin beside a
// llama2.c checkpoint (or inside a model directory), then tok<vocab>.bin (llama2.c's name for
// custom vocabularies), then tokenizer.model and tok<vocab>.model.
absl::StatusOr<std::string> FindTokenizerBeside(const std::string& model_path, int64_t vocab_size);

}  // namespace favor::runtime
