// Hugging Face tokenizer.json, with the files beside it that complete it (tokenizer_config.json:
// BOS/EOS tokens and whether prompts get them; config.json and generation_config.json: BOS/EOS
// ids, several EOS ids for chat models). Two kinds of BPE vocabulary are read: SentencePiece-style
// (U+2581 for spaces, byte fallback: Llama 1/2, Mistral, Gemma) and byte-level (GPT-2's alphabet,
// a pre-tokenizer of regex splits: Llama 3, Qwen, GPT-2, SmolLM...). Anything a vocabulary
// declares that would be approximated (another normalizer, pre-tokenizer or model) is refused by
// name.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/io/json.h"
#include "engine/io/vocabulary.h"

namespace favor::io {

// The JSON files beside tokenizer.json; each an object (empty when the file is absent).
struct TokenizerSidecars {
  Json config;                     // config.json
  Json tokenizer_config;           // tokenizer_config.json
  Json generation_config;          // generation_config.json
  std::string chat_template_file;  // chat_template.jinja, if any
};

absl::StatusOr<Vocabulary> ParseTokenizerJson(absl::string_view text, const std::string& source,
                                              const TokenizerSidecars& sidecars);
// With config.json alone beside it.
absl::StatusOr<Vocabulary> ParseTokenizerJson(absl::string_view text, const std::string& source,
                                              const Json& config);

// A tokenizer.json file and the sidecars in its directory.
absl::StatusOr<Vocabulary> LoadTokenizerJson(const std::string& path);

}  // namespace favor::io
