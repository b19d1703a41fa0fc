// Architectures against llama.cpp as the oracle: tiny random-weight GGUF models written with
// llama.cpp's gguf-py writer, and the logits llama.cpp computes for a fixed id sequence
// (tests/data/architectures: make_fixtures.py and the files it wrote). Ours must agree at every
// position within 1e-4 relative error (f32), through the whole-sequence forward pass and through
// token-by-token decoding.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/io/gguf_file.h"
#include "engine/io/model_file.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "gtest/gtest.h"
#include "models/gguf_export.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

const std::string kFixtures = std::string(FAVOR_SOURCE_DIR) + "/tests/data/architectures";

struct Reference {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> logits;  // One row per position.
};

Reference ReadReference(const std::string& path) {
  Reference reference;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // "# ids 1,15,..."
  EXPECT_EQ(line.rfind("# ids ", 0), 0u) << path;
  for (absl::string_view id : absl::StrSplit(line.substr(6), ',')) {
    int32_t value = 0;
    EXPECT_TRUE(absl::SimpleAtoi(id, &value));
    reference.ids.push_back(value);
  }
  while (std::getline(in, line)) {
    std::vector<float> row;
    for (absl::string_view number : absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
      float value = 0;
      EXPECT_TRUE(absl::SimpleAtof(number, &value));
      row.push_back(value);
    }
    reference.logits.push_back(std::move(row));
  }
  return reference;
}

// Runs `model_path` on the reference's ids under `attention`, the whole sequence at once and token
// by token, and checks every position against the reference's logits.
void ExpectAgreement(const std::string& model_path, const Reference& reference,
                     const AttentionSpec& attention = {}, double tolerance = 1e-4) {
  ASSERT_EQ(reference.logits.size(), reference.ids.size());
  auto model = Model::Load(model_path);
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t vocab = (*model)->config().vocab_size;
  const auto count = static_cast<int64_t>(reference.ids.size());

  auto whole = (*model)->Variant(attention, Logits::kAllPositions);
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto session = Session::Create(*whole, {.context = count, .threads = 2}).value();
  const auto all = session->Feed(reference.ids).value();
  ASSERT_EQ(static_cast<int64_t>(all.size()), count * vocab);

  auto last = (*model)->Variant(attention, Logits::kLastPosition);
  ASSERT_TRUE(last.ok()) << last.status();
  auto stepwise = Session::Create(*last, {.context = count, .threads = 2}).value();
  for (int64_t t = 0; t < count; ++t) {
    const std::vector<float>& expected = reference.logits[static_cast<size_t>(t)];
    ASSERT_EQ(static_cast<int64_t>(expected.size()), vocab);
    const std::vector<float> row(all.begin() + t * vocab, all.begin() + (t + 1) * vocab);
    EXPECT_LE(testing::NormalizedError(row, expected), tolerance)
        << model_path << " position " << t;
    const auto step = stepwise->Feed(std::span(&reference.ids[static_cast<size_t>(t)], 1)).value();
    const std::vector<float> decoded(step.begin(), step.end());
    EXPECT_LE(testing::NormalizedError(decoded, expected), tolerance)
        << model_path << " position " << t << " (token by token)";
  }
}

class LlamaCppLogits : public ::testing::TestWithParam<const char*> {};

TEST_P(LlamaCppLogits, EveryPositionAgreesWholeAndTokenByToken) {
  const std::string name = GetParam();
  ExpectAgreement(kFixtures + "/" + name + ".gguf",
                  ReadReference(kFixtures + "/" + name + ".logits"));
}

// FAVOR# attention runs on every family: hybrid attention whose exact window covers the whole
// sequence is exact attention, so it gives llama.cpp's logits too. Layers with a sliding window of
// their own (Phi-3's) keep it under any attention kind. Gemma 2 soft-caps its scores, which
// random features cannot do: refused by name.
TEST_P(LlamaCppLogits, HybridWithTheWholeSequenceInItsWindowIsExact) {
  const std::string name = GetParam();
  const Reference reference = ReadReference(kFixtures + "/" + name + ".logits");
  const AttentionSpec hybrid = {.kind = AttentionKind::kHybrid,
                                .features = 16,
                                .window = static_cast<int64_t>(reference.ids.size()),
                                .sinks = 0};
  if (name == "gemma2") {
    auto model = Model::Load(kFixtures + "/" + name + ".gguf").value();
    const auto refused = model->Variant(hybrid, Logits::kAllPositions);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("soft-caps its attention scores"), std::string::npos)
        << refused.status();
    return;
  }
  ExpectAgreement(kFixtures + "/" + name + ".gguf", reference, hybrid);
}

INSTANTIATE_TEST_SUITE_P(Architectures, LlamaCppLogits,
                         ::testing::Values("llama", "qwen2", "llama3", "gemma", "gemma2", "phi3",
                                           "gpt2", "phi3.5"));

