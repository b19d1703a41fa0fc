// Hugging Face model directories: config.json (LlamaForCausalLM), model.safetensors or a sharded
// model.safetensors.index.json, and tokenizer.json (Llama-style BPE with byte fallback) or a
// SentencePiece tokenizer.model.
//
// safetensors: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets: [begin, end)} relative to the end of the header, then the data.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <span>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/io/byte_reader.h"
#include "engine/io/huggingface.h"
#include "engine/io/json.h"
#include "engine/io/tokenizer_json.h"

namespace favor::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100 << 20;

absl::StatusOr<Json> ReadJsonFile(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(const std::string text, ReadFileBytes(path));
  return Json::Parse(text, path);
}

using NamePair = std::pair<absl::string_view, absl::string_view>;

// How a family names its tensors and its config.json keys, where it differs from Llama's.
struct HuggingFaceNaming {
  absl::string_view layer_prefix = "model.layers.";
  // Whole-model tensors: Hugging Face's name (without .weight/.bias) -> GGUF's.
  std::span<const NamePair> globals;
  // Layer parts whose names differ from Llama's (looked up first).
  std::span<const NamePair> layer_parts;
  // Layer buffers that are not parameters (GPT-2's causal mask "attn.bias").
  std::span<const absl::string_view> ignored_parts;
  // Canonical parts stored as Conv1D weights [in, out] (GPT-2): transposed at load.
  std::span<const absl::string_view> transposed_parts;
  // config.json keys: the standard name -> the family's (GPT-2's n_embd for hidden_size).
  std::span<const NamePair> config_keys;
  // intermediate_size when config.json leaves it null: this multiple of hidden_size (GPT-2: 4).
  int64_t default_ffn_multiple = 0;
};

