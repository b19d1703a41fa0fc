// favor's C++ API: load a model once, open a session per sequence, generate or score text.
//
//   auto model = favor::Model::Load("stories15M.bin").value();
//   auto session = favor::Session::Create(model).value();
//   auto out = session->Generate("Once upon a time", {.max_tokens = 64}).value();
//
// Errors are absl::Status values (the engine's one convention) whose messages name the problem
// and its context (the file, the option, the sizes); nothing here throws.
//
// Thread safety: a Model is immutable once loaded and may be shared by any number of sessions on
// any number of threads. A Session is one sequence and is used by one thread at a time. Sessions
// of one model with the same attention share one computation graph and its packed weights; each
// distinct attention choice builds its graph once, on first use.
//
// Only this header, attention.hpp (the attention choice), favor.h (the C API) and version.h are
// public; nothing here exposes the
// engine's internals.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "favor/attention.hpp"
#include "favor/export.h"
#include "favor/version.h"

namespace favor {

struct ModelOptions {
  std::string tokenizer_path;  // Overrides the model's own vocabulary.
  bool bf16_weights = false;   // Matrix weights in bf16 (half the memory traffic per token).
};

struct ModelInfo {
  std::string path, format, architecture;
  int64_t layers = 0, heads = 0, kv_heads = 0, head_dim = 0, dim = 0, vocab_size = 0;
  int64_t context = 0;  // Trained context length.
};

class FAVOR_API Tokenizer {
 public:
  // Token ids of `text`, BOS first when `add_bos`.
  absl::StatusOr<std::vector<int32_t>> Encode(const std::string& text, bool add_bos) const;
  // With `parse_special`, special tokens written in the text ("<|im_end|>", "<|eot_id|>") become
  // those tokens; otherwise they are the characters they are made of, as user text should be.
  absl::StatusOr<std::vector<int32_t>> Encode(const std::string& text, bool add_bos,
                                              bool parse_special) const;
  absl::StatusOr<std::string> Decode(const std::vector<int32_t>& ids) const;
  std::string IdToPiece(int32_t id) const;
  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  // Whether prompts start with BOS for this vocabulary (SentencePiece ones and Llama 3 do, GPT-2
  // and Qwen do not).
  bool add_bos() const;
  // Tokens that end a generation: EOS, end of turn or message (<|eot_id|>, <|im_end|>,
  // <end_of_turn>...) as the metadata names or the vocabulary spells them, and BOS.
  bool IsEndOfGeneration(int32_t id) const;

