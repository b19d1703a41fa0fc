// The formats and tensor types that no file in ../shared/models exercises, written here from the
// real stories260K weights: GGUF v2 and v3 with F32, F16, BF16 and Q8_0 tensors; a sharded
// Hugging Face directory in F32, F16 and BF16 (q/k rows permuted to the halves RoPE layout, as
// Hugging Face's converter does); llama2.c's versioned exports v1 (f32) and v2 (int8 groups).
// Each must give the logits of the original file (exactly in f32; within the type's rounding).
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "engine/core/half.h"
#include "engine/io/model_file.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "gmock/gmock.h"
#include "tests/io/corrupt_files.h"
#include "tests/test_util.h"

namespace favor::io {
namespace {

using testing::NormalizedError;

const std::string kModels = favor::testing::ModelsDir();
const std::string kLlama2c = kModels + "/stories260K/stories260K.bin";
const std::string kTokenizerBin = kModels + "/stories260K/tok512.bin";

class Bytes {
 public:
  template <typename T>
  void Put(T value) {
    const size_t at = data_.size();
    data_.resize(at + sizeof(T));
    std::memcpy(data_.data() + at, &value, sizeof(T));
  }
  void PutRaw(const void* bytes, size_t count) {
    data_.append(static_cast<const char*>(bytes), count);
  }
  void Align(size_t alignment) {
    data_.resize((data_.size() + alignment - 1) / alignment * alignment, '\0');
  }
  size_t size() const { return data_.size(); }
  const std::string& str() const { return data_; }
  void WriteTo(const std::string& path) const {
    std::ofstream(path, std::ios::binary)
        .write(data_.data(), static_cast<std::streamsize>(data_.size()));
  }

 private:
  std::string data_;
};

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/favor_" + std::to_string(::getpid()) + "_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name;
}

// Values of a tensor as f32.
std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.NumElements());
}

// Encodes f32 values as `dtype` (Q8_0: blocks of 32 with an f16 scale, round to nearest).
std::string Encode(const std::vector<float>& values, DType dtype) {
  Bytes out;
  if (dtype == DType::kF32) {
    out.PutRaw(values.data(), values.size() * 4);
  } else if (dtype == DType::kF16 || dtype == DType::kBF16) {
    for (float v : values) out.Put<uint16_t>(dtype == DType::kF16 ? F32ToF16(v) : F32ToBF16(v));
  } else {
    for (size_t b = 0; b < values.size() / 32; ++b) {
      float max_abs = 0.0f;
      for (int i = 0; i < 32; ++i) max_abs = std::max(max_abs, std::fabs(values[b * 32 + i]));
      const uint16_t scale_bits = F32ToF16(max_abs / 127.0f);
      const float scale = F16ToF32(scale_bits);
      out.Put<uint16_t>(scale_bits);
      for (int i = 0; i < 32; ++i) {
        out.Put<int8_t>(
            static_cast<int8_t>(scale > 0 ? std::lround(values[b * 32 + i] / scale) : 0));
      }
    }
  }
  return out.str();
}

// Logits of the last position after a fixed prompt.
std::vector<float> Logits(const std::string& path, const runtime::LoadOptions& options = {}) {
  auto model = runtime::Model::Load(path, options);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  auto session = runtime::Session::Create(**model).value();
  const auto ids = (*model)->tokenizer().Encode("Once upon a time, Lily and Tom", true).value();
  const auto logits = session->Feed(ids).value();
  return {logits.begin(), logits.end()};
}

class FormatRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    FAVOR_REQUIRE_MODELS();
    model_ = LoadModelFile(kLlama2c).value();
    vocab_ = LoadLlama2cTokenizer(kTokenizerBin).value();
    reference_ = Logits(kLlama2c);
  }
  ModelFile model_;
  Vocabulary vocab_;
  std::vector<float> reference_;
};

