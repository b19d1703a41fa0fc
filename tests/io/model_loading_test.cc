// The three formats of the real models in ../shared/models load into the same canonical form.
#include "engine/io/model_file.h"
#include "models/decoder.h"
#include "tests/test_util.h"

namespace favor::io {
namespace {

const std::string kModels = favor::testing::ModelsDir();
const std::string kGguf = kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf";
const std::string kLlama2c = kModels + "/stories260K/stories260K.bin";
const std::string kHuggingFace = kModels + "/tinystories-656K";

void ExpectStories260K(const ModelConfig& c) {
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_seq_len, 512);
  EXPECT_NEAR(c.norm_eps, 1e-5f, 1e-9f);
  EXPECT_EQ(c.rotary_pairs, io::RotaryPairs::kAdjacent);
}

TEST(ModelLoading, GgufVersion1WithItsVocabulary) {
  FAVOR_REQUIRE_MODELS();
  auto model = LoadModelFile(kGguf);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->format, "GGUF v1");
  ExpectStories260K(model->config);
  EXPECT_FALSE(model->config.tied_embeddings);  // The file carries output.weight.
  EXPECT_EQ(model->tensors.size(), 48u);
  EXPECT_TRUE(models::ValidateTensors(*model).ok());
  ASSERT_TRUE(model->vocabulary.has_value());
  EXPECT_EQ(model->vocabulary->pieces.size(), 512u);
  EXPECT_EQ(model->vocabulary->pieces[1], "<s>");
  EXPECT_EQ(model->vocabulary->types[3], PieceType::kByte);
  EXPECT_EQ(model->vocabulary->bos_id, 1);
  EXPECT_EQ(model->vocabulary->eos_id, 2);
}

TEST(ModelLoading, Llama2cLegacyCheckpoint) {
  FAVOR_REQUIRE_MODELS();
  auto model = LoadModelFile(kLlama2c);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->format, "llama2.c (legacy)");
  ExpectStories260K(model->config);
  EXPECT_TRUE(model->config.tied_embeddings);
  EXPECT_FALSE(model->vocabulary.has_value());
  EXPECT_TRUE(models::ValidateTensors(*model).ok());
}

TEST(ModelLoading, GgufAndLlama2cHoldTheSameWeights) {
  FAVOR_REQUIRE_MODELS();
  auto gguf = LoadModelFile(kGguf).value();
  auto bin = LoadModelFile(kLlama2c).value();
  for (const auto& [name, tensor] : bin.tensors) {
    ASSERT_TRUE(gguf.tensors.count(name)) << name;
    const Tensor& other = gguf.tensors.at(name);
    ASSERT_EQ(other.shape(), tensor.shape()) << name;
    EXPECT_EQ(
        std::memcmp(other.raw_data(), tensor.raw_data(), static_cast<size_t>(tensor.NumBytes())), 0)
        << name;
  }
  // The GGUF file stores the classifier separately; it equals the embedding.
  EXPECT_EQ(std::memcmp(gguf.tensors.at("output.weight").raw_data(),
                        bin.tensors.at("token_embd.weight").raw_data(), 512 * 64 * 4),
            0);
}

TEST(ModelLoading, Llama2cTokenizerBin) {
  FAVOR_REQUIRE_MODELS();
  auto vocab = LoadLlama2cTokenizer(kModels + "/stories260K/tok512.bin");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->pieces.size(), 512u);
  EXPECT_EQ(vocab->pieces[1], "<s>");
  EXPECT_EQ(vocab->types[1], PieceType::kControl);
  EXPECT_EQ(vocab->pieces[259], "\xe2\x96\x81t");  // "▁t": spaces restored to U+2581.
  // The same pieces and scores as the GGUF vocabulary.
  auto gguf = LoadModelFile(kGguf).value();
  EXPECT_EQ(vocab->pieces, gguf.vocabulary->pieces);
  EXPECT_EQ(vocab->scores, gguf.vocabulary->scores);
}

TEST(ModelLoading, HuggingFaceDirectory) {
  FAVOR_REQUIRE_MODELS();
  auto model = LoadModelFile(kHuggingFace);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.dim, 128);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.hidden_dim, 384);
  EXPECT_EQ(c.vocab_size, 2048);
  EXPECT_NEAR(c.norm_eps, 1e-6f, 1e-10f);
  EXPECT_EQ(c.rotary_pairs, io::RotaryPairs::kHalves);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(models::ValidateTensors(*model).ok());
  ASSERT_TRUE(model->vocabulary.has_value());
  EXPECT_EQ(model->vocabulary->pieces[1], "<|start_story|>");
  EXPECT_EQ(model->vocabulary->types[1], PieceType::kControl);
  EXPECT_EQ(model->vocabulary->types[0], PieceType::kUnknown);
}

}  // namespace
}  // namespace favor::io