 private:
  friend class Model;
  struct Impl;
  explicit Tokenizer(const Impl* impl) : impl_(impl) {}
  const Impl* impl_;
};

class FAVOR_API Model {
 public:
  // A GGUF file, a llama2.c checkpoint, or a Hugging Face directory (config.json, safetensors).
  static absl::StatusOr<std::shared_ptr<const Model>> Load(const std::string& path,
                                                           const ModelOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;
  const Tokenizer& tokenizer() const;

 private:
  friend class Session;
  friend struct ModelAccess;  // GenerateBatch.
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct SessionOptions {
  int64_t context = 0;  // Tokens the sequence may hold; 0: the model's trained context.
  int threads = 0;      // 0: one per physical core.
  AttentionSpec attention;
  // Memory the session's state and activations may take; 0: the machine's (physical memory or
  // the cgroup limit). Create refuses, with the figure, a context or feature count that needs
  // more (RESOURCE_EXHAUSTED), before allocating anything.
  int64_t memory_limit_bytes = 0;
};

// A seed that asks for a random one; Generation::seed reports the seed drawn.
inline constexpr uint64_t kRandomSeed = UINT64_MAX;

// The defaults are llama.cpp's, and the favor CLI's.
struct SamplingOptions {
  float temperature = 0.8f;     // 0: greedy.
  int top_k = 40;               // 0: off.
  float top_p = 0.95f;          // In (0, 1]; 1: off.
  float min_p = 0.05f;          // 0: off.
  float repeat_penalty = 1.0f;  // 1: off.
  int repeat_last_n = 64;
  uint64_t seed = kRandomSeed;  // Same seed, same model, same options: same tokens.
};

struct GenerateOptions {
  SamplingOptions sampling;
  int64_t max_tokens = 128;  // < 0: until the context is full.
  bool add_bos = true;       // Start the prompt with BOS (if the tokenizer uses one).
  // Special tokens written in the prompt (a chat template's markers) become those tokens.
  bool parse_special = false;
  // End at the model's end-of-generation tokens (EOS; BOS, which begins a new document; and
  // their marker texts when the model spells them out). false: generate through them.
  bool stop_at_eos = true;
  std::vector<std::string> stop_strings;  // The text ends before the first one.
};

enum class StopReason { kMaxTokens, kEndOfSequence, kStopString, kCallback, kContextFull };
FAVOR_API const char* StopReasonName(StopReason reason);

// One generated token and the text that became final with it (may be empty: a multi-byte
// character or a possible stop string is still incomplete). Text held back to the end comes with
// token kNoToken. Return false to stop generating.
inline constexpr int32_t kNoToken = -1;
using TokenCallback = std::function<bool(int32_t token, const std::string& text)>;

struct Generation {
  // Generated text (without the prompt): the decoding of prompt + generated tokens minus that of
  // the prompt, so the first word keeps its leading space.
  std::string text;
  std::vector<int32_t> tokens;  // Generated tokens.
  StopReason stop = StopReason::kMaxTokens;
  std::string stop_text;  // The stop string, or the end-of-generation token's text, that ended it.
  uint64_t seed = 0;      // The sampling seed used.
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0, generation_seconds = 0;
};

struct TextScore {
  std::vector<int32_t> tokens;    // The text's tokens, BOS first.
  std::vector<double> log_probs;  // log p(token t | tokens before t), for t = 1..n-1 (nats).
  double total_log_prob = 0;
  double perplexity = 0;
};

class FAVOR_API Session {
 public:
  static absl::StatusOr<std::unique_ptr<Session>> Create(std::shared_ptr<const Model> model,
                                                         const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Continues the sequence with `prompt` and generates (Reset() first for a new conversation).
  absl::StatusOr<Generation> Generate(const std::string& prompt,
                                      const GenerateOptions& options = {},
                                      const TokenCallback& on_token = nullptr);
  // Log-probabilities of a text under the model, as a fresh sequence of its own (the generated
  // sequence is left as it is).
  absl::StatusOr<TextScore> Score(const std::string& text);

  void Reset();
  int64_t position() const;     // Tokens in the sequence.
  int64_t context() const;      // Tokens it may hold.
  int64_t state_bytes() const;  // Memory of the per-sequence state (KV cache, feature sums).
  const Model& model() const;

 private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Continuous batching for embedders (what favor serve runs): many prompts generated together,
// up to `parallel` at a time, each forward pass taking the next token of every running sequence
// (the weights are read once per pass, not once per sequence). A prompt starts as soon as a
// sequence ends. Each result is what Session::Generate gives that prompt on a fresh session.
struct BatchOptions {
  int parallel = 4;     // Sequences generated together.
  int64_t context = 0;  // Tokens per sequence; 0: the model's trained context.
  int threads = 0;      // 0: one per physical core.
  AttentionSpec attention;
  int64_t memory_limit_bytes = 0;  // As SessionOptions'; covers every sequence's state.
};

struct BatchPrompt {
  std::string prompt;
  GenerateOptions options;
};

// Called on the calling thread for each generated token of prompt `index` (as TokenCallback);
// returning false stops that prompt only.
using BatchTokenCallback =
    std::function<bool(size_t index, int32_t token, const std::string& text)>;

// One result per prompt, in order: its generation, or why it failed (a prompt past the context,
// say) while the others went on. The outer status fails only if the batch could not be built.
FAVOR_API absl::StatusOr<std::vector<absl::StatusOr<Generation>>> GenerateBatch(
    std::shared_ptr<const Model> model, const std::vector<BatchPrompt>& prompts,
    const BatchOptions& options = {}, const BatchTokenCallback& on_token = nullptr);

}  // namespace favor
