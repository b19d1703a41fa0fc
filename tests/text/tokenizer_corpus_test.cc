// An adversarial corpus (leading, trailing and repeated spaces, tabs, CRLF, newlines, a lone
// space, literal control-token text, combining marks, emoji ZWJ sequences and flags, CJK, digits,
// curly quotes) through every stories260K vocabulary route, against golden ids from each route's
// own reference implementation:
// - the GGUF vocabulary and llama2.c's tokenizer.bin against llama2.c's run.c encoder
//   (karpathy/llama2.c 350e04f, MIT; run in a scratch folder, not committed), which llama.cpp's
//   SentencePiece-style tokenizer also follows;
// - the SentencePiece .model against SentencePiece's own spm_encode (Debian's sentencepiece
//   0.1.97) on the texts without line breaks (spm_encode encodes line by line).
// The two references differ on purpose: tok512.model's normaliser removes extra whitespace (as
// the TinyStories training data was tokenised), the GGUF and tokenizer.bin vocabularies carry no
// normaliser and keep every space, as run.c and llama.cpp do.
#include <algorithm>
#include <optional>

#include "engine/io/model_file.h"
#include "engine/text/tokenizer.h"
#include "tests/test_util.h"

namespace favor::text {
namespace {

const std::string kModels = favor::testing::ModelsDir();

struct Case {
  const char* name;
  const char* text;
  std::vector<int32_t> run_c;                      // llama2.c's encode(text, bos=0, eos=0).
  std::optional<std::vector<int32_t>> spm_encode;  // spm_encode --output_format=id.
};

const Case kCases[] = {
    {"leading spaces",
     "  Once upon a time",
     {410, 410, 403, 407, 261, 378},
     {{403, 407, 261, 378}}},
    {"trailing spaces",
     "Once upon a time  ",
     {403, 407, 261, 378, 410, 410},
     {{403, 407, 261, 378}}},
    {"double spaces",
     "Once  upon   a time",
     {403, 410, 407, 410, 410, 261, 378},
     {{403, 407, 261, 378}}},
    {"tabs",
     "Once\x09upon\x09\x09"
     "a time",
     {403, 12, 425, 427, 289, 12, 12, 412, 378},
     {{403, 12, 425, 427, 289, 12, 12, 412, 378}}},
    {"CRLF",
     "Line one.\x0d\x0aLine two.\x0d\x0a",
     {307, 271, 411, 353, 411, 426, 16, 13, 438, 271, 411, 259, 424, 414, 426, 16, 13},
     std::nullopt},
    {"newlines", "\x0a\x0aThe end.\x0a", {410, 13, 13, 434, 260, 344, 264, 426, 13}, std::nullopt},
    {"single space", " ", {410, 410}, {{}}},
    {"literal <s>",
     "<s>Once</s> upon <unk> a time",
     {410, 504, 419, 505, 441, 416, 331, 504, 492, 419, 505, 407, 410, 504, 379, 433, 505, 261,
      378},
     {{410, 504, 419, 505, 441, 416, 331, 504, 492, 419, 505, 407, 410, 504, 379, 433, 505, 261,
       378}}},
    {"combining marks",
     "Cafe\xcc\x81 nai\xcc\x88ve",
     {410, 457, 412, 431, 411, 207, 132, 297, 412, 417, 207, 139, 360},
     {{410, 457, 412, 431, 411, 207, 132, 297, 412, 417, 207, 139, 360}}},
    {"precomposed",
     "Caf\xc3\xa9 na\xc3\xafve",
     {410, 457, 412, 431, 485, 297, 412, 198, 178, 360},
     {{410, 457, 412, 431, 485, 297, 412, 198, 178, 360}}},
    {"emoji ZWJ",
     "family \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 done",
     {272, 314, 310, 410, 243, 162, 148, 171, 229, 131, 144, 243, 162,
      148, 172, 229, 131, 144, 243, 162, 148, 170, 279, 289, 411},
     {{272, 314, 310, 410, 243, 162, 148, 171, 229, 131, 144, 243, 162,
       148, 172, 229, 131, 144, 243, 162, 148, 170, 279, 289, 411}}},
    {"emoji flags",
     "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7 and \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
     {410, 243, 162, 138, 174, 243, 162, 138, 186, 269, 410, 243, 162, 148, 144, 243, 162, 146,
      192},
     {{410, 243, 162, 138, 174, 243, 162, 138, 186, 269, 410, 243, 162, 148, 144, 243, 162, 146,
       192}}},
    {"CJK",
     "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82\xe6\x97\xa5\xe6\x9c"
     "\xac\xe8\xaa\x9e",
     {410, 231, 192, 163, 232, 168, 192, 242, 191, 143, 231, 187, 153, 234,
      152, 143, 230, 131, 133, 233, 154, 168, 233, 159, 175, 235, 173, 161},
     {{410, 231, 192, 163, 232, 168, 192, 242, 191, 143, 231, 187, 153, 234,
       152, 143, 230, 131, 133, 233, 154, 168, 233, 159, 175, 235, 173, 161}}},
    {"digits and punctuation",
     "In 1999, 42% of 3.14159... were 'odd'!?",
     {359, 416, 410, 475, 483, 483, 483, 432, 410, 484, 479, 501, 373, 410, 472, 426, 475,
      484, 475, 480, 483, 426, 426, 426, 382, 276, 410, 439, 414, 418, 418, 439, 443, 450},
     {{359, 416, 410, 475, 483, 483, 483, 432, 410, 484, 479, 501, 373, 410, 472, 426, 475,
       484, 475, 480, 483, 426, 426, 426, 382, 276, 410, 439, 414, 418, 418, 439, 443, 450}}},
    {"quotes",
     "\"Hi,\" she said. \xe2\x80\x9c"
     "Bye,\xe2\x80\x9d he said.",
     {313, 440, 417, 432, 436, 358, 336, 426, 410, 465, 445, 422, 411, 432, 466, 281, 336, 426},
     {{313, 440, 417, 432, 436, 358, 336, 426, 410, 465, 445, 422, 411, 432, 466, 281, 336, 426}}},
};

TEST(TokenizerCorpus, GgufAndTokenizerBinMatchLlama2cRunC) {
  FAVOR_REQUIRE_MODELS();
  auto gguf = io::LoadModelFile(kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf").value();
  const auto from_gguf = Tokenizer::FromVocabulary(*gguf.vocabulary).value();
  const auto from_bin = Tokenizer::FromFile(kModels + "/stories260K/tok512.bin").value();
  for (const Case& c : kCases) {
    EXPECT_EQ(from_gguf->Encode(c.text, false).value(), c.run_c) << "gguf: " << c.name;
    EXPECT_EQ(from_bin->Encode(c.text, false).value(), c.run_c) << "tokenizer.bin: " << c.name;
    // Every character is representable (byte fallback): decoding gives the text back.
    EXPECT_EQ(from_bin->Decode(c.run_c).value(), c.text) << c.name;
  }
}

TEST(TokenizerCorpus, SentencePieceModelMatchesSpmEncode) {
  FAVOR_REQUIRE_MODELS();
  const auto model = Tokenizer::FromFile(kModels + "/stories260K/tok512.model").value();
  for (const Case& c : kCases) {
    if (!c.spm_encode.has_value()) continue;
    EXPECT_EQ(model->Encode(c.text, false).value(), *c.spm_encode) << c.name;
  }
}

TEST(TokenizerCorpus, EmptyTextIsNoTokensOrBosAlone) {
  FAVOR_REQUIRE_MODELS();
  for (const std::string& path :
       {kModels + "/stories260K/tok512.model", kModels + "/stories260K/tok512.bin",
        kModels + "/tinystories-656K/tokenizer.json"}) {
    const auto tokenizer = Tokenizer::FromFile(path).value();
    EXPECT_TRUE(tokenizer->Encode("", false).value().empty()) << path;
    EXPECT_EQ(tokenizer->Encode("", true).value(), std::vector<int32_t>{tokenizer->bos_id()})
        << path;
    EXPECT_EQ(tokenizer->Decode({}).value(), "") << path;
  }
}

// tinystories-656K's tokenizer.json has no byte tokens: text outside its vocabulary becomes
// <unk>, and the rest decodes back exactly.
TEST(TokenizerCorpus, TokenizerJsonRoundTripsWhatItCanRepresent) {
  FAVOR_REQUIRE_MODELS();
  const auto tokenizer = Tokenizer::FromFile(kModels + "/tinystories-656K/tokenizer.json").value();
  for (const Case& c : kCases) {
    const auto ids = tokenizer->Encode(c.text, false).value();
    const auto unknown = tokenizer->UnrepresentableCharacters(c.text).value();
    const bool has_unknown =
        std::find(ids.begin(), ids.end(), 0) != ids.end();  // <unk> is id 0 here.
    EXPECT_EQ(has_unknown, !unknown.empty()) << c.name;
    if (!has_unknown) {
      EXPECT_EQ(tokenizer->Decode(ids).value(), c.text) << c.name;
    }
  }
}

}  // namespace
}  // namespace favor::text
