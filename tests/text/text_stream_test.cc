// TextStream: the streamed pieces after a prompt, concatenated, equal the decoding of the whole
// sequence minus that of the prompt, for every vocabulary route and every kind of prompt end
// (a word, a space, punctuation, a multi-byte character), with continuations that split a
// character over byte tokens. The first generated word keeps its leading space.
#include "engine/text/text_stream.h"

#include <random>

#include "absl/strings/match.h"

#include "engine/io/huggingface.h"
#include "engine/io/model_file.h"
#include "engine/text/tokenizer.h"
#include "tests/test_util.h"

namespace favor::text {
namespace {

const std::string kModels = favor::testing::ModelsDir();

struct Route {
  std::string name;
  std::unique_ptr<Tokenizer> tokenizer;
};

std::vector<Route> AllRoutes() {
  std::vector<Route> routes;
  routes.push_back(
      {"tok512.model",
       Tokenizer::FromSentencePieceFile(kModels + "/stories260K/tok512.model").value()});
  routes.push_back(
      {"tok512.bin", Tokenizer::FromFile(kModels + "/stories260K/tok512.bin").value()});
  auto gguf = io::LoadModelFile(kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf").value();
  routes.push_back({"gguf", Tokenizer::FromVocabulary(*gguf.vocabulary).value()});
  routes.push_back({"tokenizer.json",
                    Tokenizer::FromFile(kModels + "/tinystories-656K/tokenizer.json").value()});
  // Byte-level BPE: an emoji or an accented letter is several byte tokens, held back until whole.
  for (const char* vocab : {"gpt-2", "deepseek-coder"}) {
    routes.push_back(
        {vocab, Tokenizer::FromFile(std::string(FAVOR_VOCAB_DIR) + "/ggml-vocab-" + vocab + ".gguf")
                    .value()});
  }
  return routes;
}

const std::vector<std::string> kPrompts = {
    "Lily went to the",   // A word.
    "The dog ",           // A space.
    "She said, \"Hi!\"",  // Punctuation.
    "Caf\xc3\xa9",        // A multi-byte character (byte fallback where the vocabulary lacks it).
    "",                   // BOS alone.
};
const std::vector<std::string> kContinuations = {
    " park with her mom.",
    "lived in a house.",
    " \xf0\x9f\x99\x82 ok",
    "\n\nThe end.",
    "  two  ",
    " \xe6\x88\x91\xe7\x88\xb1 \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 na\xc3\xafve"};

// Streams `generated` after `prompt` and returns what the stream handed out, flush included.
std::string Stream(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                   const std::vector<int32_t>& generated) {
  TextStream stream(tokenizer, prompt);
  std::string text;
  for (int32_t id : generated) text += stream.Push(id).value();
  text += stream.Flush().value();
  EXPECT_EQ(stream.text(), text);
  return text;
}

void ExpectInvariant(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                     const std::vector<int32_t>& generated, const std::string& what) {
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string whole = tokenizer.Decode(all).value();
  const std::string prompt_text = tokenizer.Decode(prompt).value();
  EXPECT_EQ(prompt_text + Stream(tokenizer, prompt, generated), whole) << what;
}

TEST(TextStream, PromptPlusStreamIsTheWholeDecodingOnEveryRoute) {
  FAVOR_REQUIRE_MODELS();
  for (const Route& route : AllRoutes()) {
    for (const std::string& prompt : kPrompts) {
      for (const std::string& continuation : kContinuations) {
        const auto prompt_ids = route.tokenizer->Encode(prompt, true).value();
        // The continuation as the model would produce it: its own tokens, without BOS.
        const auto generated = route.tokenizer->Encode(continuation, false).value();
        ExpectInvariant(*route.tokenizer, prompt_ids, generated,
                        route.name + ": '" + prompt + "' + '" + continuation + "'");
      }
    }
  }
}

TEST(TextStream, RandomTokenSequencesKeepTheInvariant) {
  FAVOR_REQUIRE_MODELS();
  // Any ids at all, byte tokens and control tokens included, as a sampler could produce them.
  std::mt19937 rng(7);
  for (const Route& route : AllRoutes()) {
    const int32_t n = route.tokenizer->vocab_size();
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<int32_t> prompt = {route.tokenizer->bos_id()};
      std::vector<int32_t> generated;
      for (int i = 0; i < trial % 4; ++i) prompt.push_back(static_cast<int32_t>(rng() % n));
      for (int i = 0; i < 1 + trial % 13; ++i) generated.push_back(static_cast<int32_t>(rng() % n));
      ExpectInvariant(*route.tokenizer, prompt, generated,
                      route.name + " trial " + std::to_string(trial));
    }
  }
}

TEST(TextStream, TheFirstGeneratedWordKeepsItsSpace) {
  FAVOR_REQUIRE_MODELS();
  for (const Route& route : AllRoutes()) {
    const Tokenizer& t = *route.tokenizer;
    const auto prompt = t.Encode("Lily went to the", true).value();
    // " park" as a model emits it: "▁park" (SentencePiece encodes "park" with its dummy-prefix
    // space) or "Ġpark" (byte-level vocabularies encode the space as it is).
    const bool byte_level = absl::StartsWith(t.description(), "byte-level");
    const auto park = t.Encode(byte_level ? " park" : "park", false).value();
    TextStream stream(t, prompt);
    std::string text;
    for (int32_t id : park) text += stream.Push(id).value();
    EXPECT_EQ(text, " park") << route.name;
  }
}

TEST(TextStream, ACharacterSplitOverByteTokensWaitsAndFlushes) {
  FAVOR_REQUIRE_MODELS();
  const auto tokenizer =
      Tokenizer::FromSentencePieceFile(kModels + "/stories260K/tok512.model").value();
  const auto prompt = tokenizer->Encode("A", true).value();
  // U+1F642 as the four byte-fallback tokens of this 512-piece vocabulary.
  std::vector<int32_t> smile;
  for (const char* byte : {"<0xF0>", "<0x9F>", "<0x99>", "<0x82>"}) {
    for (int32_t id = 0; id < tokenizer->vocab_size(); ++id) {
      if (tokenizer->IdToPiece(id) == byte) smile.push_back(id);
    }
  }
  ASSERT_EQ(smile.size(), 4u);
  TextStream stream(*tokenizer, prompt);
  std::string text;
  for (size_t i = 0; i + 1 < smile.size(); ++i) {
    EXPECT_EQ(stream.Push(smile[i]).value(), "") << "byte " << i << " is not a whole character";
  }
  text = stream.Push(smile.back()).value();
  EXPECT_EQ(text, "\xf0\x9f\x99\x82");
  EXPECT_EQ(stream.Flush().value(), "");

  // Cut short: the end of generation flushes what the whole decoding has (U+FFFD).
  TextStream cut(*tokenizer, prompt);
  EXPECT_EQ(cut.Push(smile[0]).value(), "");
  EXPECT_EQ(cut.Push(smile[1]).value(), "");
  const std::string flushed = cut.Flush().value();
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), smile.begin(), smile.begin() + 2);
  EXPECT_EQ(tokenizer->Decode(prompt).value() + flushed, tokenizer->Decode(all).value());
  EXPECT_FALSE(flushed.empty());
}

}  // namespace
}  // namespace favor::text