// Matrices in `matrices`, except (as llama-quantize does) those whose rows are not whole blocks of
// a block type, which stay f32, unless `force_blocks`: then they make an invalid file.
std::string WriteGguf(const ModelFile& model, const Vocabulary& vocab, uint32_t version,
                      DType matrices, bool force_blocks = false) {
  const ModelConfig& c = model.config;
  Bytes b;
  auto count = [&](uint64_t n) {
    version == 1 ? b.Put<uint32_t>(static_cast<uint32_t>(n)) : b.Put<uint64_t>(n);
  };
  auto string = [&](const std::string& s) {
    count(s.size());
    b.PutRaw(s.data(), s.size());
  };
  auto kv_u32 = [&](const std::string& key, uint32_t value) {
    string(key);
    b.Put<uint32_t>(4);
    b.Put<uint32_t>(value);
  };
  auto kv_f32 = [&](const std::string& key, float value) {
    string(key);
    b.Put<uint32_t>(6);
    b.Put<float>(value);
  };
  auto kv_string = [&](const std::string& key, const std::string& value) {
    string(key);
    b.Put<uint32_t>(8);
    string(value);
  };
  b.Put<uint32_t>(0x46554747u);
  b.Put<uint32_t>(version);
  count(model.tensors.size());
  count(16);
  kv_string("general.architecture", "llama");
  kv_u32("general.alignment", 64);
  kv_u32("llama.embedding_length", static_cast<uint32_t>(c.dim));
  kv_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  kv_u32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  kv_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  kv_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  kv_u32("llama.context_length", static_cast<uint32_t>(c.max_seq_len));
  kv_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  kv_f32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  kv_string("tokenizer.ggml.model", "llama");
  string("tokenizer.ggml.tokens");
  b.Put<uint32_t>(9);
  b.Put<uint32_t>(8);
  count(vocab.pieces.size());
  for (const std::string& piece : vocab.pieces) string(piece);
  string("tokenizer.ggml.scores");
  b.Put<uint32_t>(9);
  b.Put<uint32_t>(6);
  count(vocab.scores.size());
  for (float score : vocab.scores) b.Put<float>(score);
  string("tokenizer.ggml.token_type");
  b.Put<uint32_t>(9);
  b.Put<uint32_t>(5);
  count(vocab.types.size());
  for (PieceType type : vocab.types) b.Put<int32_t>(static_cast<int32_t>(type));
  kv_u32("tokenizer.ggml.bos_token_id", 1);
  kv_u32("tokenizer.ggml.eos_token_id", 2);
  std::vector<std::string> blobs;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : model.tensors) {
    DType dtype = tensor.rank() == 2 ? matrices : DType::kF32;  // Norms stay f32, as usual.
    if (!force_blocks && tensor.dim(tensor.rank() - 1) % GetDTypeInfo(dtype).block_elements != 0) {
      dtype = DType::kF32;
    }
    string(name);
    b.Put<uint32_t>(static_cast<uint32_t>(tensor.rank()));
    for (int d = tensor.rank() - 1; d >= 0; --d) count(static_cast<uint64_t>(tensor.dim(d)));
    b.Put<uint32_t>(dtype == DType::kF32    ? 0
                    : dtype == DType::kF16  ? 1
                    : dtype == DType::kBF16 ? 30
                                            : 8);
    b.Put<uint64_t>(offset);
    blobs.push_back(Encode(Values(tensor), dtype));
    offset += (blobs.back().size() + 63) / 64 * 64;
  }
  b.Align(64);
  for (const std::string& blob : blobs) {
    b.PutRaw(blob.data(), blob.size());
    b.Align(64);
  }
  const std::string path = TempPath(
      absl::StrCat("v", version, "_", DTypeName(matrices), force_blocks ? "_forced" : "", ".gguf"));
  b.WriteTo(path);
  return path;
}

TEST_F(FormatRoundTrip, GgufVersionsAndTensorTypes) {
  FAVOR_REQUIRE_MODELS();
  for (uint32_t version : {1u, 2u, 3u}) {
    const std::string path = WriteGguf(model_, vocab_, version, DType::kF32);
    const auto file = LoadModelFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(file->format, absl::StrCat("GGUF v", version));
    EXPECT_LT(NormalizedError(Logits(path), reference_), 1e-6) << "v" << version;
  }
  // Tolerances: the logits' normalised error from rounding the weights (measured: f16 3.1e-4,
  // bf16 2.3e-3, q8_0 8.6e-3), with margin.
  const std::pair<DType, double> types[] = {
      {DType::kF16, 2e-3}, {DType::kBF16, 1.5e-2}, {DType::kQ8_0, 3e-2}};
  for (const auto& [dtype, tolerance] : types) {
    const std::string path = WriteGguf(model_, vocab_, 3, dtype);
    const double error = NormalizedError(Logits(path), reference_);
    std::printf("GGUF %s: logits normalised error %.2e\n", std::string(DTypeName(dtype)).c_str(),
                error);
    EXPECT_LT(error, tolerance) << DTypeName(dtype);
    EXPECT_GT(error, 0.0) << DTypeName(dtype) << ": the weights were not really rounded";
  }
  // ffn_down's rows hold 172 values: as Q8_0 its total is whole blocks (344) but its rows are
  // not; llama.cpp refuses such a file, and so do we (it was computed into garbage before).
  const auto forced = LoadModelFile(WriteGguf(model_, vocab_, 3, DType::kQ8_0, true));
  ASSERT_FALSE(forced.ok());
  EXPECT_THAT(std::string(forced.status().message()),
              ::testing::HasSubstr("ffn_down.weight': 172 elements per row, not a multiple of "
                                   "q8_0's block of 32"));
}

