// SentencePiece vocabularies, tokenized by the SentencePiece library (the reference for them).
//
// Long texts are encoded in stretches that end at a newline, which gives the same ids several
// times faster (the library's BPE slows down on long inputs): exact when no piece holds a newline
// (no merge can cross one) and the normalizer neither rewrites characters nor collapses
// whitespace; stretches after the first are encoded without the dummy-prefix space, which the
// whole text has only at its start. Otherwise the text goes whole.
#pragma once

#include <memory>
#include <string>

#include "engine/text/sentencepiece_backend.h"
#include "engine/text/subword_model.h"

namespace favor::text {

class SentencePieceModel final : public SubwordModel {
 public:
  // The bytes of a SentencePiece .model (a serialized ModelProto); `origin` names it in errors.
  static absl::StatusOr<std::unique_ptr<SentencePieceModel>> Load(const std::string& serialized,
                                                                  const std::string& origin);

  int32_t size() const override;
  absl::Status Encode(absl::string_view text, std::vector<int32_t>& ids) const override;
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const override;
  std::string Piece(int32_t id) const override;
  std::string TokenText(int32_t id) const override;
  bool IsControl(int32_t id) const override;
  bool IsUnknown(int32_t id) const override { return backend_.IsUnknown(id); }
  absl::StatusOr<std::vector<std::string>> UnknownSurfaces(absl::string_view text) const override;

  int BosId() const { return backend_.BosId(); }  // -1 when the model has none.
  int EosId() const { return backend_.EosId(); }

 private:
  SentencePieceModel() = default;
  SentencePieceBackend backend_;
  // The same model without the dummy prefix, for stretches after the first (null: the model has
  // no dummy prefix, backend_ serves).
  std::unique_ptr<SentencePieceBackend> continuation_;
  bool splits_at_newlines_ = false;
};

}  // namespace favor::text
