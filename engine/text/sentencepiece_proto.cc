#include "engine/text/sentencepiece_proto.h"

#include <cstdint>
#include <cstring>
#include <vector>

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

namespace {

// One field of a message as it lies in the bytes.
struct Field {
  uint32_t number;
  uint32_t wire_type;
  size_t begin, end;  // The whole field, tag included.
  size_t payload;     // Where the value (after the tag, and after the length for kind 2) starts.
  uint64_t value;     // Varint value, or the payload length for length-delimited fields.
};

bool ReadVarint(const std::string& bytes, size_t& at, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && at < bytes.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(bytes[at++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// The top-level fields of `bytes`; nullopt if they do not parse.
std::optional<std::vector<Field>> ReadFields(const std::string& bytes) {
  std::vector<Field> fields;
  size_t at = 0;
  while (at < bytes.size()) {
    Field field{};
    field.begin = at;
    uint64_t tag = 0;
    if (!ReadVarint(bytes, at, tag)) return std::nullopt;
    field.number = static_cast<uint32_t>(tag >> 3);
    field.wire_type = static_cast<uint32_t>(tag & 7);
    switch (field.wire_type) {
      case 0:
        if (!ReadVarint(bytes, at, field.value)) return std::nullopt;
        field.payload = at;
        break;
      case 1:
      case 5: {
        const size_t size = field.wire_type == 1 ? 8 : 4;
        if (bytes.size() - at < size) return std::nullopt;
        field.payload = at;
        at += size;
        break;
      }
      case 2:
        if (!ReadVarint(bytes, at, field.value) || field.value > bytes.size() - at) {
          return std::nullopt;
        }
        field.payload = at;
        at += static_cast<size_t>(field.value);
        break;
      default:
        return std::nullopt;
    }
    field.end = at;
    fields.push_back(field);
  }
  return fields;
}

}  // namespace

std::optional<NormalizerSpec> ReadNormalizerSpec(const std::string& serialized_model) {
  const auto fields = ReadFields(serialized_model);
  if (!fields.has_value()) return std::nullopt;
  NormalizerSpec spec;
  std::string name;
  bool has_charsmap = false;
  for (const Field& field : *fields) {
    if (field.number != kNormalizerSpec || field.wire_type != kLengthDelimited) continue;
    const std::string message = serialized_model.substr(field.payload, field.value);
    const auto inner = ReadFields(message);
    if (!inner.has_value()) return std::nullopt;
    for (const Field& f : *inner) {
      if (f.number == kName && f.wire_type == kLengthDelimited) {
        name = message.substr(f.payload, f.value);
      } else if (f.number == 2 && f.wire_type == kLengthDelimited) {
        has_charsmap = f.value > 0;  // precompiled_charsmap
      } else if (f.number == kAddDummyPrefix && f.wire_type == kVarint) {
        spec.add_dummy_prefix = f.value != 0;
      } else if (f.number == kRemoveExtraWhitespaces && f.wire_type == kVarint) {
        spec.remove_extra_whitespaces = f.value != 0;
      }
    }
  }
  spec.identity = name == "identity" && !has_charsmap;
  return spec;
}

std::optional<std::string> WithoutDummyPrefix(const std::string& serialized_model) {
  const auto fields = ReadFields(serialized_model);
  if (!fields.has_value()) return std::nullopt;
  std::string out;
  bool rewritten = false;
  for (const Field& field : *fields) {
    if (field.number != kNormalizerSpec || field.wire_type != kLengthDelimited) {
      out.append(serialized_model, field.begin, field.end - field.begin);
      continue;
    }
    const std::string message = serialized_model.substr(field.payload, field.value);
    const auto inner = ReadFields(message);
    if (!inner.has_value()) return std::nullopt;
    std::string normalizer;
    for (const Field& f : *inner) {
      if (f.number == kAddDummyPrefix) continue;
      normalizer.append(message, f.begin, f.end - f.begin);
    }
    PutInt(normalizer, kAddDummyPrefix, 0);
    PutBytes(out, kNormalizerSpec, normalizer);
    rewritten = true;
  }
  if (!rewritten) {
    // No normalizer spec at all: defaults, with the prefix turned off.
    std::string normalizer;
    PutInt(normalizer, kAddDummyPrefix, 0);
    PutBytes(out, kNormalizerSpec, normalizer);
  }
  return out;
}

}  // namespace favor::text
