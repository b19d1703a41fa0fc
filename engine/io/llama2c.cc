// llama2.c checkpoints and tokenizer.bin.
//
// Legacy format: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
// a negative vocab_size means the classifier is not shared with the embedding), then f32 weights
// in the order of llama2.c's run.c (embedding, attention norms, wq, wk, wv, wo, ffn norms, w1, w2,
// w3, final norm, two RoPE tables to skip, classifier if unshared).
// Versioned format ("ak42" magic, version, the 7 ints, a shared-classifier byte, header padded to
// 256 bytes): version 1 is f32 with the norms first; version 2 is Q8_0-style int8 with one f32
// scale per group (dequantised here to f32).
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/io/byte_reader.h"
#include "engine/io/model_file.h"

namespace favor::io {
namespace {

constexpr uint32_t kVersionedMagic = 0x616b3432;  // "ak42"

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

absl::StatusOr<ModelConfig> ConfigFrom(const Header& h, bool shared_classifier,
                                       const std::string& path) {
  ModelConfig c;
  c.architecture = "llama";
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.vocab_size = h.vocab_size < 0 ? -static_cast<int64_t>(h.vocab_size) : h.vocab_size;
  c.max_seq_len = h.seq_len;
  c.tied_embeddings = shared_classifier;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0;
  c.rotary_pairs = RotaryPairs::kAdjacent;
  FAVOR_RETURN_IF_ERROR(c.Validate(path));
  return c;
}

// Places consecutive weight blocks of the file into named tensors, checking each against the
// file size before viewing it.
class WeightCursor {
 public:
  WeightCursor(std::shared_ptr<const Storage> file, size_t offset, std::string path,
               ModelFile& model)
      : file_(std::move(file)), offset_(offset), path_(std::move(path)), model_(model) {}

  size_t offset() const { return offset_; }

  absl::StatusOr<std::span<const std::byte>> Take(int64_t bytes, absl::string_view what) {
    if (bytes < 0 || static_cast<uint64_t>(bytes) > file_->size() - offset_) {
      return absl::OutOfRangeError(absl::StrCat(path_, ": truncated: ", what, " needs ", bytes,
                                                " bytes at offset ", offset_, " but the file has ",
                                                file_->size(), " bytes"));
    }
    std::span<const std::byte> span(file_->data() + offset_, static_cast<size_t>(bytes));
    offset_ += static_cast<size_t>(bytes);
    return span;
  }

  // f32 [layers][rows][cols], split into per-layer tensors named by `name_of(layer)`.
  template <typename NameOf>
  absl::Status F32PerLayer(int64_t layers, const Shape& shape, NameOf name_of) {
    for (int64_t l = 0; l < layers; ++l) FAVOR_RETURN_IF_ERROR(F32(name_of(l), shape));
    return absl::OkStatus();
  }

  absl::Status F32(const std::string& name, const Shape& shape) {
    const size_t start = offset_;
    FAVOR_RETURN_IF_ERROR(Take(shape.NumElements() * 4, name).status());
    FAVOR_ASSIGN_OR_RETURN(Tensor t, ViewOrCopy(file_, start, DType::kF32, shape));
    model_.tensors[name] = std::move(t);
    return absl::OkStatus();
  }

  // Version 2: int8 values, then one f32 scale per group of `group` values.
  absl::Status Quantized(const std::string& name, const Shape& shape, int64_t group) {
    const int64_t n = shape.NumElements();
    if (n % group != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": tensor '", name, "' of ", n, " values is not a multiple of the group ", group));
    }
    FAVOR_ASSIGN_OR_RETURN(auto values, Take(n, name));
    FAVOR_ASSIGN_OR_RETURN(auto scales, Take(n / group * 4, name));
    FAVOR_ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(DType::kF32, shape));
    float* out = t.mutable_data<float>();
    for (int64_t g = 0; g < n / group; ++g) {
      float scale;
      std::memcpy(&scale, scales.data() + g * 4, 4);
      for (int64_t i = 0; i < group; ++i) {
        out[g * group + i] =
            scale *
            static_cast<float>(static_cast<int8_t>(values[static_cast<size_t>(g * group + i)]));
      }
    }
    model_.tensors[name] = std::move(t);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<const Storage> file_;
  size_t offset_;
  std::string path_;
  ModelFile& model_;
};

std::string Layer(int64_t l, absl::string_view suffix) {
  return absl::StrCat("blk.", l, ".", suffix);
}

