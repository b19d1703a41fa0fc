// What a tokenizer's subword model does, whichever it is (SentencePiece for SentencePiece
// vocabularies, byte-level BPE for GPT-2-style ones): text without special tokens to ids, ids back
// to text. The Tokenizer around it finds special tokens and adds BOS/EOS.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace favor::text {

class SubwordModel {
 public:
  virtual ~SubwordModel() = default;

  virtual int32_t size() const = 0;
  // Appends the ids of `text` (a fragment with no special token in it).
  virtual absl::Status Encode(absl::string_view text, std::vector<int32_t>& ids) const = 0;
  // The text of `ids` (in range), valid UTF-8: control tokens give nothing, and bytes that do not
  // form a character become U+FFFD.
  virtual absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const = 0;
  // The piece as the vocabulary stores it.
  virtual std::string Piece(int32_t id) const = 0;
  // The bytes the token stands for in running text (a space as a space, a byte token as its
  // byte; possibly part of a character), or a control token's piece: what tools print per token.
  virtual std::string TokenText(int32_t id) const = 0;
  virtual bool IsControl(int32_t id) const = 0;
  // Whether the id is the unknown token (what text the vocabulary cannot represent becomes).
  virtual bool IsUnknown(int32_t id) const = 0;
  // Whether some text is lost without an unknown token to show for it (a byte-level vocabulary
  // that lacks pieces for some bytes): then UnknownSurfaces is worth asking even when no id is the
  // unknown token.
  virtual bool CanDropText() const { return false; }
  // The stretches of `text` that would become the unknown token, or be dropped.
  virtual absl::StatusOr<std::vector<std::string>> UnknownSurfaces(
      absl::string_view text) const = 0;
};

}  // namespace favor::text
