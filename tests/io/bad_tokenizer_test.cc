// Corrupt tokenizers of every kind (llama2.c tokenizer.bin, Hugging Face tokenizer.json,
// SentencePiece .model) are clear errors, and a tokenizer whose vocabulary is not the model's is
// refused with both sizes.
#include <string>

#include "engine/io/huggingface.h"
#include "engine/io/json.h"
#include "engine/io/model_file.h"
#include "engine/io/tokenizer_json.h"
#include "engine/runtime/model.h"
#include "engine/text/tokenizer.h"
#include "tests/io/corrupt_files.h"
#include "tests/test_util.h"

namespace favor::io {
namespace {

using testing::Poke;
using testing::ReadAll;
using testing::WriteTemp;

const std::string kModels = favor::testing::ModelsDir();
const std::string kTokenizerBin = kModels + "/stories260K/tok512.bin";
const std::string kTokenizerModel = kModels + "/stories260K/tok512.model";
const std::string kTokenizerJson = kModels + "/tinystories-656K/tokenizer.json";

void ExpectTokenizerError(const std::string& path, const std::string& needle) {
  auto tokenizer = text::Tokenizer::FromFile(path);
  ASSERT_FALSE(tokenizer.ok()) << path << " loaded although corrupt; expected: " << needle;
  EXPECT_NE(tokenizer.status().message().find(needle), absl::string_view::npos)
      << tokenizer.status();
}

TEST(BadTokenizer, Llama2cTokenizerBin) {
  FAVOR_REQUIRE_MODELS();
  const std::string good = ReadAll(kTokenizerBin);
  ExpectTokenizerError(WriteTemp("empty.bin", ""), "truncated");
  std::string bytes = good;
  Poke<int32_t>(bytes, 0, 0);
  ExpectTokenizerError(WriteTemp("max0.bin", bytes), "invalid max token length 0");
  bytes = good;
  Poke<int32_t>(bytes, 0, 1 << 30);
  ExpectTokenizerError(WriteTemp("maxhuge.bin", bytes), "invalid max token length 1073741824");
  bytes = good;
  Poke<int32_t>(bytes, 8, -5);  // The first token's length.
  ExpectTokenizerError(WriteTemp("negative.bin", bytes), "token 0 has length -5");
  bytes = good;
  Poke<int32_t>(bytes, 8, 1 << 20);
  ExpectTokenizerError(WriteTemp("long.bin", bytes), "token 0 has length 1048576");
  // Cut inside a token's bytes, inside its length, inside its score.
  for (size_t cut : {good.size() - 1, good.size() - 3, size_t{4 + 8 + 2}, size_t{4 + 5}}) {
    auto tokenizer = text::Tokenizer::FromFile(WriteTemp("cut.bin", good.substr(0, cut)));
    EXPECT_FALSE(tokenizer.ok()) << "cut at " << cut;
  }
}

TEST(BadTokenizer, SentencePieceModel) {
  FAVOR_REQUIRE_MODELS();
  const std::string good = ReadAll(kTokenizerModel);
  ExpectTokenizerError(WriteTemp("empty.model", ""), "SentencePiece");
  ExpectTokenizerError(WriteTemp("half.model", good.substr(0, good.size() / 2)), "SentencePiece");
  std::string bytes = good;
  for (size_t i = 0; i < bytes.size(); i += 7) bytes[i] = static_cast<char>(0xff);
  ExpectTokenizerError(WriteTemp("noise.model", bytes), "SentencePiece");
  ExpectTokenizerError(kModels + "/stories260K/nonexistent.model", "cannot open");
}

// Found by fuzz_sentencepiece_model: a piece that starts with a NUL byte makes libsentencepiece's
// trie builder throw; that must be an error, not std::terminate.
TEST(BadTokenizer, SentencePieceExceptionsBecomeErrors) {
  const std::string model(
      "\x0a\x0e\x0a\x05\x3c\x75\x6e\x6b\x3e\x15\x00\x00\x00\xff\x18\x02"
      "\x4a\x0c\x0a\x03\x73\x3c\x3e\x15\x00\x00\x00\x00\x18\x03\x0a\x0d"
      "\x0a\x0b\x00\x04\xe2\x96\x81\x62\x15\x00\x00\x10\xc1\xc1\x0a\x70"
      "\xc1\x0a\x09\x0a\x02\x69\x74\x15\x00\x00\x80\xc1\x0a\x09\x0a\x02"
      "\x72\x6d\x15\xfd\x0a\x0a\x0c",
      71);
  auto tokenizer = text::Tokenizer::FromSentencePieceModel(model, "fuzzed.model");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("fuzzed.model: SentencePiece: the model is corrupt"),
            absl::string_view::npos)
      << tokenizer.status();
}

absl::StatusOr<Vocabulary> ParseTokenizer(const std::string& text) {
  const Json config = Json::Parse(R"({"bos_token_id": 1, "eos_token_id": 2})", "config").value();
  return ParseTokenizerJson(text, "tokenizer.json", config);
}

void ExpectJsonError(const std::string& text, const std::string& needle) {
  auto vocabulary = ParseTokenizer(text);
  ASSERT_FALSE(vocabulary.ok()) << "parsed although corrupt; expected: " << needle;
  EXPECT_NE(vocabulary.status().message().find(needle), absl::string_view::npos)
      << vocabulary.status() << "\nexpected: " << needle;
}

TEST(BadTokenizer, HuggingFaceTokenizerJson) {
  FAVOR_REQUIRE_MODELS();
  const std::string good = ReadAll(kTokenizerJson);
  ASSERT_TRUE(ParseTokenizer(good).ok());
  ExpectJsonError(good.substr(0, good.size() / 2), "invalid JSON");
  ExpectJsonError(R"({"model": {"type": "WordPiece"}})",
                  "tokenizer model 'WordPiece' is not supported");
  ExpectJsonError(R"({"model": {"type": "BPE", "byte_fallback": false}})",
                  "neither byte fallback (SentencePiece-style) nor a ByteLevel");
  ExpectJsonError(R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {}}})",
                  "missing BPE vocab or merges");
  const std::string base = R"({"model": {"type": "BPE", "byte_fallback": true, )";
  ExpectJsonError(base + R"("vocab": {"<unk>": 0, "<s>": 1, "a": 5}, "merges": []}})",
                  "token ids are not 0..2");
  ExpectJsonError(base + R"("vocab": {"<unk>": 0, "<s>": 1, "a": 1}, "merges": []}})",
                  "token ids are not 0..2");
  ExpectJsonError(base + R"("vocab": {"<unk>": 0, "<s>": 1, "a": 2.5}, "merges": []}})",
                  "token id");
  ExpectJsonError(base + R"("vocab": {"<unk>": 0, "<s>": 1, "a": 2}, "merges": ["a"]}})",
                  "merge 0 ('a') is not two pieces");
  ExpectJsonError(base + R"("vocab": {"<unk>": 0, "<s>": 1}, "merges": []}, )"
                         R"("pre_tokenizer": {"type": "Metaspace"}})",
                  "EOS id 2 outside the vocabulary of 2");
  ExpectJsonError(base + R"("vocab": {"<unk>": 0, "<unk>": 1}, "merges": []}})",
                  "duplicate member name '<unk>'");
  // Components the SentencePiece conversion cannot honour are refused by name, not approximated:
  // each replaces one part of the real tinystories-656K tokenizer.json.
  auto with = [&](const std::string& key, const std::string& value) {
    const size_t at = good.find("\"" + key + "\":");
    EXPECT_NE(at, std::string::npos) << key;
    std::string changed = good;
    // The value runs to the next top-level key.
    const size_t end = changed.find(",\n  \"", at);
    changed.replace(at, end - at, "\"" + key + "\": " + value);
    return changed;
  };
  ExpectJsonError(with("normalizer", R"({"type": "NFKC"})"), "normalizer 'NFKC' is not supported");
  ExpectJsonError(
      with("normalizer", R"({"type": "Sequence", "normalizers": [{"type": "Lowercase"}]})"),
      "normalizer 'Lowercase' is not supported");
  ExpectJsonError(with("pre_tokenizer", R"({"type": "ByteLevel", "add_prefix_space": false})"),
                  "pre-tokenizer 'ByteLevel' is not supported");
  ExpectJsonError(
      with("pre_tokenizer", R"({"type": "Sequence", "pretokenizers": [{"type": "Digits"}]})"),
      "pre-tokenizer 'Digits' is not supported");
  ExpectJsonError(with("decoder", R"({"type": "ByteLevel"})"),
                  "decoder 'ByteLevel' is not supported");
  ExpectJsonError(with("normalizer", "null"), "marks spaces with U+2581");
  // The Metaspace form of the same tokenizer is accepted.
  const std::string metaspace = with("normalizer", "null");
  const std::string both =
      metaspace.substr(0, metaspace.find("\"pre_tokenizer\":")) +
      R"("pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", )"
      R"("prepend_scheme": "first", "split": false})" +
      metaspace.substr(metaspace.find(",\n  \"", metaspace.find("\"pre_tokenizer\":")));
  EXPECT_TRUE(ParseTokenizer(both).ok()) << ParseTokenizer(both).status();
}

