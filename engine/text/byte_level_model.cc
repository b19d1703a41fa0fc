#include "engine/text/byte_level_model.h"

#include <algorithm>

#include "engine/core/status.h"
#include "engine/text/normalizer.h"
#include "engine/text/utf8.h"

namespace favor::text {

absl::StatusOr<std::unique_ptr<ByteLevelModel>> ByteLevelModel::Create(
    const io::Vocabulary& vocabulary, std::span<const io::PreTokenizerStep> pre_tokenizer) {
  FAVOR_ASSIGN_OR_RETURN(ByteLevelBpe bpe, ByteLevelBpe::Create(vocabulary));
  FAVOR_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::Create(pre_tokenizer));
  std::unique_ptr<ByteLevelModel> model(new ByteLevelModel(std::move(bpe), std::move(pre)));
  model->normalizations_ = vocabulary.normalizers;
  model->pieces_ = vocabulary.pieces;
  model->types_ = vocabulary.types;
  for (int byte = 0; byte < 256; ++byte) {
    if (!model->bpe_.HasByte(static_cast<unsigned char>(byte))) model->missing_bytes_ = true;
  }
  return model;
}

absl::Status ByteLevelModel::EncodeValid(absl::string_view text, std::vector<int32_t>& ids) const {
  std::string normalized;
  if (!normalizations_.empty()) {
    FAVOR_ASSIGN_OR_RETURN(normalized, Normalize(text, normalizations_));
    text = normalized;
  }
  for (const PreToken& piece : pre_tokenizer_.Split(text)) {
    bpe_.Encode(text.substr(piece.begin, piece.end - piece.begin), piece.prefix_space, ids);
  }
  return absl::OkStatus();
}

absl::Status ByteLevelModel::Encode(absl::string_view text, std::vector<int32_t>& ids) const {
  // Regular expressions and normalisation need valid UTF-8: the valid stretches go through them,
  // and each byte that is not part of a character becomes a pre-token of its own.
  size_t at = 0;
  while (at < text.size()) {
    const size_t valid = ValidPrefixLength(text.substr(at));
    if (valid > 0) FAVOR_RETURN_IF_ERROR(EncodeValid(text.substr(at, valid), ids));
    at += valid;
    if (at < text.size()) {
      bpe_.Encode(text.substr(at, 1), false, ids);
      ++at;
    }
  }
  return absl::OkStatus();
}

void ByteLevelModel::AppendBytes(int32_t id, std::string& bytes) const {
  const auto index = static_cast<size_t>(id);
  switch (types_[index]) {
    case io::PieceType::kControl:
    case io::PieceType::kUnused:
      break;  // Structure, not text.
    case io::PieceType::kUserDefined:
      bytes += pieces_[index];  // Added tokens are stored as their text.
      break;
    default:
      if (auto decoded = bpe_.PieceBytes(id)) {
        bytes += *decoded;
      } else {
        bytes += pieces_[index];  // Not spelled in the alphabet: an added token's text.
      }
  }
}

absl::StatusOr<std::string> ByteLevelModel::Decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (const int32_t id : ids) AppendBytes(id, bytes);
  return ReplaceInvalidUtf8(bytes);
}

absl::StatusOr<std::vector<std::string>> ByteLevelModel::UnknownSurfaces(
    absl::string_view text) const {
  std::vector<std::string> surfaces;
  if (!missing_bytes_) return surfaces;
  for (size_t at = 0; at < text.size();) {
    const size_t length = std::max<size_t>(1, ValidSequenceLength(text, at));
    const absl::string_view character = text.substr(at, length);
    for (const char byte : character) {
      if (!bpe_.HasByte(static_cast<unsigned char>(byte))) {
        surfaces.emplace_back(character);
        break;
      }
    }
    at += length;
  }
  return surfaces;
}

std::string ByteLevelModel::TokenText(int32_t id) const {
  if (IsControl(id)) return pieces_[static_cast<size_t>(id)];
  std::string bytes;
  AppendBytes(id, bytes);
  return bytes;
}

}  // namespace favor::text
