// Byte-level BPE vocabularies: normalisation, the vocabulary's pre-tokenizer, then BPE on each
// pre-token's bytes. Every byte has a piece, so nothing is unknown and decoding gives back valid
// UTF-8 text exactly. Bytes that are not UTF-8 are pre-tokens of one byte each: their byte pieces
// (a vocabulary that spells the bytes UTF-8 never uses only as added tokens, as DeepSeek's does
// with 'ÿ', decodes those as the added token's text).
#pragma once

#include <memory>
#include <vector>

#include "engine/io/vocabulary.h"
#include "engine/text/byte_level_bpe.h"
#include "engine/text/pre_tokenizer.h"
#include "engine/text/subword_model.h"

namespace favor::text {

class ByteLevelModel final : public SubwordModel {
 public:
  // `pre_tokenizer`: the steps resolved from the vocabulary (its own, or its named preset's).
  static absl::StatusOr<std::unique_ptr<ByteLevelModel>> Create(
      const io::Vocabulary& vocabulary, std::span<const io::PreTokenizerStep> pre_tokenizer);

  int32_t size() const override { return static_cast<int32_t>(pieces_.size()); }
  absl::Status Encode(absl::string_view text, std::vector<int32_t>& ids) const override;
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const override;
  std::string Piece(int32_t id) const override { return pieces_[static_cast<size_t>(id)]; }
  std::string TokenText(int32_t id) const override;
  bool IsControl(int32_t id) const override {
    return types_[static_cast<size_t>(id)] == io::PieceType::kControl;
  }
  bool IsUnknown(int32_t) const override { return false; }  // There is no unknown token.
  bool CanDropText() const override { return missing_bytes_; }
  // The characters holding a byte the vocabulary has no piece for.
  absl::StatusOr<std::vector<std::string>> UnknownSurfaces(absl::string_view text) const override;

 private:
  ByteLevelModel(ByteLevelBpe bpe, PreTokenizer pre_tokenizer)
      : bpe_(std::move(bpe)), pre_tokenizer_(std::move(pre_tokenizer)) {}
  // The bytes of a token in running text (nothing for control tokens).
  void AppendBytes(int32_t id, std::string& bytes) const;
  // A valid UTF-8 stretch: normalised, pre-tokenized, merged.
  absl::Status EncodeValid(absl::string_view text, std::vector<int32_t>& ids) const;

  ByteLevelBpe bpe_;
  PreTokenizer pre_tokenizer_;
  std::vector<io::Normalization> normalizations_;
  std::vector<std::string> pieces_;
  std::vector<io::PieceType> types_;
  bool missing_bytes_ = false;
};

}  // namespace favor::text
