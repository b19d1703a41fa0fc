#include "engine/runtime/model.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/graph/attention_swap.h"
#include "engine/io/file_kind.h"
#include "engine/runtime/attention_resolution.h"

namespace favor::runtime {

absl::StatusOr<std::string> FindTokenizerBeside(const std::string& model_path, int64_t vocab_size) {
  struct stat st {};
  const bool is_directory = ::stat(model_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  const size_t slash = model_path.find_last_of('/');
  const std::string dir = is_directory                 ? model_path
                          : slash == std::string::npos ? "."
                                                       : model_path.substr(0, slash);
  const std::string candidates[] = {
      dir + "/tokenizer.bin", absl::StrCat(dir, "/tok", vocab_size, ".bin"),
      dir + "/tokenizer.model", absl::StrCat(dir, "/tok", vocab_size, ".model")};
  for (const std::string& candidate : candidates) {
    if (IsRegularFile(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat(model_path, ": no tokenizer in the file and none beside it (", candidates[0],
                   ", ", candidates[1], "); pass one with --tokenizer"));
}

absl::StatusOr<std::unique_ptr<text::Tokenizer>> LoadTokenizer(const std::string& model_path,
                                                               const std::string& tokenizer_path) {
  if (!tokenizer_path.empty()) return text::Tokenizer::FromFile(tokenizer_path);
  // A GGUF file's vocabulary is in its metadata: read alone, it also serves vocabulary-only files
  // (no tensors), as llama.cpp's ggml-vocab-*.gguf are.
  if (io::IdentifyFile(model_path) == io::FileKind::kGguf) {
    return text::Tokenizer::FromFile(model_path);
  }
  FAVOR_ASSIGN_OR_RETURN(const io::ModelFile file, io::LoadModelFile(model_path));
  if (file.vocabulary.has_value()) return text::Tokenizer::FromVocabulary(*file.vocabulary);
  FAVOR_ASSIGN_OR_RETURN(const std::string beside,
                         FindTokenizerBeside(model_path, file.config.vocab_size));
  return text::Tokenizer::FromFile(beside);
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path,
                                                   const LoadOptions& options) {
  FAVOR_ASSIGN_OR_RETURN(io::ModelFile file, io::LoadModelFile(path));
  if (options.tokenizer_path.empty() && !file.vocabulary.has_value()) {
    LoadOptions with_tokenizer = options;
    FAVOR_ASSIGN_OR_RETURN(with_tokenizer.tokenizer_path,
                           FindTokenizerBeside(path, file.config.vocab_size));
    return FromFile(std::move(file), with_tokenizer);
  }
  return FromFile(std::move(file), options);
}

absl::StatusOr<std::unique_ptr<Model>> Model::FromFile(io::ModelFile file,
                                                       const LoadOptions& options) {
  std::unique_ptr<Model> model(new Model());
  model->file_ = std::move(file);
  const std::string& path = model->file_.path;
  if (!options.tokenizer_path.empty()) {
    FAVOR_ASSIGN_OR_RETURN(model->tokenizer_, text::Tokenizer::FromFile(options.tokenizer_path));
  } else if (model->file_.vocabulary.has_value()) {
    FAVOR_ASSIGN_OR_RETURN(model->tokenizer_,
                           text::Tokenizer::FromVocabulary(*model->file_.vocabulary));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the model carries no vocabulary; give a tokenizer file"));
  }
  // Models may pad their embedding past the vocabulary to a multiple of 64 rows (Qwen 2.5 has
  // 151936 rows for 151665 tokens, Phi-3 32064 for 32011: under 1 % of the rows): rows no text
  // has, which generation never samples. Anything else is a tokenizer that belongs to another
  // model.
  const int64_t tokens = model->tokenizer_->vocab_size();
  const int64_t rows = model->file_.config.vocab_size;
  const bool padded = tokens < rows && rows % 64 == 0 && (rows - tokens) * 100 <= rows;
  if (tokens != rows && !padded) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the tokenizer (", model->tokenizer_->origin(), ") has ",
                     model->tokenizer_->vocab_size(), " tokens but the model has ",
                     model->file_.config.vocab_size));
  }
  FAVOR_RETURN_IF_ERROR(io::CheckWeightsFinite(model->file_));
  FAVOR_ASSIGN_OR_RETURN(auto graph,
                         models::BuildGraph(model->file_, {.weights = options.weights}));
  model->exact_ = {.graph = std::move(graph),
                   .attention = "exact",
                   .trained_context = model->file_.config.max_seq_len,
                   .vocab_size = model->file_.config.vocab_size};
  return model;
}

absl::StatusOr<ModelVariant> Model::Variant(
    const AttentionSpec& attention, Logits logits,
    std::shared_ptr<const rf::Calibration> calibration) const {
  FAVOR_ASSIGN_OR_RETURN(const auto swap,
                         ResolveAttention(attention, file_.path, std::move(calibration)));
  if (!swap.has_value() && logits == Logits::kLastPosition) return exact_;
  // A copy of the graph: its nodes share the ops (packed weights) and constants of exact_'s.
  auto graph = std::make_shared<Graph>(*exact_.graph);
  if (swap.has_value()) FAVOR_RETURN_IF_ERROR(SwapAttention(*graph, *swap).status());
  if (logits == Logits::kAllPositions) {
    const std::vector<NodeId> last = graph->FindNodesOfType("LastRow");
    if (last.size() != 1) {
      return absl::InternalError("the model graph has no single LastRow node to bypass");
    }
    FAVOR_RETURN_IF_ERROR(graph->BypassNode(last[0]));
  }
  return ModelVariant{.graph = std::move(graph),
                      .attention = DescribeAttention(attention, swap),
                      .trained_context = exact_.trained_context,
                      .vocab_size = exact_.vocab_size};
}

}  // namespace favor::runtime
