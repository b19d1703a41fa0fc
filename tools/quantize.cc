// favor quantize: a model rewritten as GGUF with its weight matrices in another type, as
// llama.cpp's llama-quantize does: a GGUF file's metadata and vocabulary carried over as they are
// (general.file_type and general.quantization_version set), the tensors in their order, GGUF
// version 3. A Hugging Face directory or a llama2.c checkpoint is converted first as llama.cpp's
// converter would (models/gguf_export.h), and the file written is checked to load as the same
// model. Which tensor gets which type: engine/io/weight_presets.h.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/dtype.h"
#include "engine/core/status.h"
#include "engine/core/threading.h"
#include "engine/io/file_kind.h"
#include "engine/io/gguf_file.h"
#include "engine/io/weight_presets.h"
#include "engine/runtime/model.h"
#include "models/gguf_export.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace favor::cli {
namespace {

void SetUint32(io::GgufContents& contents, const std::string& key, int64_t value) {
  io::GgufValue v;
  v.type = io::kUint32;
  v.is_integer = true;
  v.integer = value;
  v.number = static_cast<double>(value);
  for (auto& [k, existing] : contents.metadata) {
    if (k == key) {
      existing = v;
      return;
    }
  }
  contents.metadata.emplace_back(key, v);
}

const io::GgufValue* FindValue(const io::GgufContents& contents, const std::string& key) {
  for (const auto& [k, value] : contents.metadata) {
    if (k == key) return &value;
  }
  return nullptr;
}

// Query heads per KV head, which some presets' rules look at (1 when the file does not say).
int64_t QueryHeadsPerKvHead(const io::GgufContents& contents) {
  const io::GgufValue* arch = FindValue(contents, "general.architecture");
  if (arch == nullptr) return 1;
  const io::GgufValue* heads = FindValue(contents, arch->text + ".attention.head_count");
  const io::GgufValue* kv_heads = FindValue(contents, arch->text + ".attention.head_count_kv");
  if (heads == nullptr || !heads->is_integer) return 1;
  if (kv_heads == nullptr || !kv_heads->is_integer || kv_heads->integer <= 0) return 1;
  return heads->integer / kv_heads->integer;
}

// A model of another format, as GGUF, with the vocabulary it needs to be a whole model.
struct Converted {
  io::ModelFile model;
  models::GgufExport exported;
};

absl::StatusOr<Converted> ConvertToGguf(const std::string& model_path,
                                        const std::string& tokenizer_path) {
  Converted out;
  FAVOR_ASSIGN_OR_RETURN(out.model, io::LoadModelFile(model_path));
  io::Vocabulary vocabulary;
  if (!tokenizer_path.empty()) {
    FAVOR_ASSIGN_OR_RETURN(vocabulary, io::LoadVocabularyFile(tokenizer_path));
  } else if (out.model.vocabulary.has_value()) {
    vocabulary = *out.model.vocabulary;
  } else {
    FAVOR_ASSIGN_OR_RETURN(const std::string beside,
                           runtime::FindTokenizerBeside(model_path, out.model.config.vocab_size));
    FAVOR_ASSIGN_OR_RETURN(vocabulary, io::LoadVocabularyFile(beside));
  }
  FAVOR_ASSIGN_OR_RETURN(out.exported, models::ExportToGguf(out.model, vocabulary));
  return out;
}

}  // namespace