// Hugging Face directories (safetensors, config.json with the transformers class, a byte-level
// tokenizer.json) against the float64 reference written from the transformers definitions
// (hf_reference.py; where the directory holds the weights of a GGUF fixture, make_fixtures.py
// checked that reference against llama.cpp's logits to 1e-5). Mistral's window and Gemma 2's own
// query scale have no GGUF twin llama.cpp would run the same way.
class HuggingFaceLogits : public ::testing::TestWithParam<const char*> {};

TEST_P(HuggingFaceLogits, EveryPositionAgreesWithTheFloat64Reference) {
  const std::string directory = kFixtures + "/" + GetParam();
  ExpectAgreement(directory, ReadReference(directory + "/reference.logits"));
}

INSTANTIATE_TEST_SUITE_P(Architectures, HuggingFaceLogits,
                         ::testing::Values("qwen2-hf", "llama3-hf", "gemma-hf", "gemma2-hf",
                                           "gemma2-scalar-hf", "phi3-hf", "mistral-hf", "gpt2-hf",
                                           "phi3.5-hf"));

// The model's own sliding window stays as it is under every attention kind: Mistral's layers are
// all local, so favor# leaves nothing to approximate and the logits are the exact ones.
// The same directories written to GGUF as favor quantize does (models/gguf_export.h: q/k rows
// permuted for the Llama family, Gemma's norms + 1, fused matrices kept fused, the byte-level
// vocabulary named by its pre-tokenizer) load as the same model: the float64 reference's logits
// again, and VerifyExport agrees. Those whose settings GGUF cannot say are refused by name.
class HuggingFaceToGguf : public ::testing::TestWithParam<const char*> {};

TEST_P(HuggingFaceToGguf, ConvertedFileGivesTheFloat64ReferencesLogits) {
  const std::string directory = kFixtures + "/" + GetParam();
  auto source = io::LoadModelFile(directory);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE(source->vocabulary.has_value());
  auto exported = models::ExportToGguf(*source, *source->vocabulary);
  ASSERT_TRUE(exported.ok()) << exported.status();
  const std::string path = ::testing::TempDir() + "/" + GetParam() + "-exported.gguf";
  ASSERT_TRUE(io::WriteGguf(path, exported->contents).ok());
  const absl::Status verified = models::VerifyExport(*source, path);
  EXPECT_TRUE(verified.ok()) << verified;
  ExpectAgreement(path, ReadReference(directory + "/reference.logits"));
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Architectures, HuggingFaceToGguf,
                         ::testing::Values("qwen2-hf", "llama3-hf", "gemma-hf", "gemma2-hf",
                                           "phi3-hf", "mistral-hf", "gpt2-hf"));

TEST(HuggingFaceToGguf, SettingsGgufCannotSayAreRefusedByName) {
  const std::pair<const char*, const char*> cases[] = {
      {"gemma2-scalar-hf", "query scale 0.204124 cannot be written to GGUF"},
      {"phi3.5-hf", "longrope scaling (Phi-3.5) cannot be written to GGUF"}};
  for (const auto& [name, message] : cases) {
    auto source = io::LoadModelFile(kFixtures + "/" + name);
    ASSERT_TRUE(source.ok()) << source.status();
    const auto exported = models::ExportToGguf(*source, *source->vocabulary);
    ASSERT_FALSE(exported.ok()) << name;
    EXPECT_NE(exported.status().message().find(message), std::string::npos) << exported.status();
  }
}

TEST(HuggingFaceLogits, SlidingWindowLayersKeepTheirWindowUnderRandomFeatures) {
  const std::string directory = kFixtures + "/mistral-hf";
  ExpectAgreement(directory, ReadReference(directory + "/reference.logits"),
                  {.kind = AttentionKind::kFavorSharp, .features = 16});
}

// Quantized GGUF files (the qwen2 fixture through llama-quantize: Q8_0, Q4_0, Q5_1) load and agree
// with llama.cpp's logits on the same file. Both engines multiply the stored blocks by activations
// quantized to 8 bits per block of 32, so agreement is limited by codes that round differently
// when the activations differ in their last bits (llama.cpp rounds its scales to f16, we keep
// f32), each a step of 1/127 of a block's largest value: this random model amplifies such steps
// (quantizing the activations alone moves its logits by 1.4e-2, the weights' Q8_0 rounding by
// 2.7e-2). Measured: at most 1.6e-2 of the largest logit (IQ4_NL: 1.4e-2). The kernels themselves
// are checked against the float64 definition in tests/kernels/quant_matmul_test.cc.
TEST(LlamaCppLogits, QuantizedFilesAgreeWithinLlamaCppsActivationQuantization) {
  const std::string dir = std::string(FAVOR_SOURCE_DIR) + "/tests/data/quantized";
  for (const char* type : {"q8_0", "q4_0", "q5_1", "iq4_nl"}) {
    const std::string name = dir + "/qwen2-" + type;
    ExpectAgreement(name + ".gguf", ReadReference(name + ".logits"), {}, 3e-2);
  }
}

}  // namespace
}  // namespace favor::runtime