// Meta's interleaved q/k rows to Hugging Face's halves layout (the permutation of HF's
// convert_llama_weights_to_hf.py): within a head, row 2i + j moves to j * d/2 + i.
std::vector<float> PermuteToHalves(const Tensor& w, int64_t heads) {
  const int64_t rows = w.dim(0), cols = w.dim(1), d = rows / heads;
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < d / 2; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        std::memcpy(&out[static_cast<size_t>((h * d + j * d / 2 + i) * cols)],
                    w.data<float>() + (h * d + 2 * i + j) * cols, static_cast<size_t>(cols) * 4);
      }
    }
  }
  return out;
}

std::string WriteHuggingFace(const ModelFile& model, DType dtype) {
  const ModelConfig& c = model.config;
  const std::string dir = TempPath(absl::StrCat("hf_", DTypeName(dtype)));
  ::mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/config.json") << absl::StrCat(
      R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": )", c.dim,
      R"(, "intermediate_size": )", c.hidden_dim, R"(, "num_hidden_layers": )", c.n_layers,
      R"(, "num_attention_heads": )", c.n_heads, R"(, "num_key_value_heads": )", c.n_kv_heads,
      R"(, "vocab_size": )", c.vocab_size, R"(, "max_position_embeddings": )", c.max_seq_len,
      R"(, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": true,
                         "bos_token_id": 1, "eos_token_id": 2})");
  // Canonical name -> Hugging Face name.
  std::vector<std::pair<std::string, std::string>> names = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"}};
  const std::pair<const char*, const char*> parts[] = {
      {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"},
      {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},   {"attn_output", "self_attn.o_proj"},
      {"ffn_gate", "mlp.gate_proj"},    {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    for (const auto& [canonical, hf] : parts) {
      names.emplace_back(absl::StrCat("blk.", l, ".", canonical, ".weight"),
                         absl::StrCat("model.layers.", l, ".", hf, ".weight"));
    }
  }
  // Two shards, split halfway, and the index that maps names to them.
  std::string index = R"({"metadata": {}, "weight_map": {)";
  for (int shard = 0; shard < 2; ++shard) {
    const size_t begin = shard * names.size() / 2, end = (shard + 1) * names.size() / 2;
    std::string header = "{";
    std::string data;
    const std::string file = absl::StrCat("model-0000", shard + 1, "-of-00002.safetensors");
    for (size_t i = begin; i < end; ++i) {
      const Tensor& t = model.tensors.at(names[i].first);
      std::vector<float> values = Values(t);
      if (names[i].first.find("attn_q") != std::string::npos)
        values = PermuteToHalves(t, c.n_heads);
      if (names[i].first.find("attn_k") != std::string::npos)
        values = PermuteToHalves(t, c.n_kv_heads);
      const std::string blob = Encode(values, dtype);
      absl::StrAppend(&header, i > begin ? ", " : "", "\"", names[i].second, "\": {\"dtype\": \"",
                      dtype == DType::kF32   ? "F32"
                      : dtype == DType::kF16 ? "F16"
                                             : "BF16",
                      "\", \"shape\": [", t.dim(0),
                      t.rank() == 2 ? absl::StrCat(", ", t.dim(1)) : "", "], \"data_offsets\": [",
                      data.size(), ", ", data.size() + blob.size(), "]}");
      data += blob;
      absl::StrAppend(&index, i > 0 ? ", " : "", "\"", names[i].second, "\": \"", file, "\"");
    }
    header += "}";
    Bytes b;
    b.Put<uint64_t>(header.size());
    b.PutRaw(header.data(), header.size());
    b.PutRaw(data.data(), data.size());
    b.WriteTo(dir + "/" + file);
  }
  std::ofstream(dir + "/model.safetensors.index.json") << index << "}}";
  // No tokenizer.json: a SentencePiece tokenizer.model inside the directory is used.
  std::ifstream tokenizer(kModels + "/stories260K/tok512.model", std::ios::binary);
  std::ofstream(dir + "/tokenizer.model", std::ios::binary) << tokenizer.rdbuf();
  return dir;
}

TEST_F(FormatRoundTrip, ShardedHuggingFaceWithHalvesRope) {
  FAVOR_REQUIRE_MODELS();
  const std::pair<DType, double> types[] = {
      {DType::kF32, 1e-5}, {DType::kF16, 2e-3}, {DType::kBF16, 1.5e-2}};
  for (const auto& [dtype, tolerance] : types) {
    const std::string dir = WriteHuggingFace(model_, dtype);
    const auto file = LoadModelFile(dir);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(file->config.rotary_pairs, io::RotaryPairs::kHalves);
    const double error = NormalizedError(Logits(dir), reference_);
    std::printf("safetensors %s: logits normalised error %.2e\n",
                std::string(DTypeName(dtype)).c_str(), error);
    EXPECT_LT(error, tolerance) << DTypeName(dtype);
  }
  // A config that says the output head is untied, and no lm_head.weight: an error, not a
  // silent tie to the embedding.
  const std::string dir = WriteHuggingFace(model_, DType::kF32);
  std::string config = testing::ReadAll(dir + "/config.json");
  config.replace(config.find("\"tie_word_embeddings\": true"), 27,
                 "\"tie_word_embeddings\": false");
  std::ofstream(dir + "/config.json") << config;
  const auto untied = LoadModelFile(dir);
  ASSERT_FALSE(untied.ok());
  EXPECT_THAT(std::string(untied.status().message()),
              ::testing::HasSubstr("tie_word_embeddings = false but the weights have no "
                                   "lm_head.weight"));
}

std::string WriteLlama2cVersioned(const ModelFile& model, int version) {
  const ModelConfig& c = model.config;
  constexpr int64_t kGroup = 64;
  Bytes b;
  b.Put<uint32_t>(0x616b3432u);
  b.Put<int32_t>(version);
  for (int64_t v :
       {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.max_seq_len}) {
    b.Put<int32_t>(static_cast<int32_t>(v));
  }
  b.Put<uint8_t>(1);  // Shared classifier.
  if (version == 2) b.Put<int32_t>(kGroup);
  b.Align(256);
  auto f32 = [&](const std::string& name) {
    const auto values = Values(model.tensors.at(name));
    b.PutRaw(values.data(), values.size() * 4);
  };
  auto matrix = [&](const std::string& name) {
    const auto values = Values(model.tensors.at(name));
    if (version == 1) {
      b.PutRaw(values.data(), values.size() * 4);
      return;
    }
    std::vector<float> scales;
    for (size_t g = 0; g < values.size() / kGroup; ++g) {
      float max_abs = 0.0f;
      for (int64_t i = 0; i < kGroup; ++i)
        max_abs = std::max(max_abs, std::fabs(values[g * kGroup + i]));
      scales.push_back(max_abs / 127.0f);
      for (int64_t i = 0; i < kGroup; ++i) {
        b.Put<int8_t>(static_cast<int8_t>(std::lround(values[g * kGroup + i] / scales.back())));
      }
    }
    b.PutRaw(scales.data(), scales.size() * 4);
  };
  for (int64_t l = 0; l < c.n_layers; ++l) f32(absl::StrCat("blk.", l, ".attn_norm.weight"));
  for (int64_t l = 0; l < c.n_layers; ++l) f32(absl::StrCat("blk.", l, ".ffn_norm.weight"));
  f32("output_norm.weight");
  matrix("token_embd.weight");
  for (const char* part :
       {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"}) {
    for (int64_t l = 0; l < c.n_layers; ++l) matrix(absl::StrCat("blk.", l, ".", part, ".weight"));
  }
  const std::string dir = TempPath(absl::StrCat("llama2c_v", version));
  ::mkdir(dir.c_str(), 0755);
  b.WriteTo(dir + "/model.bin");
  std::ifstream tokenizer(kTokenizerBin, std::ios::binary);
  std::ofstream(dir + "/tokenizer.bin", std::ios::binary) << tokenizer.rdbuf();
  return dir + "/model.bin";
}

TEST_F(FormatRoundTrip, Llama2cVersionedExports) {
  FAVOR_REQUIRE_MODELS();
  const std::string v1 = WriteLlama2cVersioned(model_, 1);
  EXPECT_EQ(LoadModelFile(v1)->format, "llama2.c v1");
  EXPECT_LT(NormalizedError(Logits(v1), reference_), 1e-6);
  const std::string v2 = WriteLlama2cVersioned(model_, 2);
  EXPECT_EQ(LoadModelFile(v2)->format, "llama2.c v2");
  const double error = NormalizedError(Logits(v2), reference_);
  std::printf("llama2.c v2 (int8): logits normalised error %.2e\n", error);
  EXPECT_LT(error, 3e-2);  // Measured 5.5e-3.
  EXPECT_GT(error, 0.0);
}

}  // namespace
}  // namespace favor::io
