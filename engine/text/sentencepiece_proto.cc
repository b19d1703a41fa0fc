#include "engine/text/sentencepiece_proto.h"

#include <cstdint>
#include <cstring>

namespace favor::text {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed32 = 5, kLengthDelimited = 2 };

void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void PutTag(std::string& out, uint32_t field, WireType type) {
  PutVarint(out, (field << 3) | type);
}

// int32 fields are encoded as 64-bit varints (negative values take 10 bytes).
void PutInt(std::string& out, uint32_t field, int64_t value) {
  PutTag(out, field, kVarint);
  PutVarint(out, static_cast<uint64_t>(value));
}

void PutBytes(std::string& out, uint32_t field, const std::string& bytes) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, bytes.size());
  out += bytes;
}

void PutFloat(std::string& out, uint32_t field, float value) {
  PutTag(out, field, kFixed32);
  char bytes[4];
  std::memcpy(bytes, &value, 4);
  out.append(bytes, 4);
}

// ModelProto.SentencePiece fields.
constexpr uint32_t kPiece = 1, kScore = 2, kType = 3;
// ModelProto fields.
constexpr uint32_t kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3;
// TrainerSpec fields.
constexpr uint32_t kModelType = 3, kVocabSize = 4, kByteFallback = 35, kUnkId = 40, kBosId = 41,
                   kEosId = 42, kPadId = 43, kUnkPiece = 45, kBosPiece = 46, kEosPiece = 47;
constexpr int64_t kModelTypeBpe = 2;
// NormalizerSpec fields.
constexpr uint32_t kName = 1, kAddDummyPrefix = 3, kRemoveExtraWhitespaces = 4,
                   kEscapeWhitespaces = 5;

}  // namespace

std::string SerializeSentencePieceModel(const io::Vocabulary& v) {
  std::string model;
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    std::string piece;
    PutBytes(piece, kPiece, v.pieces[i]);
    PutFloat(piece, kScore, v.scores[i]);
    // SentencePiece has exactly one unknown piece, the one the vocabulary names; others typed so
    // (Phi-3's [PAD...] fillers) are pieces no text becomes, which is what "unused" means to it.
    io::PieceType type = v.types[i];
    if (static_cast<int32_t>(i) == v.unk_id) {
      type = io::PieceType::kUnknown;
    } else if (type == io::PieceType::kUnknown) {
      type = io::PieceType::kUnused;
    }
    PutInt(piece, kType, static_cast<int64_t>(type));
    PutBytes(model, kPieces, piece);
  }
  std::string trainer;
  PutInt(trainer, kModelType, kModelTypeBpe);
  PutInt(trainer, kVocabSize, static_cast<int64_t>(v.pieces.size()));
  // Byte fallback needs all 256 <0xXX> pieces; a vocabulary without them (some Hugging Face BPE
  // models declare byte_fallback but ship no byte tokens) falls back to <unk>, as their reference
  // tokenizer does.
  int64_t byte_pieces = 0;
  for (io::PieceType type : v.types) byte_pieces += type == io::PieceType::kByte ? 1 : 0;
  PutInt(trainer, kByteFallback, byte_pieces == 256 ? 1 : 0);
  PutInt(trainer, kUnkId, v.unk_id);
  PutInt(trainer, kBosId, v.bos_id);
  PutInt(trainer, kEosId, v.eos_id);
  PutInt(trainer, kPadId, -1);
  PutBytes(trainer, kUnkPiece, v.pieces[static_cast<size_t>(v.unk_id)]);
  PutBytes(trainer, kBosPiece, v.pieces[static_cast<size_t>(v.bos_id)]);
  PutBytes(trainer, kEosPiece, v.pieces[static_cast<size_t>(v.eos_id)]);
  PutBytes(model, kTrainerSpec, trainer);
  std::string normalizer;
  PutBytes(normalizer, kName, "identity");
  PutInt(normalizer, kAddDummyPrefix, v.add_dummy_prefix ? 1 : 0);
  PutInt(normalizer, kRemoveExtraWhitespaces, 0);
  PutInt(normalizer, kEscapeWhitespaces, 1);
  PutBytes(model, kNormalizerSpec, normalizer);
  return model;
}

}  // namespace favor::text
