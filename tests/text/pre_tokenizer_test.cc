// Pre-tokenizer steps against Hugging Face's documented behaviour: the five Split delimiter
// behaviours on its own example ("the-final--countdown" split on "-"), inversion, digits, the
// byte-level prefix space, steps applied to the pieces of the steps before, and the GGUF presets
// compiling.
#include "engine/text/pre_tokenizer.h"

#include <string>
#include <vector>

#include "engine/text/pre_tokenizer_presets.h"
#include "gtest/gtest.h"

namespace favor::text {
namespace {

using io::PreTokenizerStep;
using io::SplitBehavior;

PreTokenizerStep Split(const std::string& pattern, SplitBehavior behavior, bool regex = false,
                       bool invert = false) {
  PreTokenizerStep step;
  step.pattern = pattern;
  step.pattern_is_regex = regex;
  step.behavior = behavior;
  step.invert = invert;
  return step;
}

// The pieces as strings, a prefix space written out.
std::vector<std::string> Pieces(const std::vector<PreTokenizerStep>& steps,
                                const std::string& text) {
  auto pre = PreTokenizer::Create(steps);
  EXPECT_TRUE(pre.ok()) << pre.status();
  std::vector<std::string> pieces;
  if (!pre.ok()) return pieces;
  for (const PreToken& piece : pre->Split(text)) {
    std::string shown(piece.prefix_space ? " " : "");
    shown.append(text, piece.begin, piece.end - piece.begin);
    pieces.push_back(std::move(shown));
  }
  return pieces;
}

using Strings = std::vector<std::string>;

TEST(PreTokenizer, SplitBehavioursAsHuggingFaceDocumentsThem) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(Pieces({Split("-", SplitBehavior::kRemoved)}, text),
            (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(Pieces({Split("-", SplitBehavior::kIsolated)}, text),
            (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(Pieces({Split("-", SplitBehavior::kMergedWithPrevious)}, text),
            (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(Pieces({Split("-", SplitBehavior::kMergedWithNext)}, text),
            (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(Pieces({Split("-", SplitBehavior::kContiguous)}, text),
            (Strings{"the", "-", "final", "--", "countdown"}));
}

TEST(PreTokenizer, InvertedSplitKeepsTheMatches) {
  // Hugging Face's Whitespace pre-tokenizer: words and runs of other non-space characters.
  EXPECT_EQ(
      Pieces({Split(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, true, true)}, "Hello, world!  ok"),
      (Strings{"Hello", ",", "world", "!", "ok"}));
}

TEST(PreTokenizer, DigitsAloneOrInRuns) {
  PreTokenizerStep digits;
  digits.kind = PreTokenizerStep::Kind::kDigits;
  EXPECT_EQ(Pieces({digits}, "Call 123 now"), (Strings{"Call ", "123", " now"}));
  digits.individual_digits = true;
  EXPECT_EQ(Pieces({digits}, "Call 123 now"), (Strings{"Call ", "1", "2", "3", " now"}));
}

TEST(PreTokenizer, ByteLevelSplitAndPrefixSpace) {
  PreTokenizerStep byte_level;
  byte_level.kind = PreTokenizerStep::Kind::kByteLevel;
  byte_level.add_prefix_space = true;
  // GPT-2's split: the space goes with the word after it; trailing spaces stay apart.
  EXPECT_EQ(Pieces({byte_level}, "Hello world's  12!"),
            (Strings{" Hello", " world", "'s", " ", " 12", "!"}));
  // A text that starts with a space gets no second one.
  EXPECT_EQ(Pieces({byte_level}, " Hi"), (Strings{" Hi"}));
  byte_level.use_regex = false;
  EXPECT_EQ(Pieces({byte_level}, "Hello world"), (Strings{" Hello world"}));
}

TEST(PreTokenizer, EachStepCutsThePiecesOfTheOnesBefore) {
  PreTokenizerStep digits;
  digits.kind = PreTokenizerStep::Kind::kDigits;
  digits.individual_digits = true;
  EXPECT_EQ(Pieces({Split(" ", SplitBehavior::kRemoved), digits}, "ab12 c3"),
            (Strings{"ab", "1", "2", "c", "3"}));
}

TEST(PreTokenizer, EveryGgufPresetCompiles) {
  for (const char* name :
       {"default",     "gpt-2",  "llama-bpe", "qwen2",     "deepseek-llm", "deepseek-coder",
        "deepseek-v3", "falcon", "starcoder", "refact",    "mpt",          "gpt-neox",
        "smollm",      "olmo",   "stablelm2", "command-r", "tekken",       "chatglm-bpe",
        "bloom",       "viking", "phi-2"}) {
    auto preset = FindPreTokenizerPreset(name);
    ASSERT_TRUE(preset.ok()) << name << ": " << preset.status();
    auto pre = PreTokenizer::Create(preset->steps);
    ASSERT_TRUE(pre.ok()) << name << ": " << pre.status();
    // The pieces cover the text exactly, in order.
    const std::string text = "Hello World's 2024 caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd!\n\n  x";
    size_t at = 0;
    for (const PreToken& piece : pre->Split(text)) {
      EXPECT_EQ(piece.begin, at) << name;
      at = piece.end;
    }
    EXPECT_EQ(at, text.size()) << name;
  }
  // Tekken splits words before capitals.
  auto tekken = PreTokenizer::Create(FindPreTokenizerPreset("tekken")->steps);
  ASSERT_TRUE(tekken.ok());
  std::vector<std::string> pieces;
  const std::string camel = "camelCaseWord";
  for (const PreToken& piece : tekken->Split(camel)) {
    pieces.push_back(camel.substr(piece.begin, piece.end - piece.begin));
  }
  EXPECT_EQ(pieces, (Strings{"camel", "Case", "Word"}));
  EXPECT_FALSE(FindPreTokenizerPreset("klingon").ok());
}

}  // namespace
}  // namespace favor::text
