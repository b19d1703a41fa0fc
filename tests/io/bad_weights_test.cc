// NaN and Inf in the weights of every format (and every float dtype) are refused when the model is
// built, with the tensor and the element named; a model whose activations overflow stops
// generation with an error instead of sampling garbage.
#include <unistd.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/core/half.h"
#include "engine/io/gguf_file.h"
#include "engine/io/model_file.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "tests/io/corrupt_files.h"
#include "tests/test_util.h"

namespace favor::io {
namespace {

using testing::Poke;
using testing::ReadAll;
using testing::WriteTemp;

const std::string kModels = favor::testing::ModelsDir();
const std::string kGguf = kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf";
const std::string kLlama2c = kModels + "/stories260K/stories260K.bin";
const std::string kHuggingFace = kModels + "/tinystories-656K";
constexpr size_t kLlama2cHeader = 28;  // 7 int32; token_embd.weight [512, 64] follows.
// The legacy file ends with the final norm (64 floats) and two RoPE tables the engine skips.
constexpr size_t kLlama2cRopeTables = 2 * 512 * 4 * 4;

void ExpectRefused(const std::string& path, const std::string& needle) {
  auto model = runtime::Model::Load(path, {.tokenizer_path = kModels + "/stories260K/tok512.bin"});
  ASSERT_FALSE(model.ok()) << path << " loaded although it holds a NaN or Inf";
  EXPECT_EQ(model.status().code(), absl::StatusCode::kDataLoss) << model.status();
  EXPECT_NE(model.status().message().find(needle), absl::string_view::npos) << model.status();
}

TEST(BadWeights, NanAndInfInLlama2cAndGgufFilesAreRefusedByName) {
  FAVOR_REQUIRE_MODELS();
  const std::string llama2c = ReadAll(kLlama2c);
  std::string bytes = llama2c;
  Poke(bytes, kLlama2cHeader + 4 * (3 * 64 + 5), std::numeric_limits<float>::quiet_NaN());
  ExpectRefused(WriteTemp("nan.bin", bytes),
                "tensor 'token_embd.weight' holds a NaN or Inf at element 197 (row 3, column 5)");
  bytes = llama2c;
  Poke(bytes, bytes.size() - kLlama2cRopeTables - 4, -std::numeric_limits<float>::infinity());
  ExpectRefused(WriteTemp("inf.bin", bytes),
                "tensor 'output_norm.weight' holds a NaN or Inf at element 63");
  // The GGUF file holds the same weights: its embedding is found by its first values.
  std::string gguf = ReadAll(kGguf);
  const size_t embedding = gguf.find(llama2c.substr(kLlama2cHeader, 64));
  ASSERT_NE(embedding, std::string::npos);
  Poke(gguf, embedding + 4 * 1000, std::numeric_limits<float>::infinity());
  ExpectRefused(
      WriteTemp("inf.gguf", gguf),
      "tensor 'token_embd.weight' holds a NaN or Inf at element 1000 (row 15, column 40)");
}

TEST(BadWeights, NanInASafetensorsFileIsRefused) {
  FAVOR_REQUIRE_MODELS();
  const std::string dir =
      ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_bad_weights_hf";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  for (const char* f : {"config.json", "tokenizer.json"}) {
    std::ofstream(dir + "/" + f, std::ios::binary) << ReadAll(kHuggingFace + "/" + f);
  }
  std::string weights = ReadAll(kHuggingFace + "/model.safetensors");
  Poke(weights, weights.size() - 4, std::numeric_limits<float>::quiet_NaN());
  std::ofstream(dir + "/model.safetensors", std::ios::binary) << weights;
  auto model = runtime::Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("holds a NaN or Inf"), absl::string_view::npos)
      << model.status();
}

