#include "models/architecture.h"

#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"

namespace favor::models {
namespace {

// Gemma 2's query scale is 1 / sqrt(query_pre_attn_scalar), which GGUF does not carry: llama.cpp
// takes it from the model size (27B, 46 layers: dim / heads; 2B and 9B: head_dim).
void Gemma2QueryScale(io::ModelConfig& c) {
  if (c.query_scale != 0.0f) return;
  const int64_t scalar = c.n_layers == 46 ? c.dim / c.n_heads : c.head_dim();
  c.query_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(scalar)));
}

// Phi-3 "4k" files converted before the window was written: llama.cpp's default for them.
void Phi3DefaultWindow(io::ModelConfig& c) {
  if (c.sliding_window == 0 && (c.n_layers == 32 || c.n_layers == 40) && c.max_seq_len == 4096) {
    c.sliding_window = 2047;
  }
}

constexpr std::array<Architecture, 6> kArchitectures = {{
    // Llama 1/2/3.x, SmolLM, Mistral (Hugging Face's MistralForCausalLM: a sliding window).
    {.name = "llama",
     .norm = io::NormKind::kRms,
     .norm_adds_one = false,
     .feed_forward = io::FeedForwardKind::kSwiGlu,
     .positions = io::PositionKind::kRotary},
    // Qwen2 / Qwen2.5: Llama with biases on q, k and v.
    {.name = "qwen2",
     .norm = io::NormKind::kRms,
     .norm_adds_one = false,
     .feed_forward = io::FeedForwardKind::kSwiGlu,
     .positions = io::PositionKind::kRotary,
     .attention_bias = true,
     .gguf_rotary_pairs = io::RotaryPairs::kHalves},
    // Gemma: GeGLU, (1 + w) norms, embeddings scaled by sqrt(dim), head_dim of its own.
    {.name = "gemma",
     .norm = io::NormKind::kRms,
     .norm_adds_one = true,
     .feed_forward = io::FeedForwardKind::kGeGlu,
     .positions = io::PositionKind::kRotary,
     .scale_embeddings = true,
     .gguf_rotary_pairs = io::RotaryPairs::kHalves},
    // Gemma 2: Gemma plus post-norms, soft-capped scores and logits, and local (sliding window)
    // layers alternating with global ones, the even layers local.
    {.name = "gemma2",
     .norm = io::NormKind::kRms,
     .norm_adds_one = true,
     .feed_forward = io::FeedForwardKind::kGeGlu,
     .positions = io::PositionKind::kRotary,
     .scale_embeddings = true,
     .post_norms = true,
     .sliding_window_period = 2,
     .default_sliding_window = 4096,
     .gguf_rotary_pairs = io::RotaryPairs::kHalves,
     .gguf_implicit_settings = &Gemma2QueryScale},
    // Phi-3 / Phi-3.5: fused q/k/v and gate/up matrices, a sliding window on every layer.
    {.name = "phi3",
     .norm = io::NormKind::kRms,
     .norm_adds_one = false,
     .feed_forward = io::FeedForwardKind::kSwiGlu,
     .positions = io::PositionKind::kRotary,
     .fused_qkv = true,
     .fused_gate_up = true,
     .gguf_rotary_pairs = io::RotaryPairs::kHalves,
     .gguf_implicit_settings = &Phi3DefaultWindow},
    // GPT-2: LayerNorm, plain GELU feed-forward, learned absolute positions, biases on every
    // projection, fused q/k/v.
    {.name = "gpt2",
     .norm = io::NormKind::kLayer,
     .norm_adds_one = false,
     .feed_forward = io::FeedForwardKind::kGelu,
     .positions = io::PositionKind::kLearned,
     .attention_bias = true,
     .linear_biases = true,
     .fused_qkv = true},
}};

}  // namespace

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> names;
  for (const Architecture& a : kArchitectures) names.emplace_back(a.name);
  return names;
}

absl::StatusOr<const Architecture*> FindArchitecture(std::string_view name) {
  for (const Architecture& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return absl::UnimplementedError(absl::StrCat(
      "architecture '", std::string(name),
      "' is not supported (supported: ", absl::StrJoin(SupportedArchitectures(), ", "), ")"));
}

namespace {

// Replaces the fused matrix (and bias) `fused` of every layer by row ranges named `parts`, each
// `rows` long; a file that already has the parts separately keeps them.
absl::Status SplitFused(io::ModelFile& model, const std::string& fused,
                        const std::vector<std::pair<std::string, int64_t>>& parts) {
  int64_t total = 0;
  for (const auto& part : parts) total += part.second;
  for (int64_t l = 0; l < model.config.n_layers; ++l) {
    for (const char* kind : {".weight", ".bias"}) {
      const std::string prefix = absl::StrCat("blk.", l, ".");
      const std::string name = prefix + fused + kind;
      auto it = model.tensors.find(name);
      if (it == model.tensors.end()) continue;
      if (model.tensors.count(prefix + parts[0].first + kind) > 0) continue;  // Already split.
      const Tensor whole = it->second;
      if (whole.rank() < 1 || whole.dim(0) != total) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor '", name, "' is ", whole.DebugString(), ", expected ", total, " rows"));
      }
      model.tensors.erase(it);
      int64_t begin = 0;
      for (const auto& [part, rows] : parts) {
        FAVOR_ASSIGN_OR_RETURN(Tensor slice, whole.Slice(begin, begin + rows));
        model.tensors[prefix + part + kind] = std::move(slice);
        begin += rows;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyArchitecture(io::ModelFile& model) {
  io::ModelConfig& config = model.config;
  FAVOR_ASSIGN_OR_RETURN(const Architecture* a, FindArchitecture(config.architecture));
  config.norm = a->norm;
  config.norm_adds_one = a->norm_adds_one && !model.gguf;
  config.feed_forward = a->feed_forward;
  config.positions = a->positions;
  config.attention_bias = a->attention_bias;
  config.linear_biases = a->linear_biases;
  config.post_norms = a->post_norms;
  config.embedding_scale =
      a->scale_embeddings ? static_cast<float>(std::sqrt(static_cast<double>(config.dim))) : 1.0f;
  config.sliding_window_period = a->sliding_window_period;
  if (config.sliding_window == 0) config.sliding_window = a->default_sliding_window;
  if (model.gguf) {
    config.rotary_pairs = a->gguf_rotary_pairs;
    if (a->gguf_implicit_settings != nullptr) a->gguf_implicit_settings(config);
  }
  const int64_t q_rows = config.n_heads * config.head_dim();
  const int64_t kv_rows = config.n_kv_heads * config.head_dim();
  if (a->fused_qkv) {
    FAVOR_RETURN_IF_ERROR(SplitFused(
        model, "attn_qkv", {{"attn_q", q_rows}, {"attn_k", kv_rows}, {"attn_v", kv_rows}}));
  }
  if (a->fused_gate_up) {
    FAVOR_RETURN_IF_ERROR(SplitFused(
        model, "ffn_up", {{"ffn_gate", config.hidden_dim}, {"ffn_up", config.hidden_dim}}));
  }
  return config.Validate(model.path);
}

}  // namespace favor::models
