#include "engine/text/sentencepiece_model.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/text/sentencepiece_proto.h"

namespace favor::text {
namespace {

absl::Status FromSentencePiece(const std::string& error, absl::string_view what) {
  if (error.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, ": SentencePiece: ", error));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceModel>> SentencePieceModel::Load(
    const std::string& serialized, const std::string& origin) {
  std::unique_ptr<SentencePieceModel> model(new SentencePieceModel());
  const absl::Status loaded =
      FromSentencePiece(model->backend_.LoadFromSerializedProto(serialized), origin);
  if (!loaded.ok()) return loaded;
  const std::optional<NormalizerSpec> normalizer = ReadNormalizerSpec(serialized);
  if (!normalizer.has_value() || !normalizer->identity || normalizer->remove_extra_whitespaces) {
    return model;
  }
  for (int id = 0; id < model->backend_.PieceSize(); ++id) {
    if (model->backend_.IdToPiece(id).find('\n') != std::string::npos) return model;
  }
  if (normalizer->add_dummy_prefix) {
    const std::optional<std::string> continuation = WithoutDummyPrefix(serialized);
    if (!continuation.has_value()) return model;
    auto backend = std::make_unique<SentencePieceBackend>();
    if (!backend->LoadFromSerializedProto(*continuation).empty()) return model;
    model->continuation_ = std::move(backend);
  }
  model->splits_at_newlines_ = true;
  return model;
}

int32_t SentencePieceModel::size() const { return backend_.PieceSize(); }

absl::Status SentencePieceModel::Encode(absl::string_view text, std::vector<int32_t>& ids) const {
  // Stretches of at least this many bytes, cut after a newline.
  constexpr size_t kStretchBytes = 4096;
  std::vector<int> pieces;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.size();
    if (splits_at_newlines_ && text.size() - at > 2 * kStretchBytes) {
      const size_t newline = text.find('\n', at + kStretchBytes);
      if (newline != absl::string_view::npos) end = newline + 1;
    }
    const SentencePieceBackend& backend =
        at > 0 && continuation_ != nullptr ? *continuation_ : backend_;
    pieces.clear();
    const absl::Status encoded = FromSentencePiece(
        backend.Encode(std::string(text.substr(at, end - at)), &pieces), "encode");
    if (!encoded.ok()) return encoded;
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    at = end;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SentencePieceModel::Decode(std::span<const int32_t> ids) const {
  const std::vector<int> pieces(ids.begin(), ids.end());
  std::string text;
  const absl::Status decoded = FromSentencePiece(backend_.Decode(pieces, &text), "decode");
  if (!decoded.ok()) return decoded;
  return text;
}

std::string SentencePieceModel::Piece(int32_t id) const { return backend_.IdToPiece(id); }

std::string SentencePieceModel::TokenText(int32_t id) const {
  const std::string piece = backend_.IdToPiece(id);
  // A byte token <0xAB> is the byte it names.
  if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>' && !IsControl(id)) {
    const int byte = std::stoi(piece.substr(3, 2), nullptr, 16);
    return std::string(1, static_cast<char>(byte));
  }
  return absl::StrReplaceAll(piece, {{"\xe2\x96\x81", " "}});
}

bool SentencePieceModel::IsControl(int32_t id) const { return backend_.IsControl(id); }

absl::StatusOr<std::vector<std::string>> SentencePieceModel::UnknownSurfaces(
    absl::string_view text) const {
  std::vector<std::string> surfaces;
  const absl::Status found =
      FromSentencePiece(backend_.UnknownSurfaces(std::string(text), &surfaces), "encode");
  if (!found.ok()) return found;
  return surfaces;
}

}  // namespace favor::text
