#include "models/gguf_export.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/io/weight_presets.h"
#include "engine/text/pre_tokenizer_presets.h"
#include "engine/text/tokenizer.h"
#include "models/architecture.h"

namespace favor::models {
namespace {

using io::GgufValue;

class Metadata {
 public:
  void String(const std::string& key, const std::string& text) {
    GgufValue v;
    v.type = io::kString;
    v.text = text;
    Add(key, std::move(v));
  }
  void Uint32(const std::string& key, int64_t value) { Integer(key, io::kUint32, value); }
  void Int32(const std::string& key, int64_t value) { Integer(key, io::kInt32, value); }
  void Bool(const std::string& key, bool value) { Integer(key, io::kBool, value ? 1 : 0); }
  void Float32(const std::string& key, double value) {
    GgufValue v;
    v.type = io::kFloat32;
    v.number = value;
    Add(key, std::move(v));
  }
  void Strings(const std::string& key, std::vector<std::string> strings) {
    GgufValue v;
    v.type = io::kArray;
    v.element_type = io::kString;
    v.array_length = strings.size();
    v.strings = std::move(strings);
    Add(key, std::move(v));
  }
  void Numbers(const std::string& key, uint32_t element_type, std::vector<double> numbers) {
    GgufValue v;
    v.type = io::kArray;
    v.element_type = element_type;
    v.array_length = numbers.size();
    v.numbers = std::move(numbers);
    Add(key, std::move(v));
  }
  std::vector<std::pair<std::string, GgufValue>> Take() { return std::move(entries_); }

 private:
  void Integer(const std::string& key, uint32_t type, int64_t value) {
    GgufValue v;
    v.type = type;
    v.is_integer = true;
    v.integer = value;
    v.number = static_cast<double>(value);
    Add(key, std::move(v));
  }
  void Add(const std::string& key, GgufValue value) {
    entries_.emplace_back(key, std::move(value));
  }