constexpr NamePair kLlamaGlobals[] = {
    {"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"lm_head", "output"}};
constexpr HuggingFaceNaming kLlamaNaming = {.globals = kLlamaGlobals};

// Hugging Face's names for the architectures (config.json "architectures" and "model_type") and
// GGUF's, which the engine uses; per architecture, its naming, and whether config.json's
// sliding_window applies (Qwen2's does only with use_sliding_window, refused below).
struct HuggingFaceArchitecture {
  absl::string_view model_class;
  absl::string_view model_type;
  absl::string_view name;
  const HuggingFaceNaming* naming = &kLlamaNaming;
  bool sliding_window = false;
};

// Gemma 2 norms the attention output with "post_attention_layernorm", Llama's name for the norm
// before the feed-forward, which Gemma 2 calls pre_feedforward_layernorm.
constexpr NamePair kGemma2Parts[] = {
    {"post_attention_layernorm", "post_attention_norm"},
    {"pre_feedforward_layernorm", "ffn_norm"},
    {"post_feedforward_layernorm", "post_ffw_norm"},
};
constexpr HuggingFaceNaming kGemma2Naming = {.globals = kLlamaGlobals, .layer_parts = kGemma2Parts};
// Phi-3's fused matrices, under GGUF's names (split by models::ApplyArchitecture).
constexpr NamePair kPhi3Parts[] = {
    {"self_attn.qkv_proj", "attn_qkv"},
    {"mlp.gate_up_proj", "ffn_up"},
};
constexpr HuggingFaceNaming kPhi3Naming = {.globals = kLlamaGlobals, .layer_parts = kPhi3Parts};
// GPT-2 (transformers' GPT2LMHeadModel; the "transformer." prefix is optional, as the original
// checkpoints lack it): Conv1D weights stored [in, out], its own config keys.
constexpr NamePair kGpt2Globals[] = {{"wte", "token_embd"},
                                     {"wpe", "position_embd"},
                                     {"ln_f", "output_norm"},
                                     {"lm_head", "output"}};
constexpr NamePair kGpt2Parts[] = {
    {"ln_1", "attn_norm"}, {"attn.c_attn", "attn_qkv"}, {"attn.c_proj", "attn_output"},
    {"ln_2", "ffn_norm"},  {"mlp.c_fc", "ffn_up"},      {"mlp.c_proj", "ffn_down"},
};
constexpr absl::string_view kGpt2Buffers[] = {"attn", "attn.masked"};  // attn.bias, masked_bias
constexpr absl::string_view kGpt2Conv1D[] = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"};
constexpr NamePair kGpt2ConfigKeys[] = {
    {"hidden_size", "n_embd"},         {"num_hidden_layers", "n_layer"},
    {"num_attention_heads", "n_head"}, {"max_position_embeddings", "n_positions"},
    {"intermediate_size", "n_inner"},  {"rms_norm_eps", "layer_norm_epsilon"},
};
constexpr HuggingFaceNaming kGpt2Naming = {.layer_prefix = "h.",
                                           .globals = kGpt2Globals,
                                           .layer_parts = kGpt2Parts,
                                           .ignored_parts = kGpt2Buffers,
                                           .transposed_parts = kGpt2Conv1D,
                                           .config_keys = kGpt2ConfigKeys,
                                           .default_ffn_multiple = 4};

constexpr HuggingFaceArchitecture kHuggingFaceArchitectures[] = {
    {"LlamaForCausalLM", "llama", "llama"},
    {"MistralForCausalLM", "mistral", "llama", &kLlamaNaming, /*sliding_window=*/true},
    {"Qwen2ForCausalLM", "qwen2", "qwen2"},
    {"GemmaForCausalLM", "gemma", "gemma"},
    {"Gemma2ForCausalLM", "gemma2", "gemma2", &kGemma2Naming, /*sliding_window=*/true},
    {"Phi3ForCausalLM", "phi3", "phi3", &kPhi3Naming, /*sliding_window=*/true},
    {"GPT2LMHeadModel", "gpt2", "gpt2", &kGpt2Naming},
};

// Maps Hugging Face names to the canonical GGUF-style ones, weights and biases alike (the
// decoder refuses a tensor it would not read, so a bias is never dropped silently); "" for
// buffers that are not parameters (rotary inverse frequencies, say).
std::string CanonicalName(const std::string& name, const HuggingFaceNaming& naming) {
  static const NamePair kLayerParts[] = {
      {"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"},
      {"self_attn.q_proj", "attn_q"},   {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},   {"self_attn.o_proj", "attn_output"},
      {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},
  };
  std::string base = name, suffix;
  for (absl::string_view kind : {".weight", ".bias"}) {
    if (absl::EndsWith(name, kind)) {
      base = name.substr(0, name.size() - kind.size());
      suffix = std::string(kind);
    }
  }
  if (suffix.empty()) return "";
  if (naming.layer_prefix == "h." && absl::StartsWith(base, "transformer.")) {
    base = base.substr(std::string_view("transformer.").size());  // GPT-2's optional prefix.
  }
  for (const auto& [hf, canonical] : naming.globals) {
    if (base == hf) return absl::StrCat(canonical, suffix);
  }
  if (!absl::StartsWith(base, naming.layer_prefix)) return "";
  const std::string rest = base.substr(naming.layer_prefix.size());
  const size_t dot = rest.find('.');
  int64_t layer = 0;
  if (dot == std::string::npos || !absl::SimpleAtoi(rest.substr(0, dot), &layer)) return "";
  const std::string part = rest.substr(dot + 1);
  for (const absl::string_view ignored : naming.ignored_parts) {
    if (part == ignored) return "";
  }
  for (const auto& [hf, canonical] : naming.layer_parts) {
    if (part == hf) return absl::StrCat("blk.", layer, ".", canonical, suffix);
  }
  for (const auto& [hf, canonical] : kLayerParts) {
    if (part == hf) return absl::StrCat("blk.", layer, ".", canonical, suffix);
  }
  return absl::StrCat("blk.", layer, ".", part, suffix);  // Unknown: the decoder names it.
}

bool IsConv1DWeight(const std::string& canonical, const HuggingFaceNaming& naming) {
  for (const absl::string_view part : naming.transposed_parts) {
    if (absl::EndsWith(canonical, absl::StrCat(".", part, ".weight"))) return true;
  }
  return false;
}

// A [rows, cols] matrix as [cols, rows], copied (Conv1D weights to PyTorch Linear's layout).
absl::StatusOr<Tensor> Transposed(const Tensor& matrix) {
  const int64_t rows = matrix.dim(0), cols = matrix.dim(1);
  FAVOR_ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(matrix.dtype(), Shape{cols, rows}));
  const int64_t size = ElementSize(matrix.dtype());
  if (size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot transpose a matrix of block-quantized ", matrix.DebugString()));
  }
  const auto* in = static_cast<const std::byte*>(matrix.raw_data());
  auto* to = static_cast<std::byte*>(out.mutable_raw_data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      std::memcpy(to + (c * rows + r) * size, in + (r * cols + c) * size,
                  static_cast<size_t>(size));
    }
  }
  return out;
}

