// Special and added tokens found in text before pre-tokenization, so that "<|im_end|>" is one
// token and never the pieces of its spelling. Control tokens (BOS, EOS, a chat template's markers)
// are found only when the caller asks to parse special tokens; user-defined (added, non-special)
// tokens always are, as Hugging Face and llama.cpp do. The leftmost occurrence wins, and of those
// starting there the longest.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/io/vocabulary.h"

namespace favor::text {

// A stretch of text to tokenize normally, or one token found whole.
struct TextFragment {
  absl::string_view text;  // Empty for a token.
  int32_t token = -1;      // -1 for text.
};

class SpecialTokens {
 public:
  explicit SpecialTokens(const io::Vocabulary& vocabulary);

  // `text` cut into text fragments and the special tokens in it.
  std::vector<TextFragment> Partition(absl::string_view text, bool parse_special) const;

  bool empty() const { return tokens_.empty(); }

 private:
  struct Token {
    std::string text;
    int32_t id;
    bool control;      // Found only when parsing special tokens.
    bool strip_left;   // Whitespace before it is its own (tokenizer.json's lstrip).
    bool strip_right;  // And after it (rstrip).
  };
  std::vector<Token> tokens_;  // Longest first.
  std::array<bool, 256> starts_{};
};

}  // namespace favor::text