  std::vector<std::pair<std::string, GgufValue>> entries_;
};

// The model's name for general.name: the file or directory name without its extension.
std::string ModelName(const std::string& path) {
  std::string name = path;
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (const size_t slash = name.find_last_of('/'); slash != std::string::npos) {
    name = name.substr(slash + 1);
  }
  if (const size_t dot = name.find_last_of('.'); dot != std::string::npos && dot > 0) {
    name = name.substr(0, dot);
  }
  return name;
}

// Rope scaling as GGUF says it: one factor for every frequency is linear scaling (metadata);
// per-frequency factors (Llama 3's) stay a rope_freqs tensor, which llama.cpp reads for the
// Llama family only.
absl::Status WriteRopeScaling(const io::ModelFile& model, Metadata& metadata,
                              std::vector<std::string>& skipped) {
  const io::ModelConfig& c = model.config;
  const std::string a = c.architecture + ".";
  auto it = model.tensors.find("rope_freqs.weight");
  if (c.architecture == "phi3" && (it != model.tensors.end() || c.rope_attention_factor != 1.0)) {
    return absl::UnimplementedError(absl::StrCat(
        model.path,
        ": longrope scaling (Phi-3.5) cannot be written to GGUF yet (the long factors are not "
        "loaded)"));
  }
  if (it == model.tensors.end()) return absl::OkStatus();
  FAVOR_ASSIGN_OR_RETURN(const Tensor factors, io::ConvertWeights(it->second, DType::kF32, 1));
  const float* f = factors.data<float>();
  const bool linear = std::all_of(f, f + factors.NumElements(), [&](float x) { return x == f[0]; });
  if (linear) {
    metadata.String(a + "rope.scaling.type", "linear");
    metadata.Float32(a + "rope.scaling.factor", f[0]);
    skipped.push_back(it->first);
  } else if (c.architecture != "llama") {
    return absl::UnimplementedError(
        absl::StrCat(model.path, ": per-frequency rope scaling on ", c.architecture,
                     " cannot be written to GGUF (llama.cpp reads rope_freqs for llama only)"));
  }
  return absl::OkStatus();
}

void WriteHyperParameters(const io::ModelFile& model, Metadata& metadata) {
  const io::ModelConfig& c = model.config;
  const std::string a = c.architecture + ".";
  metadata.String("general.architecture", c.architecture);
  metadata.String("general.name", ModelName(model.path));
  metadata.Uint32(a + "vocab_size", c.vocab_size);
  metadata.Uint32(a + "context_length", c.max_seq_len);
  metadata.Uint32(a + "embedding_length", c.dim);
  metadata.Uint32(a + "block_count", c.n_layers);
  metadata.Uint32(a + "feed_forward_length", c.hidden_dim);
  metadata.Uint32(a + "attention.head_count", c.n_heads);
  metadata.Uint32(a + "attention.head_count_kv", c.n_kv_heads);
  metadata.Float32(a + (c.norm == io::NormKind::kLayer ? "attention.layer_norm_epsilon"
                                                       : "attention.layer_norm_rms_epsilon"),
                   c.norm_eps);
  if (c.attention_head_dim > 0) {
    metadata.Uint32(a + "attention.key_length", c.attention_head_dim);
    metadata.Uint32(a + "attention.value_length", c.attention_head_dim);
  }
  if (c.positions == io::PositionKind::kRotary) {
    metadata.Float32(a + "rope.freq_base", c.rope_theta);
    metadata.Uint32(a + "rope.dimension_count", c.head_dim());
  }
  if (c.sliding_window > 0) metadata.Uint32(a + "attention.sliding_window", c.sliding_window);
  if (c.attention_soft_cap > 0.0f) {
    metadata.Float32(a + "attn_logit_softcapping", c.attention_soft_cap);
  }
  if (c.final_soft_cap > 0.0f) metadata.Float32(a + "final_logit_softcapping", c.final_soft_cap);
}

absl::Status WriteVocabulary(const io::Vocabulary& v, Metadata& metadata,
                             std::vector<std::string>& notes) {
  const bool byte_level = v.model == io::VocabularyModel::kByteLevelBpe;
  metadata.String("tokenizer.ggml.model", byte_level ? "gpt2" : "llama");
  if (byte_level) {
    std::string name = v.pre_tokenizer_name;
    if (name.empty()) {
      const std::optional<std::string> named =
          text::NamePreTokenizer(v.pre_tokenizer, v.ignore_merges);
      if (!named.has_value()) {
        return absl::UnimplementedError(absl::StrCat(
            v.origin,
            ": its pre-tokenizer is none of those GGUF names in tokenizer.ggml.pre, so the "
            "file would tokenize differently"));
      }
      name = *named;
    }
    metadata.String("tokenizer.ggml.pre", name);
  }
  metadata.Strings("tokenizer.ggml.tokens", v.pieces);
  if (!byte_level) {
    metadata.Numbers("tokenizer.ggml.scores", io::kFloat32,
                     std::vector<double>(v.scores.begin(), v.scores.end()));
  }
  std::vector<double> types;
  types.reserve(v.types.size());
  for (const io::PieceType type : v.types) types.push_back(static_cast<double>(type));
  metadata.Numbers("tokenizer.ggml.token_type", io::kInt32, std::move(types));
  if (byte_level) {
    std::vector<std::string> merges;
    merges.reserve(v.merges.size());
    for (const auto& [left, right] : v.merges) merges.push_back(absl::StrCat(left, " ", right));
    metadata.Strings("tokenizer.ggml.merges", std::move(merges));
  }
  metadata.Uint32("tokenizer.ggml.bos_token_id", v.bos_id);
  metadata.Uint32("tokenizer.ggml.eos_token_id", v.eos_id);
  if (v.unk_id >= 0) metadata.Uint32("tokenizer.ggml.unknown_token_id", v.unk_id);
  // GGUF has two keys for further end-of-generation tokens; the tokenizer also recognises the
  // usual end-of-turn spellings by themselves.
  std::vector<int32_t> further;
  for (const int32_t id : v.end_of_generation) {
    if (id != v.eos_id && id != v.bos_id) further.push_back(id);
  }
  if (!further.empty()) metadata.Uint32("tokenizer.ggml.eot_token_id", further[0]);
  if (further.size() > 1) metadata.Uint32("tokenizer.ggml.eom_token_id", further[1]);
  if (further.size() > 2) {
    notes.push_back(absl::StrCat(further.size() - 2,
                                 " end-of-generation tokens have no GGUF key and were left out"));
  }
  if (v.add_bos.has_value()) metadata.Bool("tokenizer.ggml.add_bos_token", *v.add_bos);
  if (v.add_eos) metadata.Bool("tokenizer.ggml.add_eos_token", true);
  if (!byte_level && !v.add_dummy_prefix) metadata.Bool("tokenizer.ggml.add_space_prefix", false);
  if (!v.chat_template.empty()) metadata.String("tokenizer.chat_template", v.chat_template);
  return absl::OkStatus();
}

// Rows of every head reordered from the two halves (i, i + d/2) to adjacent pairs (2i, 2i + 1),
// or back: llama.cpp's converter permutation for the Llama family.
absl::StatusOr<Tensor> PermuteRotaryRows(const Tensor& t, int64_t heads, io::RotaryPairs to) {
  const int64_t rows = t.dim(0);
  if (heads <= 0 || rows % heads != 0 || (rows / heads) % 2 != 0 || !t.IsContiguous()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot reorder the rotary pairs of ",
                                                   t.DebugString(), " in ", heads, " heads"));
  }
  const int64_t head_dim = rows / heads, half = head_dim / 2;
  const int64_t row_bytes = t.NumBytes() / rows;
  FAVOR_ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(t.dtype(), t.shape()));
  const auto* in = static_cast<const std::byte*>(t.raw_data());
  auto* to_bytes = static_cast<std::byte*>(out.mutable_raw_data());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t adjacent = h * head_dim + 2 * i + j, halves = h * head_dim + j * half + i;
        const int64_t dst = to == io::RotaryPairs::kAdjacent ? adjacent : halves;
        const int64_t src = to == io::RotaryPairs::kAdjacent ? halves : adjacent;
        std::memcpy(to_bytes + dst * row_bytes, in + src * row_bytes,
                    static_cast<size_t>(row_bytes));
      }
    }
  }
  return out;
}

