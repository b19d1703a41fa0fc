#include "engine/text/tokenizer.h"

#include "engine/core/storage.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/io/file_kind.h"
#include "engine/io/huggingface.h"
#include "engine/text/sentencepiece_proto.h"

namespace favor::text {
namespace {

absl::Status FromSentencePiece(const std::string& error, absl::string_view what) {
  if (error.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, ": SentencePiece: ", error));
}

}  // namespace

Tokenizer::Tokenizer() : processor_(std::make_unique<SentencePieceBackend>()) {}
Tokenizer::~Tokenizer() = default;

void Tokenizer::SetSpecialTokens(int32_t bos_id, int32_t eos_id, bool add_bos) {
  bos_id_ = bos_id;
  eos_id_ = eos_id;
  add_bos_ = add_bos;
  end_of_generation_.clear();
  end_of_generation_texts_.clear();
  for (int32_t id : {eos_id, bos_id}) {
    if (id < 0 || id >= vocab_size() || IsEndOfGeneration(id)) continue;
    end_of_generation_.push_back(id);
    const std::string piece = IdToPiece(id);
    if (piece.size() >= 3 && piece.front() == '<' && piece.back() == '>') {
      end_of_generation_texts_.push_back(piece);
    }
  }
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), id) !=
         end_of_generation_.end();
}

bool Tokenizer::IsControl(int32_t id) const {
  return id >= 0 && id < vocab_size() && processor_->IsControl(id);
}

absl::StatusOr<std::vector<std::string>> Tokenizer::UnrepresentableCharacters(
    absl::string_view text) const {
  std::vector<std::string> surfaces;
  FAVOR_RETURN_IF_ERROR(
      FromSentencePiece(processor_->UnknownSurfaces(std::string(text), &surfaces), "encode"));
  std::vector<std::string> characters;
  for (const std::string& surface : surfaces) {
    for (size_t i = 0; i < surface.size();) {  // One UTF-8 character at a time.
      const auto lead = static_cast<unsigned char>(surface[i]);
      const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      std::string character = surface.substr(i, length);
      if (character != " " &&
          std::find(characters.begin(), characters.end(), character) == characters.end()) {
        characters.push_back(std::move(character));
      }
      i += length;
    }
  }
  return characters;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromSentencePieceFile(
    const std::string& path) {
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("tokenizer: ", bytes.status().message()));
  }
  return FromSentencePieceModel(*bytes, absl::StrCat("SentencePiece model ", path));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromSentencePieceModel(
    const std::string& serialized, const std::string& origin) {
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  FAVOR_RETURN_IF_ERROR(
      FromSentencePiece(tokenizer->processor_->LoadFromSerializedProto(serialized), origin));
  const int bos = tokenizer->processor_->BosId();
  const int eos = tokenizer->processor_->EosId();
  tokenizer->SetSpecialTokens(bos >= 0 ? bos : 1, eos >= 0 ? eos : 2, bos >= 0);
  tokenizer->origin_ = origin;
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromVocabulary(const io::Vocabulary& v) {
  const size_t n = v.pieces.size();
  if (n == 0 || v.scores.size() != n || v.types.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(v.origin, ": inconsistent vocabulary"));
  }
  for (int32_t id : {v.unk_id, v.bos_id, v.eos_id}) {
    if (id < 0 || static_cast<size_t>(id) >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat(v.origin, ": special token id ", id, " outside the vocabulary of ", n));
    }
  }
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  FAVOR_RETURN_IF_ERROR(FromSentencePiece(
      tokenizer->processor_->LoadFromSerializedProto(SerializeSentencePieceModel(v)),
      absl::StrCat("vocabulary from ", v.origin)));
  tokenizer->SetSpecialTokens(v.bos_id, v.eos_id, v.add_bos);
  tokenizer->origin_ = v.origin;
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  const io::FileKind kind = io::IdentifyFile(path);
  switch (kind) {
    case io::FileKind::kMissing:
      return absl::NotFoundError(absl::StrCat("cannot open tokenizer '", path, "'"));
    case io::FileKind::kSentencePieceModel:
      return FromSentencePieceFile(path);
    case io::FileKind::kTokenizerJson: {
      FAVOR_ASSIGN_OR_RETURN(const io::Vocabulary vocabulary, io::LoadTokenizerJson(path));
      return FromVocabulary(vocabulary);
    }
    case io::FileKind::kLlama2cTokenizer: {
      FAVOR_ASSIGN_OR_RETURN(const io::Vocabulary vocabulary, io::LoadLlama2cTokenizer(path));
      return FromVocabulary(vocabulary);
    }
    case io::FileKind::kUnknown:
      // Not recognisably anything: the strictest reader says what is wrong with it.
      if (absl::EndsWith(path, ".model")) return FromSentencePieceFile(path);
      {
        FAVOR_ASSIGN_OR_RETURN(const io::Vocabulary vocabulary, io::LoadLlama2cTokenizer(path));
        return FromVocabulary(vocabulary);
      }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is ", io::FileKindDescription(kind),
                       ", not a tokenizer (tokenizer.json, a SentencePiece .model or a llama2.c "
                       "tokenizer.bin)"));
  }
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(absl::string_view text, bool add_bos) const {
  std::vector<int> pieces;
  FAVOR_RETURN_IF_ERROR(
      FromSentencePiece(processor_->Encode(std::string(text), &pieces), "encode"));
  std::vector<int32_t> ids;
  ids.reserve(pieces.size() + 1);
  if (add_bos) ids.push_back(bos_id_);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids) const {
  const int32_t n = vocab_size();
  std::vector<int> pieces;
  pieces.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= n) {
      return absl::OutOfRangeError(absl::StrCat("token id ", id, " outside the vocabulary of ", n));
    }
    pieces.push_back(id);
  }
  std::string text;
  FAVOR_RETURN_IF_ERROR(FromSentencePiece(processor_->Decode(pieces, &text), "decode"));
  return text;
}

std::string Tokenizer::IdToPiece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return processor_->IdToPiece(id);
}

int32_t Tokenizer::vocab_size() const { return processor_->PieceSize(); }

}  // namespace favor::text
