// Architectures against llama.cpp as the oracle: tiny random-weight GGUF models written with
// llama.cpp's gguf-py writer, and the logits llama.cpp computes for a fixed id sequence
// (tests/data/architectures: make_fixtures.py and the files it wrote). Ours must agree at every
// position within 1e-4 relative error (f32), through the whole-sequence forward pass and through
// token-by-token decoding.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "gtest/gtest.h"
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

class LlamaCppLogits : public ::testing::TestWithParam<const char*> {};

TEST_P(LlamaCppLogits, EveryPositionAgreesWholeAndTokenByToken) {
  const std::string name = GetParam();
  const Reference reference = ReadReference(kFixtures + "/" + name + ".logits");
  ASSERT_EQ(reference.logits.size(), reference.ids.size());
  auto model = Model::Load(kFixtures + "/" + name + ".gguf");
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t vocab = (*model)->config().vocab_size;
  const auto count = static_cast<int64_t>(reference.ids.size());

  auto whole = (*model)->Variant({}, Logits::kAllPositions);
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto session = Session::Create(*whole, {.context = count, .threads = 2}).value();
  const auto all = session->Feed(reference.ids).value();
  ASSERT_EQ(static_cast<int64_t>(all.size()), count * vocab);

  auto stepwise = Session::Create(**model, {.context = count, .threads = 2}).value();
  for (int64_t t = 0; t < count; ++t) {
    const std::vector<float>& expected = reference.logits[static_cast<size_t>(t)];
    ASSERT_EQ(static_cast<int64_t>(expected.size()), vocab);
    const std::vector<float> row(all.begin() + t * vocab, all.begin() + (t + 1) * vocab);
    EXPECT_LE(testing::NormalizedError(row, expected), 1e-4) << name << " position " << t;
    const auto step = stepwise->Feed(std::span(&reference.ids[static_cast<size_t>(t)], 1)).value();
    const std::vector<float> decoded(step.begin(), step.end());
    EXPECT_LE(testing::NormalizedError(decoded, expected), 1e-4)
        << name << " position " << t << " (token by token)";
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, LlamaCppLogits,
                         ::testing::Values("llama", "qwen2", "llama3"));

// FAVOR# attention runs on every family: hybrid attention whose exact window covers the whole
// sequence is exact attention, so it gives llama.cpp's logits too.
TEST_P(LlamaCppLogits, HybridWithTheWholeSequenceInItsWindowIsExact) {
  const std::string name = GetParam();
  const Reference reference = ReadReference(kFixtures + "/" + name + ".logits");
  auto model = Model::Load(kFixtures + "/" + name + ".gguf");
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t vocab = (*model)->config().vocab_size;
  const auto count = static_cast<int64_t>(reference.ids.size());
  auto hybrid = (*model)->Variant(
      {.kind = AttentionKind::kHybrid, .features = 16, .window = count, .sinks = 0},
      Logits::kAllPositions);
  ASSERT_TRUE(hybrid.ok()) << hybrid.status();
  auto session = Session::Create(*hybrid, {.context = count, .threads = 2}).value();
  const auto all = session->Feed(reference.ids).value();
  for (int64_t t = 0; t < count; ++t) {
    const std::vector<float> row(all.begin() + t * vocab, all.begin() + (t + 1) * vocab);
    EXPECT_LE(testing::NormalizedError(row, reference.logits[static_cast<size_t>(t)]), 1e-4)
        << name << " position " << t;
  }
}

// The same weights as a Hugging Face directory (safetensors, config.json with the transformers
// class, a byte-level tokenizer.json): the safetensors route agrees with llama.cpp's GGUF logits.
TEST(LlamaCppLogits, HuggingFaceDirectoryOfTheSameWeightsAgrees) {
  for (const char* name : {"qwen2", "llama3"}) {
    const Reference reference = ReadReference(kFixtures + "/" + name + ".logits");
    auto model = Model::Load(kFixtures + "/" + name + "-hf");
    ASSERT_TRUE(model.ok()) << model.status();
    const int64_t vocab = (*model)->config().vocab_size;
    const auto count = static_cast<int64_t>(reference.ids.size());
    auto whole = (*model)->Variant({}, Logits::kAllPositions).value();
    auto session = Session::Create(whole, {.context = count, .threads = 2}).value();
    const auto all = session->Feed(reference.ids).value();
    for (int64_t t = 0; t < count; ++t) {
      const std::vector<float> row(all.begin() + t * vocab, all.begin() + (t + 1) * vocab);
      EXPECT_LE(testing::NormalizedError(row, reference.logits[static_cast<size_t>(t)]), 1e-4)
          << name << " position " << t;
    }
  }
}

}  // namespace
}  // namespace favor::runtime
