// Every loader on corrupted copies of the real models: truncated at many points, wrong magic, bad
// versions, absurd dimensions, data past the end, missing tensors, unsupported types, mismatched
// tokenizers. Each must be a clear error; none may crash (the ASan build runs this too).
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "engine/io/huggingface.h"
#include "engine/io/json.h"
#include "engine/io/model_file.h"
#include "engine/runtime/model.h"
#include "tests/io/corrupt_files.h"
#include "tests/test_util.h"

namespace favor::io {
namespace {

const std::string kModels = favor::testing::ModelsDir();
const std::string kGguf = kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf";
const std::string kLlama2c = kModels + "/stories260K/stories260K.bin";
const std::string kHuggingFace = kModels + "/tinystories-656K";

using testing::Poke;
using testing::ReadAll;
using testing::WriteTemp;

// Offset just after a GGUF v1 tensor name (its rank field).
size_t AfterTensorName(const std::string& bytes, const std::string& name) {
  const size_t at = bytes.find(name);
  EXPECT_NE(at, std::string::npos);
  return at + name.size();
}

void ExpectError(const absl::StatusOr<ModelFile>& model, const std::string& needle) {
  ASSERT_FALSE(model.ok()) << "loaded although corrupt; expected: " << needle;
  EXPECT_NE(model.status().message().find(needle), absl::string_view::npos) << model.status();
}

TEST(BadInput, TruncatedGgufAtEveryPointIsAnError) {
  FAVOR_REQUIRE_MODELS();
  const std::string bytes = ReadAll(kGguf);
  std::vector<size_t> cuts = {0, 3, 4, 7, 8, 12, 15, 16, 40, 300, 5000, 11449, 11450};
  for (size_t step = 1; step < 25; ++step) cuts.push_back(bytes.size() * step / 25);
  cuts.push_back(bytes.size() - 1);
  for (size_t cut : cuts) {
    const auto model = LoadModelFile(WriteTemp("truncated.gguf", bytes.substr(0, cut)));
    EXPECT_FALSE(model.ok()) << "cut at " << cut;
  }
  ExpectError(LoadGguf(WriteTemp("t.gguf", bytes.substr(0, 1000))), "truncated");
  ExpectError(LoadGguf(WriteTemp("t.gguf", bytes.substr(0, bytes.size() - 1))),
              "is past the end of the file");
}

TEST(BadInput, GgufHeaderCorruption) {
  FAVOR_REQUIRE_MODELS();
  const std::string good = ReadAll(kGguf);
  std::string bytes = good;
  Poke<uint32_t>(bytes, 4, 99);
  ExpectError(LoadGguf(WriteTemp("v.gguf", bytes)), "unsupported GGUF version 99");
  bytes = good;
  bytes[0] = 'X';
  ExpectError(LoadGguf(WriteTemp("m.gguf", bytes)), "not a GGUF file");
  bytes = good;
  Poke<uint32_t>(bytes, 8, 0xfffffff0u);  // Tensor count.
  ExpectError(LoadGguf(WriteTemp("c.gguf", bytes)), "absurd counts");
  // An absurd dimension: refused before anything is allocated for it.
  bytes = good;
  const size_t rank_at = AfterTensorName(bytes, "token_embd.weight");
  Poke<uint32_t>(bytes, rank_at + 4, 0xffffffffu);
  ExpectError(LoadGguf(WriteTemp("d.gguf", bytes)), "too many elements");
  Poke<uint32_t>(bytes, rank_at + 4, 0x100000u);
  ExpectError(LoadGguf(WriteTemp("d2.gguf", bytes)), "past the end of the file");
  bytes = good;
  Poke<uint32_t>(bytes, rank_at, 9);  // Rank 9.
  ExpectError(LoadGguf(WriteTemp("r.gguf", bytes)), "has rank 9");
  // Tensor data beyond the end of the file.
  bytes = good;
  Poke<uint64_t>(bytes, rank_at + 4 + 8 + 4, uint64_t{1} << 40);
  ExpectError(LoadGguf(WriteTemp("o.gguf", bytes)), "past the end of the file");
  // An unsupported tensor type.
  bytes = good;
  Poke<uint32_t>(bytes, rank_at + 4 + 8, 16);  // IQ2_XXS.
  ExpectError(LoadGguf(WriteTemp("q.gguf", bytes)), "unsupported GGML type 16");
  // A misshapen tensor: blk.0.attn_q.weight declared [32, 64] instead of [64, 64] (the data still
  // fits in the file): the file loads, the model refuses it by name.
  bytes = good;
  const size_t q_rank_at = AfterTensorName(bytes, "blk.0.attn_q.weight");
  Poke<uint32_t>(bytes, q_rank_at + 8, 32);
  auto misshapen = runtime::Model::Load(WriteTemp("shape.gguf", bytes));
  ASSERT_FALSE(misshapen.ok());
  EXPECT_NE(misshapen.status().message().find(
                "tensor 'blk.0.attn_q.weight' is f32[32, 64], expected shape [64, 64]"),
            absl::string_view::npos)
      << misshapen.status();
  // Another tensor's name: one is missing and one duplicated.
  bytes = good;
  const size_t name_at = bytes.find("blk.0.attn_k.weight");
  bytes.replace(name_at, 19, "blk.0.attn_q.weight");
  ExpectError(LoadGguf(WriteTemp("dup.gguf", bytes)), "duplicate tensor name");
  // The architecture is not one we know (its metadata renamed consistently).
  bytes = good;
  bytes.replace(bytes.find("llama"), 5, "gpt99");
  for (size_t at = bytes.find("llama."); at != std::string::npos; at = bytes.find("llama.", at)) {
    bytes.replace(at, 6, "gpt99.");
  }
  auto unknown = runtime::Model::Load(WriteTemp("arch.gguf", bytes));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("architecture 'gpt99' is not supported (supported: "
                                            "llama, qwen2, gemma, gemma2, phi3, gpt2)"),
            absl::string_view::npos)
      << unknown.status();
  bytes.replace(bytes.find("gpt99.embedding_length"), 22, "gpt99.embedding_lengtX");
  ExpectError(LoadGguf(WriteTemp("meta.gguf", bytes)), "missing metadata 'gpt99.embedding_length'");
}

TEST(BadInput, TruncatedAndAbsurdLlama2cCheckpoints) {
  FAVOR_REQUIRE_MODELS();
  const std::string good = ReadAll(kLlama2c);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{27}, size_t{28}, size_t{1000}, good.size() / 2,
                     good.size() - 16385, good.size() - 1}) {
    const auto model = LoadModelFile(WriteTemp("t.bin", good.substr(0, cut)));
    EXPECT_FALSE(model.ok()) << "cut at " << cut;
  }
  ExpectError(LoadLlama2c(WriteTemp("t.bin", good.substr(0, good.size() / 2))), "truncated");
  std::string bytes = good;
  Poke<int32_t>(bytes, 0, 1 << 30);  // dim
  ExpectError(LoadLlama2c(WriteTemp("dim.bin", bytes)), "invalid model header: dim = 1073741824");
  bytes = good;
  Poke<int32_t>(bytes, 8, -3);  // layers
  ExpectError(LoadLlama2c(WriteTemp("layers.bin", bytes)), "invalid model header: layers = -3");
  bytes = good;
  Poke<int32_t>(bytes, 16, 3);  // kv heads not dividing heads
  ExpectError(LoadLlama2c(WriteTemp("kv.bin", bytes)), "kv heads = 3");
  bytes = good;
  Poke<int32_t>(bytes, 4, 100000);  // hidden dim: the weights would be far larger than the file.
  ExpectError(LoadLlama2c(WriteTemp("ffn.bin", bytes)), "truncated");
}