// Byte-level vocabularies: what cannot be honoured is refused by name.
TEST(BadTokenizer, ByteLevelTokenizerJson) {
  const std::string vocab = R"("vocab": {"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3})";
  auto tokenizer_json = [&](const std::string& merges, const std::string& pre) {
    return R"({"model": {"type": "BPE", )" + vocab + R"(, "merges": )" + merges +
           R"(}, "pre_tokenizer": )" + pre + R"(, "decoder": {"type": "ByteLevel"}})";
  };
  const std::string byte_level = R"({"type": "ByteLevel", "add_prefix_space": false})";
  ASSERT_TRUE(ParseTokenizer(tokenizer_json(R"(["a b"])", byte_level)).ok())
      << ParseTokenizer(tokenizer_json(R"(["a b"])", byte_level)).status();
  ExpectJsonError(tokenizer_json(R"(["ab"])", byte_level), "merge 0 ('ab') is not two pieces");
  ExpectJsonError(tokenizer_json(R"(["a b c"])", byte_level), "merge 0 ('a b c')");
  ExpectJsonError(tokenizer_json(R"([["a", ""]])", byte_level), "merge 0 is not two pieces");
  ExpectJsonError(tokenizer_json(R"([])", R"({"type": "Sequence", "pretokenizers": [)" +
                                              byte_level + R"(, {"type": "UnicodeScripts"}]})"),
                  "pre-tokenizer 'UnicodeScripts' is not supported");
  ExpectJsonError(tokenizer_json(R"([])", R"({"type": "Split", "pattern": {"Regex": "a"}, )"
                                          R"("behavior": "Sideways"})"),
                  "Split behavior 'Sideways' is not supported");
  // A regex PCRE2 cannot compile is found when the tokenizer is built.
  auto bad_regex =
      ParseTokenizer(tokenizer_json(R"([])", R"({"type": "Split", "pattern": {"Regex": "(a"}, )"
                                             R"("behavior": "Isolated"})"));
  ASSERT_TRUE(bad_regex.ok()) << bad_regex.status();
  auto tokenizer = text::Tokenizer::FromVocabulary(*bad_regex);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("regular expression '(a'"), absl::string_view::npos)
      << tokenizer.status();
}

TEST(BadTokenizer, UnknownPreTokenizerName) {
  Vocabulary vocab;
  vocab.model = VocabularyModel::kByteLevelBpe;
  vocab.pieces = {"a", "b"};
  vocab.types = {PieceType::kNormal, PieceType::kNormal};
  vocab.scores = {0, 0};
  vocab.bos_id = vocab.eos_id = 0;
  vocab.pre_tokenizer_name = "klingon";
  auto tokenizer = text::Tokenizer::FromVocabulary(vocab);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("pre-tokenizer 'klingon' is not supported"),
            absl::string_view::npos)
      << tokenizer.status();
}

TEST(BadTokenizer, VocabularySizeMustMatchTheModel) {
  FAVOR_REQUIRE_MODELS();
  // The SentencePiece model (512 pieces) on the Hugging Face model (2048).
  auto model =
      runtime::Model::Load(kModels + "/tinystories-656K", {.tokenizer_path = kTokenizerModel});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("has 512 tokens but the model has 2048"),
            absl::string_view::npos)
      << model.status();
}

}  // namespace
}  // namespace favor::io
