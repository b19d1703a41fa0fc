// Hugging Face tokenizer.json, SentencePiece-style (turned into a SentencePiece model) or
// byte-level BPE (pre-tokenizer regexes compiled by PCRE2), and used.
#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

#include "engine/io/huggingface.h"
#include "engine/io/json.h"
#include "engine/io/tokenizer_json.h"
#include "engine/text/tokenizer.h"
#include "tests/fuzz/tokenizer_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const auto config = favor::io::Json::Parse(R"({"bos_token_id": 1, "eos_token_id": 2})", "config");
  if (!config.ok()) __builtin_trap();
  auto vocabulary = favor::io::ParseTokenizerJson(text, "fuzz tokenizer.json", *config);
  if (!vocabulary.ok()) return 0;
  auto tokenizer = favor::text::Tokenizer::FromVocabulary(*vocabulary);
  if (tokenizer.ok()) favor::fuzz::UseTokenizer(**tokenizer);
  return 0;
}
