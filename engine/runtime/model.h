// A loaded model: the file's tensors (mapped), its tokenizer, and the graph built once from them.
// Shared read-only by every Session on it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/io/model_file.h"
#include "engine/runtime/attention_config.h"
#include "engine/text/tokenizer.h"
#include "models/registry.h"

namespace favor::runtime {

struct LoadOptions {
  std::string tokenizer_path;   // Overrides the model's own vocabulary (.model or tokenizer.bin).
  DType weights = DType::kF32;  // Matrix weights for compute: f32 or bf16.
  bool all_logits = false;      // Logits for every position (scoring) instead of the last one.
  AttentionConfig attention;    // Exact by default.
  bool tap_statistics = false;  // Record attention statistics (calibration); exact only.
  // With tap_statistics: also keep the attention inputs of the first N positions of the first
  // sequence (favor calibrate --plan measures hybrid attention on them).
  int64_t capture_attention_tokens = 0;
  // Every attention node's output becomes a graph output too, in layer order after the logits
  // (favor eval compares them between exact and approximate attention).
  bool attention_outputs = false;
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
  std::shared_ptr<const Graph> graph() const { return graph_; }
  // The attention as it was resolved at load, for summaries (runtime::DescribeAttention).
  const std::string& attention_description() const { return attention_description_; }
  // The statistics gathered so far when loaded with tap_statistics (null otherwise).
  std::shared_ptr<rf::Calibration> statistics() const { return statistics_; }
  // The captured attention inputs (null without capture_attention_tokens).
  std::shared_ptr<const AttentionCapture> attention_capture() const { return capture_; }

 private:
  Model() = default;
  io::ModelFile file_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  std::shared_ptr<const Graph> graph_;
  std::string attention_description_;
  std::shared_ptr<rf::Calibration> statistics_;
  std::shared_ptr<AttentionCapture> capture_;
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