TEST(BadInput, MismatchedTokenizerVocabulary) {
  FAVOR_REQUIRE_MODELS();
  // tok512.bin cut after 300 tokens: a valid tokenizer, but not this model's.
  const std::string bytes = ReadAll(kModels + "/stories260K/tok512.bin");
  size_t offset = 4;
  for (int i = 0; i < 300; ++i) {
    int32_t length;
    std::memcpy(&length, bytes.data() + offset + 4, 4);
    offset += 8 + static_cast<size_t>(length);
  }
  const std::string short_tokenizer = WriteTemp("tok300.bin", bytes.substr(0, offset));
  auto model = runtime::Model::Load(kLlama2c, {.tokenizer_path = short_tokenizer});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("has 300 tokens but the model has 512"),
            absl::string_view::npos)
      << model.status();
}

// Copies a Hugging Face model directory (the real tinystories-656K by default) to a temporary
// directory with one file replaced.
std::string HuggingFaceCopy(const std::string& name, const std::string& file,
                            const std::string& bytes, const std::string& source = kHuggingFace) {
  const std::string dir = testing::UniqueTempPath(name);
  ::mkdir(dir.c_str(), 0755);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    std::ofstream(dir + "/" + f, std::ios::binary) << ReadAll(source + "/" + f);
  }
  std::ofstream(dir + "/" + file, std::ios::binary) << bytes;
  return dir;
}