absl::Status LoadSafetensorsFile(const std::string& path, ModelFile& model) {
  FAVOR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return ParseSafetensors(std::move(file), path, model);
}

}  // namespace

absl::Status ParseSafetensors(std::shared_ptr<const Storage> file, const std::string& path,
                              ModelFile& model) {
  ByteReader reader({file->data(), file->size()}, path);
  FAVOR_ASSIGN_OR_RETURN(const uint64_t header_bytes, reader.Read<uint64_t>("header length"));
  if (header_bytes > kMaxHeaderBytes || header_bytes > reader.remaining()) {
    return reader.Error(absl::StrCat("header length ", header_bytes, " exceeds the file (",
                                     file->size(), " bytes)"));
  }
  FAVOR_ASSIGN_OR_RETURN(const std::string header, reader.ReadString(header_bytes, "header"));
  FAVOR_ASSIGN_OR_RETURN(const Json json, Json::Parse(header, path));
  if (!json.is_object()) return reader.Error("header is not a JSON object");
  // The names of the architecture ParseHuggingFaceConfig chose (Llama's when called alone).
  const HuggingFaceArchitecture* found = &kHuggingFaceArchitectures[0];
  for (const auto& a : kHuggingFaceArchitectures) {
    if (a.name == model.config.architecture) {
      found = &a;
      break;
    }
  }
  const HuggingFaceNaming& naming = *found->naming;
  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_size = file->size() - data_start;
  for (const auto& [name, entry] : json.object()) {
    if (name == "__metadata__") continue;
    const std::string what = absl::StrCat(path, ": tensor '", name, "'");
    const Json* dtype_json = entry.Find("dtype");
    const Json* shape_json = entry.Find("shape");
    const Json* offsets = entry.Find("data_offsets");
    if (dtype_json == nullptr || !dtype_json->is_string() || shape_json == nullptr ||
        !shape_json->is_array() || offsets == nullptr || !offsets->is_array() ||
        offsets->array().size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": malformed header entry"));
    }
    auto known = DTypeFromSafetensors(dtype_json->string());
    if (!known.ok()) return WithContext(known.status(), what);
    const DType dtype = *known;
    std::vector<int64_t> dims;
    for (const Json& d : shape_json->array()) {
      FAVOR_ASSIGN_OR_RETURN(const int64_t dim, d.Int(absl::StrCat(what, " dimension")));
      if (dim <= 0 || dim > (int64_t{1} << 32)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": dimension ", dim));
      }
      dims.push_back(dim);
    }
    FAVOR_ASSIGN_OR_RETURN(const Shape shape,
                           Shape::Make(dims.data(), static_cast<int>(dims.size())));
    FAVOR_ASSIGN_OR_RETURN(const int64_t begin, offsets->array()[0].Int(what));
    FAVOR_ASSIGN_OR_RETURN(const int64_t end, offsets->array()[1].Int(what));
    int64_t elements = 1;
    for (int64_t d : dims) {
      if (elements > (int64_t{1} << 40) / d)
        return absl::InvalidArgumentError(absl::StrCat(what, ": too large"));
      elements *= d;
    }
    FAVOR_ASSIGN_OR_RETURN(const int64_t bytes, BytesFor(dtype, elements));
    if (begin < 0 || end < begin || static_cast<uint64_t>(end) > data_size ||
        end - begin != bytes) {
      return absl::OutOfRangeError(absl::StrCat(what, ": data offsets [", begin, ", ", end,
                                                ") do not fit ", bytes, " bytes within the ",
                                                data_size, " bytes of data"));
    }
    const std::string canonical = CanonicalName(name, naming);
    if (canonical.empty()) continue;  // e.g. rotary_emb.inv_freq: recomputed by the engine.
    FAVOR_ASSIGN_OR_RETURN(
        Tensor tensor, ViewOrCopy(file, data_start + static_cast<uint64_t>(begin), dtype, shape));
    if (IsConv1DWeight(canonical, naming)) {
      if (tensor.rank() != 2) {
        return absl::InvalidArgumentError(absl::StrCat(what,
                                                       ": a Conv1D weight must be a matrix, "
                                                       "got ",
                                                       tensor.DebugString()));
      }
      FAVOR_ASSIGN_OR_RETURN(tensor, Transposed(tensor));
    }
    if (!model.tensors.emplace(canonical, std::move(tensor)).second) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": duplicate tensor"));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::StatusOr<int64_t> RequiredInt(const Json& config, absl::string_view key,
                                    const std::string& path) {
  const Json* value = config.Find(key);
  if (value == nullptr) return absl::NotFoundError(absl::StrCat(path, ": missing '", key, "'"));
  return value->Int(absl::StrCat(path, ": '", key, "'"));
}

