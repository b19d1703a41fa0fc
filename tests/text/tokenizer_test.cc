// One SentencePiece implementation behind every vocabulary route: the .model file, the GGUF
// metadata vocabulary and llama2.c's tokenizer.bin give identical ids on stories260K; the
// tokenizer.json route agrees with a reference Hugging Face BPE.
#include "engine/text/tokenizer.h"

#include "engine/io/model_file.h"
#include "tests/test_util.h"

namespace favor::text {
namespace {

const std::string kModels = favor::testing::ModelsDir();

// Multi-paragraph, TinyStories-like, with punctuation, digits, quotes and newlines.
const std::string kCorpus =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
    "with her friends. One day, she saw a big, red ball under a tree.\n\n"
    "\"Can I play with it?\" she asked her mom. Her mom smiled and said, \"Yes, but share it with "
    "Tom.\" Lily and Tom played until 5 o'clock; they counted 123 jumps and laughed.\n\n"
    "The next morning the sun was bright. A bird sang: tweet-tweet! Lily waved at it, and the "
    "bird flew away over the hills (far, far away).\n"
    "The end.";
// Byte fallback: characters that are not in the 512-piece vocabulary.
const std::string kNonAscii =
    "Caf\xc3\xa9 na\xc3\xaf"
    "ve \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x99\x82 \xc3\x9c"
    "ber-\xe2\x82\xac"
    "5.";

struct Routes {
  std::unique_ptr<Tokenizer> model, gguf, bin;
};

Routes LoadRoutes() {
  Routes r;
  r.model = Tokenizer::FromSentencePieceFile(kModels + "/stories260K/tok512.model").value();
  auto gguf = io::LoadModelFile(kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf").value();
  r.gguf = Tokenizer::FromVocabulary(*gguf.vocabulary).value();
  r.bin = Tokenizer::FromFile(kModels + "/stories260K/tok512.bin").value();
  return r;
}

TEST(Tokenizer, AllStories260KRoutesGiveIdenticalIds) {
  FAVOR_REQUIRE_MODELS();
  const Routes r = LoadRoutes();
  for (const std::string& text :
       {kCorpus, kNonAscii, std::string("Once upon a time"), std::string("a")}) {
    const auto expected = r.model->Encode(text, true).value();
    EXPECT_EQ(r.gguf->Encode(text, true).value(), expected) << text;
    EXPECT_EQ(r.bin->Encode(text, true).value(), expected) << text;
  }
  EXPECT_GT(r.model->Encode(kCorpus, false).value().size(), 100u);
}

TEST(Tokenizer, DecodeInvertsEncodeIncludingByteFallback) {
  FAVOR_REQUIRE_MODELS();
  const Routes r = LoadRoutes();
  for (const Tokenizer* t : {r.model.get(), r.gguf.get(), r.bin.get()}) {
    for (const std::string& text : {kCorpus, kNonAscii}) {
      const auto ids = t->Encode(text, true).value();
      EXPECT_EQ(t->Decode(ids).value(), text) << t->origin();
    }
  }
  // The non-ASCII text really went through byte pieces.
  const auto ids = r.gguf->Encode(kNonAscii, false).value();
  int bytes = 0;
  for (int32_t id : ids) bytes += r.gguf->IdToPiece(id).rfind("<0x", 0) == 0 ? 1 : 0;
  EXPECT_GE(bytes, 10);
}

TEST(Tokenizer, BosAndEosAsEachFormatSpecifies) {
  FAVOR_REQUIRE_MODELS();
  const Routes r = LoadRoutes();
  for (const Tokenizer* t : {r.model.get(), r.gguf.get(), r.bin.get()}) {
    EXPECT_EQ(t->bos_id(), 1) << t->origin();
    EXPECT_EQ(t->eos_id(), 2) << t->origin();
    EXPECT_TRUE(t->add_bos()) << t->origin();
    const auto with = t->Encode("Lily", true).value();
    const auto without = t->Encode("Lily", false).value();
    EXPECT_EQ(with.front(), 1);
    EXPECT_EQ(std::vector<int32_t>(with.begin() + 1, with.end()), without);
    // Control tokens produce no text.
    std::vector<int32_t> framed = with;
    framed.push_back(t->eos_id());
    EXPECT_EQ(t->Decode(framed).value(), "Lily");
  }
  EXPECT_FALSE(r.gguf->Decode(std::vector<int32_t>{600}).ok());
}

TEST(Tokenizer, HuggingFaceTokenizerJsonMatchesReferenceBpe) {
  FAVOR_REQUIRE_MODELS();
  auto model = io::LoadModelFile(kModels + "/tinystories-656K").value();
  auto tokenizer = Tokenizer::FromVocabulary(*model.vocabulary).value();
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_TRUE(tokenizer->add_bos());
  // Expected ids from a plain Python implementation of Hugging Face BPE (merges applied by rank
  // after the tokenizer.json normalizer: prepend U+2581, spaces to U+2581).
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
      {"Once upon a time, there was a little girl named Lily.",
       {80, 147, 201, 282, 215, 286, 598, 629, 10}},
      {"The dog said: \"Let's play!\" and ran to the park.\nThen it rained.",
       {80, 247, 401, 174, 1608, 5, 663, 220, 4, 5, 100, 1547, 455, 1347, 203, 167, 1373, 192, 10}},
      {"Tom and Sue liked big red apples, 3 of them.",
       {80, 875, 566, 376, 92, 202, 609, 1372, 125, 595, 14, 80, 306, 475, 10}},
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(tokenizer->Encode(text, false).value(), ids) << text;
    EXPECT_EQ(tokenizer->Decode(ids).value(), text);
  }
}

TEST(Tokenizer, BadFilesAreErrors) {
  FAVOR_REQUIRE_MODELS();
  EXPECT_FALSE(Tokenizer::FromSentencePieceFile("/nonexistent.model").ok());
  const auto not_a_model =
      Tokenizer::FromSentencePieceFile(kModels + "/stories260K/tok512.bin.model");
  EXPECT_FALSE(not_a_model.ok());
  io::Vocabulary empty;
  EXPECT_FALSE(Tokenizer::FromVocabulary(empty).ok());
}

}  // namespace
}  // namespace favor::text