absl::Status LoadLegacyWeights(WeightCursor& w, const ModelConfig& c) {
  const int64_t kv = c.n_kv_heads * c.head_dim();
  const int64_t L = c.n_layers;
  FAVOR_RETURN_IF_ERROR(w.F32("token_embd.weight", Shape{c.vocab_size, c.dim}));
  FAVOR_RETURN_IF_ERROR(
      w.F32PerLayer(L, Shape{c.dim}, [](int64_t l) { return Layer(l, "attn_norm.weight"); }));
  FAVOR_RETURN_IF_ERROR(
      w.F32PerLayer(L, Shape{c.dim, c.dim}, [](int64_t l) { return Layer(l, "attn_q.weight"); }));
  FAVOR_RETURN_IF_ERROR(
      w.F32PerLayer(L, Shape{kv, c.dim}, [](int64_t l) { return Layer(l, "attn_k.weight"); }));
  FAVOR_RETURN_IF_ERROR(
      w.F32PerLayer(L, Shape{kv, c.dim}, [](int64_t l) { return Layer(l, "attn_v.weight"); }));
  FAVOR_RETURN_IF_ERROR(w.F32PerLayer(L, Shape{c.dim, c.dim},
                                      [](int64_t l) { return Layer(l, "attn_output.weight"); }));
  FAVOR_RETURN_IF_ERROR(
      w.F32PerLayer(L, Shape{c.dim}, [](int64_t l) { return Layer(l, "ffn_norm.weight"); }));
  FAVOR_RETURN_IF_ERROR(w.F32PerLayer(L, Shape{c.hidden_dim, c.dim},
                                      [](int64_t l) { return Layer(l, "ffn_gate.weight"); }));
  FAVOR_RETURN_IF_ERROR(w.F32PerLayer(L, Shape{c.dim, c.hidden_dim},
                                      [](int64_t l) { return Layer(l, "ffn_down.weight"); }));
  FAVOR_RETURN_IF_ERROR(w.F32PerLayer(L, Shape{c.hidden_dim, c.dim},
                                      [](int64_t l) { return Layer(l, "ffn_up.weight"); }));
  FAVOR_RETURN_IF_ERROR(w.F32("output_norm.weight", Shape{c.dim}));
  // RoPE frequency tables (real and imaginary) that llama2.c once stored: skipped.
  FAVOR_RETURN_IF_ERROR(w.Take(2 * c.max_seq_len * (c.head_dim() / 2) * 4, "RoPE tables").status());
  if (!c.tied_embeddings) FAVOR_RETURN_IF_ERROR(w.F32("output.weight", Shape{c.vocab_size, c.dim}));
  return absl::OkStatus();
}