int Quantize(int argc, char** argv) {
  std::string model_path, output_path, type_name, tokenizer_path;
  int64_t threads = 0;
  ArgParser args("quantize");
  args.String({"-m", "--model"}, "PATH",
              "model to rewrite: a GGUF file, a Hugging Face directory or a llama2.c checkpoint",
              &model_path);
  args.String({"-o", "--output"}, "PATH", "GGUF file to write (version 3)", &output_path);
  args.String({"--tokenizer"}, "PATH",
              "vocabulary for a model without one (default: the model's own, or tokenizer.bin "
              "beside it)",
              &tokenizer_path);
  args.String({"--type"}, "TYPE",
              absl::StrCat("type of the weight matrices: ", io::WeightPresetNames()), &type_name);
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads,
           {.min = 0, .max = 1024});
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty() || output_path.empty() || type_name.empty()) {
    return PrintUsageError("quantize", "-m MODEL, -o OUT.gguf and --type TYPE are required");
  }
  auto preset = io::FindWeightPreset(type_name);
  if (!preset.ok()) return PrintFailure("quantize", preset.status());
  if (output_path == model_path) {
    return PrintUsageError("quantize",
                           "-o must differ from -m (the input is read as it is written)");
  }
  // Refuse an unwritable destination now, not after the work.
  const std::filesystem::path directory = std::filesystem::absolute(output_path).parent_path();
  if (!std::filesystem::is_directory(directory) || ::access(directory.c_str(), W_OK) != 0) {
    return PrintFailure("quantize", absl::PermissionDeniedError(absl::StrCat(
                                        "cannot write '", output_path, "': ", directory.string(),
                                        " is not a writable directory")));
  }
  // A GGUF file is rewritten with its metadata as it is; any other model is converted first.
  std::optional<Converted> converted_model;
  absl::StatusOr<io::GgufContents> contents;
  std::vector<std::string> notes;
  if (io::IdentifyFile(model_path) == io::FileKind::kGguf) {
    if (!tokenizer_path.empty()) {
      return PrintUsageError("quantize",
                             "--tokenizer is for models without a vocabulary of "
                             "their own; a GGUF file keeps its own");
    }
    contents = io::ReadGgufContents(model_path);
  } else {
    auto converted = ConvertToGguf(model_path, tokenizer_path);
    if (!converted.ok()) return PrintFailure("quantize", converted.status());
    contents = std::move(converted->exported.contents);
    notes = std::move(converted->exported.notes);
    converted_model = std::move(*converted);
  }
  if (!contents.ok()) return PrintFailure("quantize", contents.status());
  const int thread_count = threads > 0 ? static_cast<int>(threads) : PhysicalCoreCount();

  std::vector<std::string> names;
  for (const auto& [name, tensor] : contents->tensors) names.push_back(name);
  const io::WeightTypePlan plan(*preset, names, QueryHeadsPerKvHead(*contents));
  int64_t bytes_in = 0, bytes_out = 0;
  const size_t total = contents->tensors.size();
  for (size_t i = 0; i < total; ++i) {
    auto& [name, tensor] = contents->tensors[i];
    const io::WeightChoice choice = plan.Choose(name, tensor);
    if (!choice.note.empty()) notes.push_back(choice.note);
    std::fprintf(stderr, "[%4zu/%zu] %-32s %-6s %-16s -> %s\n", i + 1, total, name.c_str(),
                 std::string(DTypeName(tensor.dtype())).c_str(), tensor.shape().ToString().c_str(),
                 std::string(DTypeName(choice.type)).c_str());
    bytes_in += tensor.NumBytes();
    auto converted = io::ConvertWeights(tensor, choice.type, thread_count);
    if (!converted.ok()) {
      return PrintFailure(
          "quantize",
          absl::Status(converted.status().code(),
                       absl::StrCat("tensor '", name, "': ", converted.status().message())));
    }
    tensor = *std::move(converted);
    bytes_out += tensor.NumBytes();
  }
  SetUint32(*contents, "general.file_type", preset->file_type);
  SetUint32(*contents, "general.quantization_version", 2);
  if (auto status = io::WriteGguf(output_path, *contents); !status.ok()) {
    return PrintFailure("quantize", status);
  }
  if (converted_model.has_value()) {
    if (auto status = models::VerifyExport(converted_model->model, output_path); !status.ok()) {
      std::filesystem::remove(output_path);
      return PrintFailure("quantize", status);
    }
  }
  for (const std::string& note : notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  std::printf("%s: %zu tensors, %.2f MiB -> %.2f MiB (%s)\n", output_path.c_str(), total,
              static_cast<double>(bytes_in) / (1 << 20), static_cast<double>(bytes_out) / (1 << 20),
              preset->name);
  return 0;
}

}  // namespace favor::cli
