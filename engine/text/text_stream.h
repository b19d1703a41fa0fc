// Text of a growing token sequence, handed out as it becomes final, so that the pieces
// concatenated equal the decoding of the whole sequence minus that of its context (the prompt).
//
// A span is never decoded on its own: SentencePiece drops the leading space of the first piece of
// whatever it decodes, so the first generated word would lose its space ("went to thepark"). Each
// step decodes a short window that begins a few tokens back (in the context for the first tokens)
// and hands out only what the new token added to the decoding of the same window without it. Text
// that ends inside a multi-byte character (byte-fallback tokens) waits for the rest; Flush() hands
// it out as the whole decoding would (with U+FFFD) when the sequence ends there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/tokenizer.h"

namespace favor::text {

class TextStream {
 public:
  // `context`: the tokens before the streamed ones (the prompt; may be empty).
  explicit TextStream(const Tokenizer& tokenizer, std::span<const int32_t> context = {});

  // Adds a token; returns the text that became final with it (possibly empty).
  absl::StatusOr<std::string> Push(int32_t id);
  // The text still held back (an incomplete character at the end), as the decoding of the whole
  // sequence gives it; the stream is then final.
  absl::StatusOr<std::string> Flush();
  // Every text handed out so far.
  const std::string& text() const { return text_; }

 private:
  // Context tokens decoded with the first new ones: enough for any piece's leading space to be
  // decided by its real neighbour, and for a character split over byte tokens (at most four).
  static constexpr size_t kContextTokens = 6;

  // What the tokens not yet handed out add to the decoding of the left context.
  absl::StatusOr<std::string> PendingText() const;

  const Tokenizer& tokenizer_;
  std::vector<int32_t> window_;  // Tokens from `prefix_` back to the last token pushed.
  size_t prefix_ = 0;            // window_[0, prefix_): only there to be decoded with the rest.
  size_t read_ = 0;              // window_[prefix_, read_) were handed out; the rest are pending.
  std::string text_;
};

}  // namespace favor::text
