// SentencePiece vocabularies, tokenized by the SentencePiece library (the reference for them).
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
};

}  // namespace favor::text