// The families' own ways to be wrong, on the architecture fixtures: a fused matrix of the wrong
// size, a missing learned-position table, RoPE scaling and window schemes the engine does not
// run. Each error names the tensor or the setting.
TEST(BadInput, FamilySpecificFilesAreRefusedByName) {
  const std::string fixtures = std::string(FAVOR_SOURCE_DIR) + "/tests/data/architectures";
  const std::string phi3 = fixtures + "/phi3-hf";
  std::string config = ReadAll(phi3 + "/config.json");
  std::string changed = config;
  const std::string kv_heads = "\"num_key_value_heads\": 2";
  ASSERT_NE(changed.find(kv_heads), std::string::npos);
  changed.replace(changed.find(kv_heads), kv_heads.size(), "\"num_key_value_heads\": 1");
  auto fused = runtime::Model::Load(HuggingFaceCopy("phi3_kv", "config.json", changed, phi3));
  ASSERT_FALSE(fused.ok());
  EXPECT_NE(fused.status().message().find("tensor 'blk.0.attn_qkv.weight' is"), std::string::npos)
      << fused.status();
  EXPECT_NE(fused.status().message().find("expected 96 rows"), std::string::npos) << fused.status();
  const std::string window = "\"sliding_window\": 6";
  ASSERT_NE(config.find(window), std::string::npos);
  changed = config;
  changed.replace(changed.find(window), window.size(),
                  "\"sliding_window\": 6, \"rope_scaling\": {\"type\": \"dynamic\", "
                  "\"factor\": 2}");
  ExpectError(LoadModelFile(HuggingFaceCopy("phi3_dynamic", "config.json", changed, phi3)),
              "rope_scaling type 'dynamic' is not supported (linear, llama3, longrope)");
  changed = config;
  changed.replace(changed.find(window), window.size(),
                  "\"sliding_window\": 6, \"rope_scaling\": {\"type\": \"longrope\", "
                  "\"long_factor\": [1], \"short_factor\": [1]}");
  ExpectError(LoadModelFile(HuggingFaceCopy("phi3_longrope", "config.json", changed, phi3)),
              "longrope rope_scaling needs short_factor with 8 numbers (head_dim / 2)");

  const std::string qwen2 = fixtures + "/qwen2-hf";
  config = ReadAll(qwen2 + "/config.json");
  changed = config;
  changed.replace(changed.find('{'), 1, "{\"use_sliding_window\": true, ");
  ExpectError(LoadModelFile(HuggingFaceCopy("qwen2_window", "config.json", changed, qwen2)),
              "use_sliding_window");

  const std::string gpt2 = fixtures + "/gpt2-hf";
  std::string weights = ReadAll(gpt2 + "/model.safetensors");
  ASSERT_NE(weights.find("transformer.wpe"), std::string::npos);
  weights.replace(weights.find("transformer.wpe"), 15, "transformer.wpx");
  auto positions =
      runtime::Model::Load(HuggingFaceCopy("gpt2_wpe", "model.safetensors", weights, gpt2));
  ASSERT_FALSE(positions.ok());
  EXPECT_NE(positions.status().message().find("missing tensor 'position_embd.weight'"),
            std::string::npos)
      << positions.status();
}