// Version 1 (f32) and 2 (int8 groups): norms first, then the matrices.
absl::Status LoadVersionedWeights(WeightCursor& w, const ModelConfig& c, int version,
                                  int64_t group) {
  const int64_t kv = c.n_kv_heads * c.head_dim();
  const int64_t L = c.n_layers;
  FAVOR_RETURN_IF_ERROR(
      w.F32PerLayer(L, Shape{c.dim}, [](int64_t l) { return Layer(l, "attn_norm.weight"); }));
  FAVOR_RETURN_IF_ERROR(
      w.F32PerLayer(L, Shape{c.dim}, [](int64_t l) { return Layer(l, "ffn_norm.weight"); }));
  FAVOR_RETURN_IF_ERROR(w.F32("output_norm.weight", Shape{c.dim}));
  auto matrix = [&](const std::string& name, const Shape& shape) {
    return version == 1 ? w.F32(name, shape) : w.Quantized(name, shape, group);
  };
  FAVOR_RETURN_IF_ERROR(matrix("token_embd.weight", Shape{c.vocab_size, c.dim}));
  const std::pair<absl::string_view, Shape> per_layer[] = {
      {"attn_q.weight", Shape{c.dim, c.dim}},
      {"attn_k.weight", Shape{kv, c.dim}},
      {"attn_v.weight", Shape{kv, c.dim}},
      {"attn_output.weight", Shape{c.dim, c.dim}},
      {"ffn_gate.weight", Shape{c.hidden_dim, c.dim}},
      {"ffn_down.weight", Shape{c.dim, c.hidden_dim}},
      {"ffn_up.weight", Shape{c.hidden_dim, c.dim}}};
  for (const auto& [suffix, shape] : per_layer) {
    for (int64_t l = 0; l < L; ++l) FAVOR_RETURN_IF_ERROR(matrix(Layer(l, suffix), shape));
  }
  if (!c.tied_embeddings)
    FAVOR_RETURN_IF_ERROR(matrix("output.weight", Shape{c.vocab_size, c.dim}));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelFile> LoadLlama2c(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return ParseLlama2c(std::move(file), path);
}

absl::StatusOr<ModelFile> ParseLlama2c(std::shared_ptr<const Storage> file,
                                       const std::string& path) {
  ByteReader reader({file->data(), file->size()}, path);
  FAVOR_ASSIGN_OR_RETURN(const uint32_t magic, reader.Read<uint32_t>("header"));
  ModelFile model;
  model.path = path;
  Header h{};
  if (magic == kVersionedMagic) {
    FAVOR_ASSIGN_OR_RETURN(const int32_t version, reader.Read<int32_t>("version"));
    if (version != 1 && version != 2) {
      return reader.Error(absl::StrCat("unsupported llama2.c export version ", version));
    }
    FAVOR_ASSIGN_OR_RETURN(h, reader.Read<Header>("header"));
    FAVOR_ASSIGN_OR_RETURN(const uint8_t shared, reader.Read<uint8_t>("shared classifier flag"));
    int64_t group = 0;
    if (version == 2) {
      FAVOR_ASSIGN_OR_RETURN(const int32_t group_size, reader.Read<int32_t>("group size"));
      if (group_size <= 0 || group_size > (1 << 20)) {
        return reader.Error(absl::StrCat("invalid quantisation group size ", group_size));
      }
      group = group_size;
    }
    FAVOR_ASSIGN_OR_RETURN(model.config, ConfigFrom(h, shared != 0, path));
    if (file->size() < 256) return reader.Error("truncated: header of 256 bytes");
    WeightCursor weights(file, 256, path, model);
    FAVOR_RETURN_IF_ERROR(LoadVersionedWeights(weights, model.config, version, group));
    model.format = absl::StrCat("llama2.c v", version);
  } else {
    FAVOR_RETURN_IF_ERROR(reader.Seek(0, "header"));
    FAVOR_ASSIGN_OR_RETURN(h, reader.Read<Header>("header"));
    FAVOR_ASSIGN_OR_RETURN(model.config, ConfigFrom(h, h.vocab_size > 0, path));
    WeightCursor weights(file, sizeof(Header), path, model);
    FAVOR_RETURN_IF_ERROR(LoadLegacyWeights(weights, model.config));
    model.format = "llama2.c (legacy)";
  }
  model.metadata = {{"dim", absl::StrCat(h.dim)},
                    {"hidden_dim", absl::StrCat(h.hidden_dim)},
                    {"n_layers", absl::StrCat(h.n_layers)},
                    {"n_heads", absl::StrCat(h.n_heads)},
                    {"n_kv_heads", absl::StrCat(h.n_kv_heads)},
                    {"vocab_size", absl::StrCat(h.vocab_size)},
                    {"seq_len", absl::StrCat(h.seq_len)}};
  return model;
}

absl::StatusOr<Vocabulary> LoadLlama2cTokenizer(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return ParseLlama2cTokenizer(*file, path);
}

absl::StatusOr<Vocabulary> ParseLlama2cTokenizer(const Storage& file, const std::string& path) {
  ByteReader reader({file.data(), file.size()}, path);
  FAVOR_ASSIGN_OR_RETURN(const int32_t max_length, reader.Read<int32_t>("max token length"));
  if (max_length <= 0 || max_length > 4096) {
    return reader.Error(absl::StrCat("invalid max token length ", max_length));
  }
  Vocabulary vocab;
  vocab.origin = "llama2.c tokenizer.bin";
  const std::string kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's space.
  while (reader.remaining() > 0) {
    FAVOR_ASSIGN_OR_RETURN(const float score, reader.Read<float>("token score"));
    FAVOR_ASSIGN_OR_RETURN(const int32_t length, reader.Read<int32_t>("token length"));
    if (length < 0 || length > max_length) {
      return reader.Error(absl::StrCat("token ", vocab.pieces.size(), " has length ", length,
                                       " (max ", max_length, ")"));
    }
    FAVOR_ASSIGN_OR_RETURN(std::string text,
                           reader.ReadString(static_cast<uint64_t>(length), "token"));
    const int32_t id = static_cast<int32_t>(vocab.pieces.size());
    PieceType type = PieceType::kNormal;
    if (id == 0) {
      type = PieceType::kUnknown;
    } else if (text == "\n<s>\n" || text == "\n</s>\n") {
      text = text.substr(1, text.size() - 2);  // llama2.c wraps BOS/EOS in newlines.
      type = PieceType::kControl;
    } else if (text.size() == 6 && text.rfind("<0x", 0) == 0 && text.back() == '>') {
      type = PieceType::kByte;
    }
    // llama2.c replaced U+2581 by ' '; SentencePiece needs it back.
    std::string piece;
    for (char ch : text) {
      if (ch == ' ' && type == PieceType::kNormal) {
        piece += kSpace;
      } else {
        piece += ch;
      }
    }
    vocab.pieces.push_back(std::move(piece));
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
  }
  if (vocab.pieces.size() < 3) return reader.Error("fewer than 3 tokens");
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  return vocab;
}

}  // namespace favor::io