// An optional integer member: `fallback` when absent or null, an error when it is not an integer
// (converting an out-of-range double to an integer is undefined behaviour, so never cast).
absl::StatusOr<int64_t> OptionalInt(const Json& config, absl::string_view key, int64_t fallback,
                                    const std::string& path) {
  const Json* value = config.Find(key);
  if (value == nullptr || value->is_null()) return fallback;
  return value->Int(absl::StrCat(path, ": '", key, "'"));
}

// An optional positive finite number within [low, high]: `fallback` when absent or null.
absl::StatusOr<double> OptionalNumber(const Json& config, absl::string_view key, double fallback,
                                      double low, double high, const std::string& path) {
  const Json* value = config.Find(key);
  if (value == nullptr || value->is_null()) return fallback;
  if (!value->is_number() || !(value->number() >= low && value->number() <= high)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": '", key, "' must be a number in [", low, ", ", high, "]"));
  }
  return value->number();
}

// Longrope (Phi-3.5, "su" before it): short_factor divides the frequencies for contexts up to
// original_max_position_embeddings, long_factor beyond; rotated rows are scaled by an attention
// factor, sqrt(1 + ln(s) / ln(original)) with s = max_position_embeddings / original unless given.
// The short factors are used and the context is limited to the original one: the long factors,
// which transformers and llama.cpp switch to past it, are not applied yet.
absl::Status ReadLongRope(const Json& config, const Json& scaling, const std::string& path,
                          ModelFile& model) {
  ModelConfig& c = model.config;
  const Json* short_factors = scaling.Find("short_factor");
  const int64_t half = c.head_dim() / 2;
  if (short_factors == nullptr || !short_factors->is_array() ||
      static_cast<int64_t>(short_factors->array().size()) != half) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": longrope rope_scaling needs short_factor with ", half, " numbers (head_dim / 2)"));
  }
  FAVOR_ASSIGN_OR_RETURN(Tensor factors, Tensor::Allocate(DType::kF32, Shape{half}));
  for (int64_t i = 0; i < half; ++i) {
    const Json& value = short_factors->array()[static_cast<size_t>(i)];
    if (!value.is_number() || !(value.number() > 0.0 && value.number() < 1e6)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": short_factor[", i, "] is not a positive number"));
    }
    factors.mutable_data<float>()[i] = static_cast<float>(value.number());
  }
  FAVOR_ASSIGN_OR_RETURN(const double top_level_original,
                         OptionalNumber(config, "original_max_position_embeddings",
                                        static_cast<double>(c.max_seq_len), 1.0, 1e9, path));
  FAVOR_ASSIGN_OR_RETURN(const double original,
                         OptionalNumber(scaling, "original_max_position_embeddings",
                                        top_level_original, 1.0, 1e9, path));
  const double scale = static_cast<double>(c.max_seq_len) / original;
  const double derived = scale > 1.0 ? std::sqrt(1.0 + std::log(scale) / std::log(original)) : 1.0;
  FAVOR_ASSIGN_OR_RETURN(c.rope_attention_factor,
                         OptionalNumber(scaling, "attention_factor", derived, 0.01, 100.0, path));
  c.max_seq_len = std::min(c.max_seq_len, static_cast<int64_t>(original));
  model.tensors["rope_freqs.weight"] = std::move(factors);
  return absl::OkStatus();
}

