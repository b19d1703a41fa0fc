// llama.cpp's tokenizer test suite (tests/test-tokenizer-0 in its repository): for each
// vocabulary-only GGUF, every text of its .inp file must give exactly the ids of the matching line
// of its .out file (no BOS, special tokens not parsed), and decode back to the text. The files are
// llama.cpp's (MIT licence, tests/data/llama.cpp-vocab/LICENSE).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/text/tokenizer.h"
#include "gtest/gtest.h"

namespace favor::text {
namespace {

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The .inp texts are separated by "\n__ggml_vocab_test__\n"; the .out lines hold the ids.
std::vector<VocabCase> ReadCases(const std::string& stem) {
  const std::string inputs = ReadAll(stem + ".inp");
  const std::string outputs = ReadAll(stem + ".out");
  std::vector<std::string> texts;
  const std::string separator = "\n__ggml_vocab_test__\n";
  for (size_t at = 0; at < inputs.size();) {
    const size_t next = inputs.find(separator, at);
    if (next == std::string::npos) {
      texts.push_back(inputs.substr(at));
      break;
    }
    texts.push_back(inputs.substr(at, next - at));
    at = next + separator.size();
  }
  std::vector<VocabCase> cases;
  const std::vector<std::string> lines = absl::StrSplit(outputs, '\n');
  for (size_t i = 0; i < texts.size() && i < lines.size(); ++i) {
    VocabCase c{texts[i], {}};
    for (absl::string_view id : absl::StrSplit(lines[i], ' ', absl::SkipWhitespace())) {
      c.ids.push_back(std::stoi(std::string(id)));
    }
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(texts.size(), lines.size() - (lines.back().empty() ? 1 : 0)) << stem;
  return cases;
}

std::string InputsDir() { return std::string(FAVOR_SOURCE_DIR) + "/tests/data/llama.cpp-vocab"; }

std::string VocabTestName(const ::testing::TestParamInfo<const char*>& param) {
  std::string name = param.param;
  for (char& c : name) c = c == '-' ? '_' : c;
  return name;
}

// llama.cpp's vocabulary file `name` (ggml-vocab-<name>.gguf); null on failure.
std::unique_ptr<Tokenizer> LoadVocabulary(const std::string& name) {
  auto tokenizer =
      Tokenizer::FromFile(std::string(FAVOR_VOCAB_DIR) + "/ggml-vocab-" + name + ".gguf");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

class LlamaCppVocab : public ::testing::TestWithParam<const char*> {};

TEST_P(LlamaCppVocab, EveryLineGivesTheExpectedIds) {
  const std::string name = GetParam();
  const auto tokenizer = LoadVocabulary(name);
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<VocabCase> cases = ReadCases(InputsDir() + "/ggml-vocab-" + name + ".gguf");
  ASSERT_GT(cases.size(), 30u);
  for (const VocabCase& c : cases) {
    auto ids = tokenizer->Encode(c.text, EncodeOptions{});
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(absl::StrJoin(*ids, " "), absl::StrJoin(c.ids, " ")) << "text: '" << c.text << "'";
    auto text = tokenizer->Decode(*ids);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, c.text);
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, LlamaCppVocab,
                         ::testing::Values("gpt-2", "deepseek-llm", "deepseek-coder", "falcon",
                                           "starcoder", "refact", "mpt", "phi-3", "llama-spm"),
                         VocabTestName);

}  // namespace
}  // namespace favor::text

namespace favor::text {
namespace {

// A long text (14 KiB: sources, prose, the tokenizer corpus with CJK, emoji and "</s>"), long
// enough that SentencePiece vocabularies are encoded in newline-ended stretches: the ids are those
// llama-tokenize gives for the whole text, BOS included where the vocabulary adds it (made with
// llama.cpp at the commit of the other files).
class LlamaCppLongText : public ::testing::TestWithParam<const char*> {};

TEST_P(LlamaCppLongText, GivesLlamaTokenizesIds) {
  const std::string name = GetParam();
  const auto tokenizer = LoadVocabulary(name);
  ASSERT_NE(tokenizer, nullptr);
  const std::string text = ReadAll(InputsDir() + "/long-mixed.txt");
  ASSERT_GT(text.size(), 12000u);
  std::vector<int32_t> expected;
  for (absl::string_view id : absl::StrSplit(ReadAll(InputsDir() + "/long-mixed." + name + ".ids"),
                                             ' ', absl::SkipWhitespace())) {
    expected.push_back(std::stoi(std::string(id)));
  }
  // BOS as the vocabulary says, as llama-tokenize adds it.
  auto ids = tokenizer->Encode(text, EncodeOptions{.add_bos = tokenizer->add_bos()});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, expected);
  EXPECT_EQ(tokenizer->Decode(*ids).value(), text);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, LlamaCppLongText,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "deepseek-llm", "mpt"),
                         VocabTestName);

}  // namespace
}  // namespace favor::text
