// favor quantize: a GGUF file rewritten with its weight matrices in another type, as llama.cpp's
// llama-quantize does: the metadata and vocabulary carried over as they are (general.file_type
// and general.quantization_version set), the tensors in their order, GGUF version 3. Which
// tensor gets which type: engine/io/weight_presets.h.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/dtype.h"
#include "engine/core/status.h"
#include "engine/core/threading.h"
#include "engine/io/file_kind.h"
#include "engine/io/gguf_file.h"
#include "engine/io/weight_presets.h"
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

}  // namespace

int Quantize(int argc, char** argv) {
  std::string model_path, output_path, type_name;
  int64_t threads = 0;
  ArgParser args("quantize");
  args.String({"-m", "--model"}, "PATH", "GGUF model to rewrite", &model_path);
  args.String({"-o", "--output"}, "PATH", "GGUF file to write (version 3)", &output_path);
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
  const io::FileKind kind = io::IdentifyFile(model_path);
  if (kind != io::FileKind::kGguf) {
    return PrintFailure("quantize",
                        absl::UnimplementedError(absl::StrCat(
                            model_path, " is ", io::FileKindDescription(kind),
                            "; favor quantize reads GGUF files for now (convert a Hugging Face ",
                            "directory with llama.cpp's convert_hf_to_gguf.py first)")));
  }
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
  auto contents = io::ReadGgufContents(model_path);
  if (!contents.ok()) return PrintFailure("quantize", contents.status());
  const int thread_count = threads > 0 ? static_cast<int>(threads) : PhysicalCoreCount();

  std::vector<std::string> names;
  for (const auto& [name, tensor] : contents->tensors) names.push_back(name);
  const io::WeightTypePlan plan(*preset, names, QueryHeadsPerKvHead(*contents));
  std::vector<std::string> notes;
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
  for (const std::string& note : notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  std::printf("%s: %zu tensors, %.2f MiB -> %.2f MiB (%s)\n", output_path.c_str(), total,
              static_cast<double>(bytes_in) / (1 << 20), static_cast<double>(bytes_out) / (1 << 20),
              preset->name);
  return 0;
}

}  // namespace favor::cli