// config.json's rope_scaling as the per-frequency divisors GGUF files carry in rope_freqs.weight
// (so both routes build alike): "linear" divides every frequency by the factor; "llama3" (Llama
// 3.1+) leaves high frequencies, divides low ones by the factor and blends in between, by
// wavelength against the original context; "longrope" above.
absl::Status ReadRopeScaling(const Json& config, const Json& scaling, const std::string& path,
                             ModelFile& model) {
  const Json* type_json = scaling.Find("rope_type");
  if (type_json == nullptr) type_json = scaling.Find("type");
  const std::string type =
      type_json != nullptr && type_json->is_string() ? type_json->string() : "";
  if (type == "default") return absl::OkStatus();
  if (type == "longrope" || type == "su") return ReadLongRope(config, scaling, path, model);
  if (type != "linear" && type != "llama3") {
    return absl::UnimplementedError(absl::StrCat(path, ": rope_scaling type '", type,
                                                 "' is not supported (linear, llama3, longrope)"));
  }
  FAVOR_ASSIGN_OR_RETURN(const double factor,
                         OptionalNumber(scaling, "factor", 0.0, 1e-6, 1e6, path));
  if (factor <= 0.0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": rope_scaling needs a 'factor'"));
  }
  const ModelConfig& c = model.config;
  const int64_t half = c.head_dim() / 2;
  FAVOR_ASSIGN_OR_RETURN(Tensor factors, Tensor::Allocate(DType::kF32, Shape{half}));
  float* out = factors.mutable_data<float>();
  for (int64_t i = 0; i < half; ++i) out[i] = static_cast<float>(factor);
  if (type == "llama3") {
    FAVOR_ASSIGN_OR_RETURN(const double low,
                           OptionalNumber(scaling, "low_freq_factor", 1.0, 1e-6, 1e6, path));
    FAVOR_ASSIGN_OR_RETURN(const double high,
                           OptionalNumber(scaling, "high_freq_factor", 4.0, 1e-6, 1e6, path));
    FAVOR_ASSIGN_OR_RETURN(
        const double original,
        OptionalNumber(scaling, "original_max_position_embeddings", 8192.0, 1.0, 1e9, path));
    if (!(high > low)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": rope_scaling needs high_freq_factor > low_freq_factor"));
    }
    for (int64_t i = 0; i < half; ++i) {
      const double frequency =
          std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim()));
      const double wavelength = 2.0 * M_PI / frequency;
      double scaled = frequency / factor;
      if (wavelength < original / high) {
        scaled = frequency;
      } else if (wavelength <= original / low) {
        const double smooth = (original / wavelength - low) / (high - low);
        scaled = (1.0 - smooth) * frequency / factor + smooth * frequency;
      }
      out[i] = static_cast<float>(frequency / scaled);
    }
  }
  model.tensors["rope_freqs.weight"] = std::move(factors);
  return absl::OkStatus();
}

std::string SupportedClasses() {
  std::string names;
  for (const auto& a : kHuggingFaceArchitectures) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", a.model_class);
  }
  return names;
}

}  // namespace