// Gemma's (1 + w) norms: llama.cpp's converter writes the 1 into the weights.
absl::StatusOr<Tensor> PlusOne(const Tensor& weights) {
  FAVOR_ASSIGN_OR_RETURN(Tensor f32, io::ConvertWeights(weights, DType::kF32, 1));
  FAVOR_ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(DType::kF32, f32.shape()));
  const float* in = f32.data<float>();
  float* to = out.mutable_data<float>();
  for (int64_t i = 0; i < f32.NumElements(); ++i) to[i] = in[i] + 1.0f;
  return out;
}

// The layer a canonical name belongs to (blk.N.), -1 for the whole-model tensors, which come
// first as in llama.cpp's files.
int64_t LayerOf(const std::string& name) {
  int64_t layer = -1;
  if (absl::StartsWith(name, "blk.")) {
    const size_t dot = name.find('.', 4);
    if (dot == std::string::npos || !absl::SimpleAtoi(name.substr(4, dot - 4), &layer)) return -1;
  }
  return layer;
}

// What the GGUF reader derives by itself for the architecture must be what the model has.
absl::Status CheckImplicitSettings(const io::ModelFile& model, const Architecture& a) {
  if (a.gguf_implicit_settings == nullptr) return absl::OkStatus();
  io::ModelConfig derived = model.config;
  derived.query_scale = 0.0f;
  a.gguf_implicit_settings(derived);
  if (model.config.query_scale != 0.0f &&
      std::fabs(derived.query_scale - model.config.query_scale) >
          1e-6f * std::fabs(model.config.query_scale)) {
    return absl::UnimplementedError(
        absl::StrCat(model.path, ": its query scale ", model.config.query_scale,
                     " cannot be written to GGUF (llama.cpp derives ", derived.query_scale, " for ",
                     model.config.architecture, " from the layer count)"));
  }
  return absl::OkStatus();
}

constexpr const char* kProbeText =
    "Once upon a time, Lily's dog ran 12345 miles!\n\n  Tabs\tand   spaces; "
    "caf\u00e9 cafe\u0301 \u00c5ngstr\u00f6m \u4f60\u597d\u4e16\u754c "
    "\u3053\u3093\u306b\u3061\u306f \u043f\u0440\u0438\u0432\u0435\u0442 "
    "\U0001f600 don't we'll I'M <s></s><|endoftext|><|im_end|> x=y+z*2; 3.14159";