TEST(BadWeights, EveryFloatTypeIsChecked) {
  auto check = [](DType dtype, uint16_t bits) {
    ModelFile file;
    file.path = "in-memory";
    Tensor tensor = Tensor::Allocate(dtype, Shape{3, 5}).value();
    static_cast<uint16_t*>(tensor.mutable_raw_data())[7] = bits;
    file.tensors.emplace("blk.0.ffn_up.weight", tensor);
    return CheckWeightsFinite(file);
  };
  EXPECT_TRUE(check(DType::kF16, F32ToF16(65504.0f)).ok());  // Largest finite f16.
  EXPECT_FALSE(check(DType::kF16, 0x7c00).ok());             // +Inf.
  EXPECT_FALSE(check(DType::kF16, 0xfe01).ok());             // NaN.
  EXPECT_TRUE(check(DType::kBF16, 0x7f7f).ok());             // Largest finite bf16.
  EXPECT_FALSE(check(DType::kBF16, 0xff80).ok());            // -Inf.
  const absl::Status nan = check(DType::kBF16, 0x7fc0);
  EXPECT_NE(nan.message().find("'blk.0.ffn_up.weight' holds a NaN or Inf at element 7 (row 1, "
                               "column 2)"),
            absl::string_view::npos)
      << nan;
  // Rows longer than the scan's block, the bad value in the last one.
  ModelFile file;
  Tensor big = Tensor::Allocate(DType::kF32, Shape{3, 5000}).value();
  big.mutable_data<float>()[14999] = std::numeric_limits<float>::infinity();
  file.tensors.emplace("output.weight", big);
  EXPECT_NE(CheckWeightsFinite(file).message().find("element 14999 (row 2, column 4999)"),
            absl::string_view::npos);
}

TEST(BadWeights, OverflowingActivationsStopGenerationWithAnError) {
  FAVOR_REQUIRE_MODELS();
  // Finite but huge weights: the logits overflow to Inf, which must not be sampled from.
  std::string bytes = ReadAll(kLlama2c);
  const size_t norm = bytes.size() - kLlama2cRopeTables - 4 * 64;  // The final RMSNorm weight.
  for (int i = 0; i < 64; ++i) Poke(bytes, norm + 4 * static_cast<size_t>(i), 3e38f);
  auto model = runtime::Model::Load(WriteTemp("huge.bin", bytes),
                                    {.tokenizer_path = kModels + "/stories260K/tok512.bin"});
  ASSERT_TRUE(model.ok()) << model.status();
  auto session = runtime::Session::Create(**model).value();
  const std::vector<int32_t> prompt = {1};
  auto result = runtime::Generate(*session, (*model)->tokenizer(), prompt, {}, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(result.status().message().find("non-finite logit"), absl::string_view::npos)
      << result.status();
}

}  // namespace
}  // namespace favor::io

namespace favor::io {
namespace {

// A quantized tensor whose block scale is a NaN (the f16 0x7e00 poked into one block of the Q4_0
// or IQ4_NL fixture: both have 18-byte blocks with the scale first) is refused at load, naming the
// tensor and the block's first element.
TEST(BadWeights, ANanScaleInAQuantizedTensorIsRefusedByName) {
  for (const auto& [type, dtype] : {std::pair{"q4_0", DType::kQ4_0}, {"iq4_nl", DType::kIQ4_NL}}) {
    SCOPED_TRACE(type);
    const std::string fixture =
        std::string(FAVOR_SOURCE_DIR) + "/tests/data/quantized/qwen2-" + type + ".gguf";
    auto contents = ReadGgufContents(fixture);
    ASSERT_TRUE(contents.ok()) << contents.status();
    std::string bytes = ReadAll(fixture);
    for (const auto& [name, tensor] : contents->tensors) {
      if (name != "blk.1.attn_v.weight") continue;
      ASSERT_EQ(tensor.dtype(), dtype);
      // Its data is found by content: the first 8 blocks are unique in the file.
      const std::string head(static_cast<const char*>(tensor.raw_data()), 8 * 18);
      const size_t at = bytes.find(head);
      ASSERT_NE(at, std::string::npos);
      bytes[at + 3 * 18] = static_cast<char>(0x00);  // Block 3's scale, little-endian 0x7e00.
      bytes[at + 3 * 18 + 1] = static_cast<char>(0x7e);
    }
    auto model = runtime::Model::Load(WriteTemp(std::string("nan-scale-") + type + ".gguf", bytes));
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), absl::StatusCode::kDataLoss) << model.status();
    EXPECT_NE(model.status().message().find("tensor 'blk.1.attn_v.weight' holds a NaN or Inf at "
                                            "element 96"),
              absl::string_view::npos)
        << model.status();
  }
}

}  // namespace
}  // namespace favor::io
