// What a model file holds, in one form for every format: the architecture's hyper-parameters,
// the weights as tensors under canonical (GGUF-style) names, the vocabulary if the file carries
// one, and the metadata for `favor inspect`.
//
// Canonical tensor names (GGUF's): token_embd.weight, output_norm.weight, output.weight (absent
// when the output head is tied to the embedding), and per layer N: blk.N.attn_norm.weight,
// blk.N.attn_{q,k,v,output}.weight, blk.N.ffn_norm.weight, blk.N.ffn_{gate,up,down}.weight, and
// where the architecture has them blk.N.post_attention_norm.weight, blk.N.post_ffw_norm.weight
// (Gemma 2), position_embd.weight (GPT-2's learned positions), biases as .bias. Fused matrices
// (blk.N.attn_qkv.weight; Phi-3's ffn_up holding gate and up) are split into the separate ones by
// models::ApplyArchitecture. Matrices are [out, in] (row-major), as PyTorch Linear stores them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/tensor.h"
#include "engine/io/vocabulary.h"

namespace favor::io {

// How a file orders the two coordinates each rotary pair turns: adjacent (2i, 2i + 1: llama2.c,
// and GGUF, whose converter permutes the q/k rows for it) or the two halves (i, i + d/2: Hugging
// Face).
enum class RotaryPairs { kAdjacent, kHalves };
enum class NormKind { kRms, kLayer };
// Gated SiLU (Llama), gated tanh-GELU (Gemma), plain GELU (GPT-2).
enum class FeedForwardKind { kSwiGlu, kGeGlu, kGelu };
enum class PositionKind { kRotary, kLearned };

// An architecture's hyper-parameters and traits, as data: the numbers come from the file, the
// traits from the architecture's row in models/architecture.cc (and the file where it says).
// The generic decoder (models/decoder.cc) builds from this alone.
struct ModelConfig {
  std::string architecture = "llama";  // GGUF's names: llama, qwen2, gemma2, phi3, gpt2, ...
  int64_t dim = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t hidden_dim = 0;  // Feed-forward width.
  int64_t vocab_size = 0;
  int64_t max_seq_len = 0;  // Context the model was trained for.
  // Per-head size when the file gives it (GGUF attention.key_length, config.json head_dim: Gemma's
  // is not dim / heads); 0: dim / n_heads.
  int64_t attention_head_dim = 0;
  float query_scale = 0.0f;  // Scale of the attention scores; 0: 1 / sqrt(head_dim).
  NormKind norm = NormKind::kRms;
  float norm_eps = 1e-5f;
  bool norm_adds_one = false;  // Gemma's RMSNorm multiplies by (1 + weight).
  FeedForwardKind feed_forward = FeedForwardKind::kSwiGlu;
  PositionKind positions = PositionKind::kRotary;
  double rope_theta = 10000.0;
  // Longrope's attention factor (Phi-3.5): rotated q and k rows are scaled by it; 1 otherwise.
  double rope_attention_factor = 1.0;
  RotaryPairs rotary_pairs = RotaryPairs::kAdjacent;
  bool tied_embeddings = false;
  float embedding_scale = 1.0f;  // Gemma multiplies the embeddings by sqrt(dim).
  bool attention_bias = false;   // Biases on the q, k and v projections (Qwen2).
  bool linear_biases = false;    // Biases on the output and feed-forward projections too (GPT-2).
  bool post_norms = false;       // Norms of the attention and FFN outputs too (Gemma 2).
  // Sliding-window attention (Mistral, Phi-3, Gemma 2): a local layer's query sees the last
  // `sliding_window` keys, itself included; 0: none. Which layers are local:
  // sliding_window_period 1, all; n > 1, layer l when l % n < n - 1 (Gemma 2: 2, the even ones).
  int64_t sliding_window = 0;
  int64_t sliding_window_period = 1;
  float attention_soft_cap = 0.0f;  // Scores capped to cap tanh(s / cap) (Gemma 2); 0: none.
  float final_soft_cap = 0.0f;      // The same on the logits.

  bool LocalLayer(int64_t layer) const {
    if (sliding_window <= 0) return false;
    return sliding_window_period <= 1 || layer % sliding_window_period < sliding_window_period - 1;
  }
  int64_t head_dim() const {
    return attention_head_dim > 0 ? attention_head_dim : n_heads > 0 ? dim / n_heads : 0;
  }
  // Checks that the numbers describe a plausible model (positive, divisible, within limits), so
  // that a corrupt header is refused before anything is sized from it.
  absl::Status Validate(absl::string_view source) const;
};

struct ModelFile {
  std::string path;
  std::string format;  // "GGUF v1", "llama2.c (legacy)", "safetensors", ...
  // The container, for what depends on its conventions (GGUF's converter permutes q/k rows for
  // some architectures and not others).
  bool gguf = false;
  ModelConfig config;
  std::map<std::string, Tensor> tensors;
  std::optional<Vocabulary> vocabulary;
  std::vector<std::pair<std::string, std::string>> metadata;  // Key, printable value.
};

// Loads a .gguf file, a llama2.c .bin checkpoint, or a Hugging Face model directory, chosen by
// what `path` is (a directory, or a file's magic number).
absl::StatusOr<ModelFile> LoadModelFile(const std::string& path);

absl::StatusOr<ModelFile> LoadGguf(const std::string& path);
absl::StatusOr<ModelFile> LoadLlama2c(const std::string& path);
absl::StatusOr<ModelFile> LoadHuggingFace(const std::string& directory);

// llama2.c's tokenizer.bin: max token length, then per token a float score, an int length and
// the bytes; spaces appear as ' ' and BOS/EOS as "\n<s>\n" and "\n</s>\n".
absl::StatusOr<Vocabulary> LoadLlama2cTokenizer(const std::string& path);

// The same loaders on bytes already in memory (a file the caller read, a fuzzer's input); `source`
// names them in error messages. Tensors view `file`, which they keep alive.
absl::StatusOr<ModelFile> ParseGguf(std::shared_ptr<const Storage> file, const std::string& source);
absl::StatusOr<ModelFile> ParseLlama2c(std::shared_ptr<const Storage> file,
                                       const std::string& source);
absl::StatusOr<Vocabulary> ParseLlama2cTokenizer(const Storage& file, const std::string& source);

// The vocabulary of a tokenizer file as data: tokenizer.json, a GGUF file (model or vocabulary
// only) or a llama2.c tokenizer.bin (anything unrecognised is tried as one). A SentencePiece
// .model is refused here: the SentencePiece library reads it (text::Tokenizer::FromFile).
absl::StatusOr<Vocabulary> LoadVocabularyFile(const std::string& path);

// The vocabulary of a GGUF file, from its metadata alone: works on vocabulary-only files (no
// tensors, as llama.cpp's ggml-vocab-*.gguf are) and on models.
absl::StatusOr<Vocabulary> LoadGgufVocabulary(const std::string& path);
absl::StatusOr<Vocabulary> ParseGgufVocabulary(const Storage& file, const std::string& source);

// A view of tensor data inside a mapped file, or an aligned copy when the data is not aligned to
// its element size (safetensors, and GGUF with a small alignment, allow that; reading a misaligned
// float through a float pointer is undefined behaviour).
absl::StatusOr<Tensor> ViewOrCopy(std::shared_ptr<const Storage> file, size_t offset, DType dtype,
                                  const Shape& shape);

// Checks that no floating-point weight is NaN or Inf (a corrupt or badly converted file would
// otherwise generate garbage silently); the error names the tensor and the element.
absl::Status CheckWeightsFinite(const ModelFile& model);

}  // namespace favor::io