absl::Status ParseHuggingFaceConfig(const Json& config, const std::string& config_path,
                                    ModelFile& model) {
  const Json* architectures = config.Find("architectures");
  const std::string model_type =
      config.Find("model_type") != nullptr ? config.Find("model_type")->string() : "";
  const HuggingFaceArchitecture* found = nullptr;
  if (architectures != nullptr && architectures->is_array() && !architectures->array().empty()) {
    const std::string& first = architectures->array()[0].string();
    for (const auto& a : kHuggingFaceArchitectures) {
      if (a.model_class == first) found = &a;
    }
    if (found == nullptr) {
      return absl::UnimplementedError(absl::StrCat(
          config_path, ": architecture '", first, "' is not supported (", SupportedClasses(), ")"));
    }
  } else {
    for (const auto& a : kHuggingFaceArchitectures) {
      if (a.model_type == model_type) found = &a;
    }
    if (found == nullptr) {
      return absl::UnimplementedError(absl::StrCat(config_path, ": model_type '", model_type,
                                                   "' is not supported (", SupportedClasses(),
                                                   ")"));
    }
  }
  const std::string architecture(found->name);
  if (const Json* sliding = config.Find("use_sliding_window");
      sliding != nullptr && sliding->is_bool() && sliding->bool_value()) {
    // Qwen2's windows apply from max_window_layers on, a layer pattern no released model uses.
    return absl::UnimplementedError(absl::StrCat(
        config_path, ": use_sliding_window (Qwen2's per-layer windows) is not supported"));
  }
  ModelConfig& c = model.config;
  c.architecture = architecture;
  // The family's name for a standard config key (GPT-2's n_embd for hidden_size).
  const auto config_key = [&](absl::string_view standard) {
    for (const auto& [name, theirs] : found->naming->config_keys) {
      if (name == standard) return theirs;
    }
    return standard;
  };
  FAVOR_ASSIGN_OR_RETURN(c.dim, RequiredInt(config, config_key("hidden_size"), config_path));
  FAVOR_ASSIGN_OR_RETURN(c.n_layers,
                         RequiredInt(config, config_key("num_hidden_layers"), config_path));
  FAVOR_ASSIGN_OR_RETURN(c.n_heads,
                         RequiredInt(config, config_key("num_attention_heads"), config_path));
  FAVOR_ASSIGN_OR_RETURN(c.n_kv_heads,
                         OptionalInt(config, "num_key_value_heads", c.n_heads, config_path));
  if (const int64_t multiple = found->naming->default_ffn_multiple; multiple > 0) {
    FAVOR_ASSIGN_OR_RETURN(c.hidden_dim, OptionalInt(config, config_key("intermediate_size"),
                                                     multiple * c.dim, config_path));
  } else {
    FAVOR_ASSIGN_OR_RETURN(c.hidden_dim,
                           RequiredInt(config, config_key("intermediate_size"), config_path));
  }
  FAVOR_ASSIGN_OR_RETURN(c.vocab_size, RequiredInt(config, "vocab_size", config_path));
  FAVOR_ASSIGN_OR_RETURN(
      c.max_seq_len, OptionalInt(config, config_key("max_position_embeddings"), 2048, config_path));
  FAVOR_ASSIGN_OR_RETURN(const double eps, OptionalNumber(config, config_key("rms_norm_eps"), 1e-6,
                                                          1e-30, 0.5, config_path));
  c.norm_eps = static_cast<float>(eps);
  FAVOR_ASSIGN_OR_RETURN(c.attention_head_dim, OptionalInt(config, "head_dim", 0, config_path));
  FAVOR_ASSIGN_OR_RETURN(c.rope_theta,
                         OptionalNumber(config, "rope_theta", 10000.0, 1.0, 1e12, config_path));
  c.rotary_pairs = RotaryPairs::kHalves;  // Hugging Face rotates the two halves.
  if (found->sliding_window) {
    FAVOR_ASSIGN_OR_RETURN(c.sliding_window, OptionalInt(config, "sliding_window", 0, config_path));
  }
  FAVOR_ASSIGN_OR_RETURN(
      const double attention_cap,
      OptionalNumber(config, "attn_logit_softcapping", 0.0, 0.0, 1e6, config_path));
  FAVOR_ASSIGN_OR_RETURN(const double final_cap, OptionalNumber(config, "final_logit_softcapping",
                                                                0.0, 0.0, 1e6, config_path));
  c.attention_soft_cap = static_cast<float>(attention_cap);
  c.final_soft_cap = static_cast<float>(final_cap);
  // Gemma 2 scales scores by query_pre_attn_scalar^-1/2 rather than head_dim^-1/2.
  FAVOR_ASSIGN_OR_RETURN(const double query_scalar, OptionalNumber(config, "query_pre_attn_scalar",
                                                                   0.0, 0.0, 1e9, config_path));
  if (query_scalar > 0.0) c.query_scale = static_cast<float>(1.0 / std::sqrt(query_scalar));
  const Json* tie = config.Find("tie_word_embeddings");
  c.tied_embeddings = tie != nullptr && tie->is_bool() && tie->bool_value();
  FAVOR_RETURN_IF_ERROR(c.Validate(config_path));
  if (const Json* scaling = config.Find("rope_scaling");
      scaling != nullptr && !scaling->is_null()) {
    FAVOR_RETURN_IF_ERROR(ReadRopeScaling(config, *scaling, config_path, model));
  }
  for (const auto& [key, value] : config.object()) {
    if (value.is_number()) model.metadata.emplace_back(key, absl::StrCat(value.number()));
    if (value.is_string()) model.metadata.emplace_back(key, value.string());
    if (value.is_bool()) model.metadata.emplace_back(key, value.bool_value() ? "true" : "false");
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelFile> LoadHuggingFace(const std::string& directory) {
  const std::string config_path = directory + "/config.json";
  FAVOR_ASSIGN_OR_RETURN(const Json config, ReadJsonFile(config_path));
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": not a JSON object"));
  }
  ModelFile model;
  model.path = directory;
  model.format = "Hugging Face safetensors";
  FAVOR_RETURN_IF_ERROR(ParseHuggingFaceConfig(config, config_path, model));
  ModelConfig& c = model.config;

  const std::string single = directory + "/model.safetensors";
  const std::string index = directory + "/model.safetensors.index.json";
  if (IsRegularFile(single)) {
    FAVOR_RETURN_IF_ERROR(LoadSafetensorsFile(single, model));
  } else if (IsRegularFile(index)) {
    FAVOR_ASSIGN_OR_RETURN(const Json index_json, ReadJsonFile(index));
    const Json* weight_map = index_json.Find("weight_map");
    if (weight_map == nullptr || !weight_map->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(index, ": no weight_map"));
    }
    std::map<std::string, bool> shards;
    for (const auto& [name, shard] : weight_map->object()) {
      if (!shard.is_string() || shard.string().find('/') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(index, ": bad shard for '", name, "'"));
      }
      shards[shard.string()] = true;
    }
    for (const auto& [shard, unused] : shards) {
      FAVOR_RETURN_IF_ERROR(LoadSafetensorsFile(directory + "/" + shard, model));
    }
  } else {
    return absl::NotFoundError(
        absl::StrCat(directory, ": no model.safetensors or model.safetensors.index.json"));
  }
  // Tied weights are stored once; transformers may keep either name (the other is recorded in
  // __metadata__ as an alias), so a lone lm_head.weight is also the embedding.
  const bool has_embedding = model.tensors.count("token_embd.weight") > 0;
  const bool has_output = model.tensors.count("output.weight") > 0;
  if (!has_embedding && has_output && c.tied_embeddings) {
    model.tensors["token_embd.weight"] = model.tensors["output.weight"];
    model.tensors.erase("output.weight");
  }
  if (model.tensors.count("output.weight") == 0) {
    // A config that says the output head is its own matrix, and no such matrix: tying it to the
    // embedding would compute a different model than the one trained, so it is an error.
    const Json* tie = config.Find("tie_word_embeddings");
    if (tie != nullptr && tie->is_bool() && !tie->bool_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(directory,
                       ": config.json says tie_word_embeddings = false but the weights have no "
                       "lm_head.weight (the output head)"));
    }
    c.tied_embeddings = true;  // Unsaid: stored once, as transformers does for tied heads.
  }

  if (const std::string tokenizer = directory + "/tokenizer.json"; IsRegularFile(tokenizer)) {
    FAVOR_ASSIGN_OR_RETURN(model.vocabulary, LoadTokenizerJson(tokenizer));
  }
  return model;
}

}  // namespace favor::io
