#include "engine/io/model_file.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/io/file_kind.h"
#include "engine/io/tokenizer_json.h"

namespace favor::io {
namespace {

constexpr int64_t kMaxDimension = int64_t{1} << 20;  // Far above any real model; refuses garbage.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxVocab = int64_t{1} << 22;
constexpr int64_t kMaxHeadDim = 1024;

}  // namespace

absl::Status CheckWeightsFinite(const ModelFile& model) {
  for (const auto& [name, tensor] : model.tensors) {
    const DTypeInfo& info = GetDTypeInfo(tensor.dtype());
    if (info.first_non_finite == nullptr) continue;  // Integer tensors.
    const int64_t bad = info.first_non_finite(tensor.raw_data(), tensor.NumElements());
    if (bad < 0) continue;
    const int64_t columns =
        tensor.rank() >= 1 ? std::max<int64_t>(tensor.dim(tensor.rank() - 1), 1) : 1;
    return absl::DataLossError(absl::StrCat(
        model.path, ": tensor '", name, "' holds a NaN or Inf at element ", bad,
        tensor.rank() >= 2 ? absl::StrCat(" (row ", bad / columns, ", column ", bad % columns, ")")
                           : std::string(),
        "; the file is corrupt"));
  }
  return absl::OkStatus();
}

absl::Status ModelConfig::Validate(absl::string_view source) const {
  auto bad = [&](absl::string_view what, int64_t value) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": invalid model header: ", what, " = ", value));
  };
  if (dim <= 0 || dim > kMaxDimension) return bad("dim", dim);
  if (n_layers <= 0 || n_layers > kMaxLayers) return bad("layers", n_layers);
  if (n_heads <= 0 || n_heads > dim) return bad("heads", n_heads);
  if (attention_head_dim == 0 && dim % n_heads != 0) return bad("heads", n_heads);
  if (n_kv_heads <= 0 || n_kv_heads > n_heads || n_heads % n_kv_heads != 0) {
    return bad("kv heads", n_kv_heads);
  }
  if (attention_head_dim < 0 || head_dim() <= 0 || head_dim() > kMaxHeadDim) {
    return bad("head dim", head_dim());
  }
  if (hidden_dim <= 0 || hidden_dim > 16 * kMaxDimension) return bad("ffn dim", hidden_dim);
  if (vocab_size <= 0 || vocab_size > kMaxVocab) return bad("vocab size", vocab_size);
  if (max_seq_len <= 0 || max_seq_len > (int64_t{1} << 24))
    return bad("context length", max_seq_len);
  if (!(norm_eps > 0.0f && norm_eps < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid norm epsilon ", norm_eps));
  }
  if (!(query_scale >= 0.0f) || !std::isfinite(query_scale)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid query scale ", query_scale));
  }
  if (!(rope_theta > 1.0) || !std::isfinite(rope_theta)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid rope theta ", rope_theta));
  }
  if (!(rope_attention_factor >= 0.01 && rope_attention_factor <= 100.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": invalid rope attention factor ", rope_attention_factor));
  }
  if (sliding_window < 0 || sliding_window > (int64_t{1} << 24)) {
    return bad("sliding window", sliding_window);
  }
  if (sliding_window_period < 0 || sliding_window_period > kMaxLayers) {
    return bad("sliding window period", sliding_window_period);
  }
  for (const auto& [name, cap] :
       {std::pair{"attention", attention_soft_cap}, std::pair{"final", final_soft_cap}}) {
    if (!(cap >= 0.0f && cap < 1e6f)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": invalid ", name, " logit soft-cap ", cap));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> ViewOrCopy(std::shared_ptr<const Storage> file, size_t offset, DType dtype,
                                  const Shape& shape) {
  FAVOR_ASSIGN_OR_RETURN(Tensor view, Tensor::ViewOf(std::move(file), offset, dtype, shape));
  const int64_t element = ElementSize(dtype) > 0 ? ElementSize(dtype) : 1;
  if (reinterpret_cast<uintptr_t>(view.raw_data()) % static_cast<uintptr_t>(element) == 0) {
    return view;
  }
  FAVOR_ASSIGN_OR_RETURN(Tensor copy, Tensor::Allocate(dtype, shape));
  std::memcpy(copy.mutable_raw_data(), view.raw_data(), static_cast<size_t>(view.NumBytes()));
  return copy;
}

namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// A directory without config.json: the model files in it, to say which one to pass.
absl::Status NoConfigIn(const std::string& directory) {
  std::vector<std::string> found;
  if (DIR* dir = ::opendir(directory.c_str()); dir != nullptr) {
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      const std::string path = directory + "/" + name;
      if (name == "." || name == "..") continue;
      const FileKind kind = IdentifyFile(path);
      if (kind == FileKind::kGguf || kind == FileKind::kLlama2cCheckpoint ||
          kind == FileKind::kSafetensors) {
        found.push_back(name);
      }
    }
    ::closedir(dir);
  }
  std::sort(found.begin(), found.end());
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat(
        directory,
        ": no model here (a Hugging Face directory needs config.json; no .gguf, llama2.c "
        "checkpoint or safetensors file either)"));
  }
  return absl::NotFoundError(absl::StrCat(directory,
                                          ": no config.json, so not a Hugging Face directory; "
                                          "model files in it: ",
                                          absl::StrJoin(found, ", "), " (pass one with -m)"));
}

}  // namespace

absl::StatusOr<ModelFile> LoadModelFile(const std::string& path) {
  const FileKind kind = IdentifyFile(path);
  const auto not_a_model = [&](absl::string_view advice) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", FileKindDescription(kind), ", not a model; ", advice));
  };
  switch (kind) {
    case FileKind::kMissing:
      return absl::NotFoundError(absl::StrCat("model '", path, "' does not exist"));
    case FileKind::kDirectory: {
      if (!IsRegularFile(path + "/config.json")) return NoConfigIn(path);
      return LoadHuggingFace(path);
    }
    case FileKind::kGguf:
      return LoadGguf(path);
    case FileKind::kLlama2cCheckpoint:
      return LoadLlama2c(path);
    case FileKind::kSafetensors: {
      // Safetensors hold only weights: the model is the directory (config.json, tokenizer).
      const std::string directory = DirectoryOf(path);
      if (!IsRegularFile(directory + "/config.json")) {
        return not_a_model(absl::StrCat(
            "a Hugging Face model needs config.json beside it (none in ", directory, ")"));
      }
      return LoadHuggingFace(directory);
    }
    case FileKind::kHuggingFaceConfig:
    case FileKind::kSafetensorsIndex:
    case FileKind::kTokenizerConfig:
      return not_a_model(absl::StrCat("pass the model's directory: -m ", DirectoryOf(path)));
    case FileKind::kTokenizerJson:
    case FileKind::kSentencePieceModel:
    case FileKind::kLlama2cTokenizer:
      return not_a_model("pass it with --tokenizer, and the model with -m");
    case FileKind::kFavorStatistics:
      return not_a_model("pass it with --favor-stats or --favor-plan, and the model with -m");
    case FileKind::kOtherJson:
    case FileKind::kText:
    case FileKind::kUnknown:
      break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && st.st_size < 28) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": file of ", st.st_size, " bytes is too short to be a model"));
  }
  return not_a_model(
      "models are GGUF files, llama2.c checkpoints and Hugging Face directories (config.json "
      "and safetensors)");
}

absl::StatusOr<Vocabulary> LoadVocabularyFile(const std::string& path) {
  const FileKind kind = IdentifyFile(path);
  switch (kind) {
    case FileKind::kMissing:
      return absl::NotFoundError(absl::StrCat("cannot open tokenizer '", path, "'"));
    case FileKind::kGguf:
      return LoadGgufVocabulary(path);
    case FileKind::kTokenizerJson:
      return LoadTokenizerJson(path);
    case FileKind::kLlama2cTokenizer:
    case FileKind::kUnknown:
      // Not recognisably anything: the strictest reader says what is wrong with it.
      return LoadLlama2cTokenizer(path);
    case FileKind::kSentencePieceModel:
      return absl::UnimplementedError(absl::StrCat(
          path, ": a SentencePiece .model is read by the SentencePiece library, not as data"));
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path, " is ", FileKindDescription(kind),
          ", not a tokenizer (tokenizer.json, a GGUF file, a SentencePiece .model or a llama2.c "
          "tokenizer.bin)"));
  }
}

}  // namespace favor::io
