// Text of a growing token sequence, handed out as it becomes final: the whole sequence is decoded
// each time (SentencePiece joins pieces depending on their neighbours) and only new text is
// returned, held back while it ends inside a multi-byte character (byte-fallback tokens).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/tokenizer.h"

namespace favor::text {

class TextStream {
 public:
  explicit TextStream(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // Adds a token; returns the text that became final with it (possibly empty).
  absl::StatusOr<std::string> Push(int32_t id);
  // Every final text so far.
  const std::string& text() const { return text_; }

 private:
  const Tokenizer& tokenizer_;
  std::vector<int32_t> ids_;
  std::string text_;
};

}  // namespace favor::text