TEST(BadInput, HuggingFaceDirectories) {
  FAVOR_REQUIRE_MODELS();
  const std::string config = ReadAll(kHuggingFace + "/config.json");
  const std::string weights = ReadAll(kHuggingFace + "/model.safetensors");
  std::string changed = config;
  changed.replace(changed.find("LlamaForCausalLM"), 16, "GPT2LMHeadModel!");
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_arch", "config.json", changed)),
              "architecture 'GPT2LMHeadModel!' is not supported");
  // RoPE scaling the engine cannot apply is refused by name (linear and llama3 are supported).
  const std::string no_scaling = "\"rope_scaling\": null";
  ASSERT_NE(config.find(no_scaling), std::string::npos);
  changed = config;
  changed.replace(changed.find(no_scaling), no_scaling.size(),
                  "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}");
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_yarn", "config.json", changed)),
              "rope_scaling type 'yarn' is not supported (linear, llama3, longrope)");
  changed = config;
  changed.replace(changed.find(no_scaling), no_scaling.size(),
                  "\"rope_scaling\": {\"rope_type\": \"llama3\"}");
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_nofactor", "config.json", changed)),
              "rope_scaling needs a 'factor'");
  changed = config;
  changed.replace(changed.find("\"hidden_size\""), 13, "\"hidden_sixe\"");
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_dim", "config.json", changed)),
              "missing 'hidden_size'");
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_json", "config.json", config.substr(0, 100))),
              "invalid JSON");
  // A renamed tensor: one the model needs is missing.
  changed = weights;
  changed.replace(changed.find("model.layers.1.mlp.up_proj"), 26, "model.layers.1.mlp.xx_proj");
  auto missing = runtime::Model::Load(HuggingFaceCopy("hf_missing", "model.safetensors", changed));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing tensor 'blk.1.ffn_up.weight'"),
            absl::string_view::npos)
      << missing.status();
  // An unsupported dtype, a truncated data section, a header longer than the file.
  changed = weights;
  changed.replace(changed.find("\"F32\""), 5, "\"I64\"");
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_dtype", "model.safetensors", changed)),
              "unsupported dtype I64");
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_trunc", "model.safetensors",
                                            weights.substr(0, weights.size() - 100))),
              "do not fit");
  changed = weights;
  Poke<uint64_t>(changed, 0, uint64_t{1} << 50);
  ExpectError(LoadModelFile(HuggingFaceCopy("hf_header", "model.safetensors", changed)),
              "header length");
}

}  // namespace
}  // namespace favor::io

namespace favor::io {
namespace {

// config.json numbers are checked before any conversion: casting a double beyond the target's
// range (1e300 to int64 or float) is undefined behaviour, which UBSan would report.
TEST(BadInput, HuggingFaceConfigNumbersAreRangeChecked) {
  const std::string base =
      R"("architectures": ["LlamaForCausalLM"], "hidden_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 8, "intermediate_size": 384, "vocab_size": 2048)";
  auto parse = [&](const std::string& extra) {
    const Json config = Json::Parse("{" + base + ", " + extra + "}", "config.json").value();
    ModelFile model;
    return ParseHuggingFaceConfig(config, "config.json", model);
  };
  EXPECT_TRUE(parse(R"("num_key_value_heads": 4)").ok());
  EXPECT_NE(parse(R"("num_key_value_heads": 1e300)").message().find("'num_key_value_heads'"),
            absl::string_view::npos);
  EXPECT_NE(parse(R"("max_position_embeddings": -1e300)").message().find("max_position_embeddings"),
            absl::string_view::npos);
  EXPECT_NE(parse(R"("rms_norm_eps": 1e300)").message().find("'rms_norm_eps' must be a number in"),
            absl::string_view::npos);
  EXPECT_NE(parse(R"("rope_theta": "fast")").message().find("'rope_theta' must be a number"),
            absl::string_view::npos);
  EXPECT_NE(parse(R"("num_key_value_heads": 3)").message().find("kv heads = 3"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace favor::io
