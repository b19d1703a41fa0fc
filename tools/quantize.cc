// favor quantize: a GGUF file rewritten with its weight matrices in another type, as llama.cpp's
// llama-quantize does: the metadata and vocabulary carried over as they are (general.file_type
// and general.quantization_version set), the tensors in their order, GGUF version 3.
//
// Which tensors change follows llama.cpp's presets: matrices (rank 2, ".weight") do; norms,
// biases, rope factors and learned positions keep their type. The output head (or the tied
// embedding) gets Q6_K in llama.cpp's 4- and 5-bit presets; favor has no K-quant quantizer yet,
// so it gets Q8_0, and the summary says so. A matrix whose rows are not whole blocks of the type
// falls back to f16 (llama.cpp's last fallback), named in the summary.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/dtype.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/core/threading.h"
#include "engine/io/file_kind.h"
#include "engine/io/gguf_file.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace favor::cli {
namespace {

// A target of `--type`: the type of the matrices, llama.cpp's llama_ftype number for
// general.file_type, and the head's type.
struct Preset {
  const char* name;
  DType matrices;
  int file_type;
  DType head;
};

constexpr Preset kPresets[] = {
    {"q8_0", DType::kQ8_0, 7, DType::kQ8_0},  {"q4_0", DType::kQ4_0, 2, DType::kQ8_0},
    {"q4_1", DType::kQ4_1, 3, DType::kQ8_0},  {"q5_0", DType::kQ5_0, 8, DType::kQ8_0},
    {"q5_1", DType::kQ5_1, 9, DType::kQ8_0},  {"f16", DType::kF16, 1, DType::kF16},
    {"bf16", DType::kBF16, 32, DType::kBF16}, {"f32", DType::kF32, 0, DType::kF32},
};
constexpr const char* kKQuantPresets[] = {"q2_k",   "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s",
                                          "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"};

std::string PresetNames() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<Preset> FindPreset(const std::string& name) {
  for (const Preset& p : kPresets) {
    if (name == p.name) return p;
  }
  for (const char* k : kKQuantPresets) {
    if (name == k) {
      return absl::UnimplementedError(absl::StrCat(
          "--type ", name, ": the K-quant quantizers are not implemented yet (K-quant ",
          "files load and run; make them with llama-quantize); types: ", PresetNames()));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --type '", name, "'; types: ", PresetNames()));
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The type a tensor gets, and why when it is not the preset's.
struct Choice {
  DType type;
  std::string note;
};

Choice ChooseType(const std::string& name, const Tensor& tensor, const Preset& preset,
                  bool is_head) {
  const bool matrix =
      tensor.rank() == 2 && EndsWith(name, ".weight") && name != "position_embd.weight";
  if (!matrix) return {tensor.dtype(), ""};
  DType type = is_head ? preset.head : preset.matrices;
  std::string note;
  if (is_head && preset.head != preset.matrices) {
    note = absl::StrCat("output head: ", DTypeName(type),
                        " (llama.cpp's preset gives it q6_k, which favor cannot write yet)");
  }
  const int64_t row = tensor.dim(1), block = GetDTypeInfo(type).block_elements;
  if (row % block != 0) {
    note = absl::StrCat(DTypeName(type), " needs rows of whole ", block, "-value blocks, ", name,
                        " has rows of ", row, ": f16 instead");
    type = DType::kF16;
  }
  return {type, note};
}

absl::StatusOr<Tensor> Convert(const Tensor& source, DType type, int threads) {
  if (source.dtype() == type) return source;
  FAVOR_ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(type, source.shape()));
  const DTypeInfo& from = GetDTypeInfo(source.dtype());
  const DTypeInfo& to = GetDTypeInfo(type);
  const int64_t rows = source.dim(0), row = source.NumElements() / rows;
  const int64_t from_row_bytes = row / from.block_elements * from.block_bytes;
  const int64_t to_row_bytes = row / to.block_elements * to.block_bytes;
  ParallelFor(rows, threads, 16, [&](int64_t r) {
    std::vector<float> values(static_cast<size_t>(row));
    from.to_f32(static_cast<const std::byte*>(source.raw_data()) + r * from_row_bytes,
                values.data(), row);
    to.from_f32(values.data(), static_cast<std::byte*>(out.mutable_raw_data()) + r * to_row_bytes,
                row);
  });
  return out;
}

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

}  // namespace

int Quantize(int argc, char** argv) {
  std::string model_path, output_path, type_name;
  int64_t threads = 0;
  ArgParser args("quantize");
  args.String({"-m", "--model"}, "PATH", "GGUF model to rewrite", &model_path);
  args.String({"-o", "--output"}, "PATH", "GGUF file to write (version 3)", &output_path);
  args.String({"--type"}, "TYPE", absl::StrCat("type of the weight matrices: ", PresetNames()),
              &type_name);
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads,
           {.min = 0, .max = 1024});
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty() || output_path.empty() || type_name.empty()) {
    return PrintUsageError("quantize", "-m MODEL, -o OUT.gguf and --type TYPE are required");
  }
  auto preset = FindPreset(type_name);
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

  bool has_output = false;
  for (const auto& [name, tensor] : contents->tensors) has_output |= name == "output.weight";
  const std::string head = has_output ? "output.weight" : "token_embd.weight";
  std::vector<std::string> notes;
  int64_t bytes_in = 0, bytes_out = 0;
  const size_t total = contents->tensors.size();
  for (size_t i = 0; i < total; ++i) {
    auto& [name, tensor] = contents->tensors[i];
    const Choice choice = ChooseType(name, tensor, *preset, name == head);
    if (!choice.note.empty()) notes.push_back(choice.note);
    std::fprintf(stderr, "[%4zu/%zu] %-32s %-6s %-16s -> %s\n", i + 1, total, name.c_str(),
                 std::string(DTypeName(tensor.dtype())).c_str(), tensor.shape().ToString().c_str(),
                 std::string(DTypeName(choice.type)).c_str());
    bytes_in += tensor.NumBytes();
    auto converted = Convert(tensor, choice.type, thread_count);
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