// The vocabulary as a GGUF reader will see it must tokenize as the original does: what GGUF cannot
// say (a normalizer, a pre-tokenizer step of its own) shows as other ids for the probe text.
absl::Status CheckVocabularyRoundTrip(const io::Vocabulary& vocabulary,
                                      const io::GgufContents& contents) {
  io::GgufContents metadata_only;
  metadata_only.metadata = contents.metadata;
  FAVOR_ASSIGN_OR_RETURN(const std::string bytes, io::SerializeGguf(metadata_only));
  FAVOR_ASSIGN_OR_RETURN(auto storage, AlignedBuffer::Create(bytes.size()));
  std::memcpy(storage->data(), bytes.data(), bytes.size());
  FAVOR_ASSIGN_OR_RETURN(const io::Vocabulary written,
                         io::ParseGgufVocabulary(*storage, "the GGUF vocabulary"));
  FAVOR_ASSIGN_OR_RETURN(auto original, text::Tokenizer::FromVocabulary(vocabulary));
  FAVOR_ASSIGN_OR_RETURN(auto rewritten, text::Tokenizer::FromVocabulary(written));
  FAVOR_ASSIGN_OR_RETURN(const auto want, original->Encode(kProbeText, original->add_bos()));
  FAVOR_ASSIGN_OR_RETURN(const auto got, rewritten->Encode(kProbeText, rewritten->add_bos()));
  if (want != got) {
    size_t at = 0;
    while (at < want.size() && at < got.size() && want[at] == got[at]) ++at;
    return absl::UnimplementedError(
        absl::StrCat(vocabulary.origin,
                     " cannot be written to GGUF as it is: the GGUF vocabulary tokenizes a "
                     "probe text differently from token ",
                     at,
                     " on (a normalizer or pre-tokenizer GGUF has "
                     "no key for)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GgufExport> ExportToGguf(const io::ModelFile& model,
                                        const io::Vocabulary& vocabulary) {
  FAVOR_ASSIGN_OR_RETURN(const Architecture* architecture,
                         FindArchitecture(model.config.architecture));
  FAVOR_RETURN_IF_ERROR(CheckImplicitSettings(model, *architecture));
  // The config with the architecture's traits (a loader leaves them to ApplyArchitecture); the
  // tensors are the loader's, fused ones still fused as GGUF stores them.
  io::ModelFile with_traits = model;
  FAVOR_RETURN_IF_ERROR(ApplyArchitecture(with_traits));
  const io::ModelConfig& c = with_traits.config;
  GgufExport out;
  Metadata metadata;
  WriteHyperParameters(with_traits, metadata);
  std::vector<std::string> skipped;
  FAVOR_RETURN_IF_ERROR(WriteRopeScaling(model, metadata, skipped));
  FAVOR_RETURN_IF_ERROR(WriteVocabulary(vocabulary, metadata, out.notes));
  out.contents.metadata = metadata.Take();
  FAVOR_RETURN_IF_ERROR(CheckVocabularyRoundTrip(vocabulary, out.contents));
  if (c.sliding_window > 0 && c.architecture == "llama") {
    out.notes.push_back(absl::StrCat("the sliding window (", c.sliding_window,
                                     ") is written, but llama.cpp ignores it for llama models"));
  }

  const bool permute = c.positions == io::PositionKind::kRotary && !model.gguf &&
                       c.rotary_pairs != architecture->gguf_rotary_pairs;
  const bool add_one = architecture->norm_adds_one && !model.gguf;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, tensor] : model.tensors) {
    if (std::find(skipped.begin(), skipped.end(), name) != skipped.end()) continue;
    Tensor written = tensor;
    const bool query =
        absl::EndsWith(name, ".attn_q.weight") || absl::EndsWith(name, ".attn_q.bias");
    const bool key = absl::EndsWith(name, ".attn_k.weight") || absl::EndsWith(name, ".attn_k.bias");
    if (permute && absl::StrContains(name, ".attn_qkv.")) {
      return absl::UnimplementedError(
          absl::StrCat(model.path, ": '", name, "' is fused and its rotary pairs need reordering"));
    }
    if (permute && (query || key)) {
      auto permuted = PermuteRotaryRows(tensor, query ? c.n_heads : c.n_kv_heads,
                                        architecture->gguf_rotary_pairs);
      if (!permuted.ok())
        return WithContext(permuted.status(), absl::StrCat("tensor '", name, "'"));
      written = *std::move(permuted);
    }
    if (add_one && absl::EndsWith(name, "norm.weight")) {
      FAVOR_ASSIGN_OR_RETURN(written, PlusOne(tensor));
    }
    tensors.emplace_back(name, std::move(written));
  }
  std::stable_sort(tensors.begin(), tensors.end(), [](const auto& x, const auto& y) {
    return LayerOf(x.first) < LayerOf(y.first);
  });
  out.contents.tensors = std::move(tensors);
  return out;
}

namespace {

class ConfigComparison {
 public:
  template <typename T>
  void Field(const char* name, const T& source, const T& written) {
    if (!difference_.empty() || source == written) return;
    difference_ = absl::StrCat(name, " ", source, " became ", written);
  }
  const std::string& difference() const { return difference_; }

 private:
  std::string difference_;
};

std::string Describe(io::NormKind kind) { return kind == io::NormKind::kRms ? "rms" : "layer"; }
int Describe(io::FeedForwardKind kind) { return static_cast<int>(kind); }
int Describe(io::PositionKind kind) { return static_cast<int>(kind); }

// The hyper-parameters as the model computes with them; the conventions of the file (rotary
// pair order, Gemma's + 1) are in the weights, not here.
std::string FirstDifference(const io::ModelConfig& a, const io::ModelConfig& b) {
  ConfigComparison c;
  c.Field("architecture", a.architecture, b.architecture);
  c.Field("dim", a.dim, b.dim);
  c.Field("layers", a.n_layers, b.n_layers);
  c.Field("heads", a.n_heads, b.n_heads);
  c.Field("kv heads", a.n_kv_heads, b.n_kv_heads);
  c.Field("head dim", a.head_dim(), b.head_dim());
  c.Field("ffn", a.hidden_dim, b.hidden_dim);
  c.Field("vocabulary", a.vocab_size, b.vocab_size);
  c.Field("context", a.max_seq_len, b.max_seq_len);
  c.Field("query scale", a.query_scale, b.query_scale);
  c.Field("norm", Describe(a.norm), Describe(b.norm));
  c.Field("norm eps", a.norm_eps, b.norm_eps);
  c.Field("feed-forward", Describe(a.feed_forward), Describe(b.feed_forward));
  c.Field("positions", Describe(a.positions), Describe(b.positions));
  c.Field("rope theta", static_cast<float>(a.rope_theta), static_cast<float>(b.rope_theta));
  c.Field("rope attention factor", a.rope_attention_factor, b.rope_attention_factor);
  c.Field("tied output head", a.tied_embeddings, b.tied_embeddings);
  c.Field("embedding scale", a.embedding_scale, b.embedding_scale);
  c.Field("attention biases", a.attention_bias, b.attention_bias);
  c.Field("linear biases", a.linear_biases, b.linear_biases);
  c.Field("post-norms", a.post_norms, b.post_norms);
  c.Field("sliding window", a.sliding_window, b.sliding_window);
  c.Field("sliding window period", a.sliding_window_period, b.sliding_window_period);
  c.Field("attention soft cap", a.attention_soft_cap, b.attention_soft_cap);
  c.Field("final soft cap", a.final_soft_cap, b.final_soft_cap);
  return c.difference();
}

}  // namespace

absl::Status VerifyExport(const io::ModelFile& source, const std::string& written) {
  io::ModelFile expected = source;
  FAVOR_RETURN_IF_ERROR(ApplyArchitecture(expected));
  FAVOR_ASSIGN_OR_RETURN(io::ModelFile loaded, io::LoadGguf(written));
  FAVOR_RETURN_IF_ERROR(ApplyArchitecture(loaded));
  if (const std::string difference = FirstDifference(expected.config, loaded.config);
      !difference.empty()) {
    return absl::InternalError(absl::StrCat(written, " would load as another model: ", difference));
  }
  for (const auto& [name, tensor] : expected.tensors) {
    auto it = loaded.tensors.find(name);
    if (it == loaded.tensors.end() || it->second.shape() != tensor.shape()) {
      return absl::InternalError(
          absl::StrCat(written, ": tensor '", name, "' ",
                       it == loaded.tensors.end() ? "is missing" : "changed shape"));
    }
  }
  return absl::OkStatus();
}

}  // namespace favor::models
