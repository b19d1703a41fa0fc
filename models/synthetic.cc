#include "models/synthetic.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"
#include "models/architecture.h"
#include "models/decoder.h"

namespace favor::models {
namespace {

// SplitMix64: fast and good enough for random weights (a billion of them for llama-1b).
class WeightStream {
 public:
  explicit WeightStream(uint64_t seed) : state_(seed) {}
  float Uniform(float center, float half_width) {
    state_ += 0x9e3779b97f4a7c15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float unit = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    return center + half_width * (2.0f * unit - 1.0f);
  }

 private:
  uint64_t state_;
};

absl::StatusOr<Tensor> RandomTensor(WeightStream& stream, const Shape& shape, float center,
                                    float half_width) {
  FAVOR_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Allocate(DType::kF32, shape));
  float* data = tensor.mutable_data<float>();
  for (int64_t i = 0; i < tensor.NumElements(); ++i) data[i] = stream.Uniform(center, half_width);
  return tensor;
}

io::Vocabulary ByteFallbackVocabulary(int64_t size) {
  io::Vocabulary vocabulary;
  auto add = [&](std::string piece, io::PieceType type, float score) {
    vocabulary.pieces.push_back(std::move(piece));
    vocabulary.types.push_back(type);
    vocabulary.scores.push_back(score);
  };
  add("<unk>", io::PieceType::kUnknown, 0);
  add("<s>", io::PieceType::kControl, 0);
  add("</s>", io::PieceType::kControl, 0);
  char byte_piece[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(byte_piece, sizeof(byte_piece), "<0x%02X>", b);
    add(byte_piece, io::PieceType::kByte, 0);
  }
  for (int64_t i = static_cast<int64_t>(vocabulary.pieces.size()); i < size; ++i) {
    add(absl::StrCat("\xe2\x96\x81w", i), io::PieceType::kNormal, -static_cast<float>(i));
  }
  vocabulary.origin = "synthetic";
  return vocabulary;
}

}  // namespace

const std::vector<SyntheticShape>& SyntheticShapes() {
  static const std::vector<SyntheticShape> shapes = {
      {"tiny", 64, 160, 2, 4, 2, 512, 4096},
      {"stories15M", 288, 768, 6, 6, 6, 32000, 256},
      {"stories110M", 768, 2048, 12, 12, 12, 32000, 1024},
      {"llama-1b", 2048, 5632, 16, 32, 8, 32000, 2048},
      {.name = "qwen2.5-0.5b",
       .dim = 896,
       .hidden_dim = 4864,
       .n_layers = 24,
       .n_heads = 14,
       .n_kv_heads = 2,
       .vocab_size = 151936,
       .max_seq_len = 32768,
       .architecture = "qwen2",
       .rope_theta = 1000000.0},
      {.name = "llama-3.2-1b",
       .dim = 2048,
       .hidden_dim = 8192,
       .n_layers = 16,
       .n_heads = 32,
       .n_kv_heads = 8,
       .vocab_size = 128256,
       .max_seq_len = 131072,
       .rope_theta = 500000.0},
      {.name = "gemma-2-2b",
       .dim = 2304,
       .hidden_dim = 9216,
       .n_layers = 26,
       .n_heads = 8,
       .n_kv_heads = 4,
       .vocab_size = 256000,
       .max_seq_len = 8192,
       .architecture = "gemma2",
       .head_dim = 256,
       .sliding_window = 4096,
       .attention_soft_cap = 50.0f,
       .final_soft_cap = 30.0f,
       .query_scale = 0.0625f},
  };
  return shapes;
}

absl::StatusOr<SyntheticShape> FindSyntheticShape(const std::string& name) {
  std::vector<std::string> names;
  for (const SyntheticShape& shape : SyntheticShapes()) {
    if (shape.name == name) return shape;
    names.push_back(shape.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model shape '", name, "' (", absl::StrJoin(names, ", "), ")"));
}

absl::StatusOr<io::ModelFile> SyntheticModelFile(const SyntheticShape& shape, uint64_t seed) {
  io::ModelFile file;
  file.path = "synthetic:" + shape.name;
  file.format = "synthetic (random weights)";
  io::ModelConfig& config = file.config;
  config.dim = shape.dim;
  config.hidden_dim = shape.hidden_dim;
  config.n_layers = shape.n_layers;
  config.n_heads = shape.n_heads;
  config.n_kv_heads = shape.n_kv_heads;
  config.vocab_size = shape.vocab_size;
  config.max_seq_len = shape.max_seq_len;
  config.tied_embeddings = true;
  config.architecture = shape.architecture;
  config.attention_head_dim = shape.head_dim;
  config.sliding_window = shape.sliding_window;
  config.attention_soft_cap = shape.attention_soft_cap;
  config.final_soft_cap = shape.final_soft_cap;
  config.query_scale = shape.query_scale;
  config.rope_theta = shape.rope_theta;
  FAVOR_RETURN_IF_ERROR(ApplyArchitecture(file));
  if (shape.vocab_size < 260) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path, ": a byte-fallback vocabulary needs at least 260 tokens"));
  }

  // Every tensor the architecture's decoder reads, in the decoder's order (so the stream, and the
  // weights of a given seed, stay as they were for the Llama shapes).
  WeightStream stream(seed);
  const float w = 0.02f;
  const float norm_center = config.norm_adds_one ? 0.0f : 1.0f;
  for (const TensorSlot& slot : DecoderTensors(config)) {
    if (slot.optional) continue;  // Output head (tied), RoPE scaling factors.
    const bool norm = slot.name.ends_with("norm.weight");
    FAVOR_ASSIGN_OR_RETURN(
        Tensor tensor, RandomTensor(stream, slot.shape, norm ? norm_center : 0, norm ? 0.1f : w));
    file.tensors.emplace(slot.name, std::move(tensor));
  }
  file.vocabulary = ByteFallbackVocabulary(shape.vocab_size);
  file.metadata.emplace_back("synthetic.seed", absl::StrCat(seed));
  FAVOR_RETURN_IF_ERROR(ValidateTensors(file));
  return file;
}

}  // namespace favor::models
