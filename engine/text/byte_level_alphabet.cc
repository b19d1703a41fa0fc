#include "engine/text/byte_level_alphabet.h"

#include "engine/text/utf8.h"

namespace favor::text {
namespace {

bool StandsForItself(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

}  // namespace

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_codepoint_.fill(-1);
  uint32_t next_shifted = 256;
  for (int byte = 0; byte < 256; ++byte) {
    const uint32_t codepoint = StandsForItself(byte) ? static_cast<uint32_t>(byte) : next_shifted++;
    AppendCodepoint(codepoint, characters_[static_cast<size_t>(byte)]);
    byte_of_codepoint_[codepoint] = byte;
  }
}

std::string ByteLevelAlphabet::Encode(absl::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char byte : bytes) out += characters_[static_cast<unsigned char>(byte)];
  return out;
}

std::optional<std::string> ByteLevelAlphabet::Decode(absl::string_view piece) const {
  std::string out;
  out.reserve(piece.size());
  for (size_t at = 0; at < piece.size();) {
    const auto lead = static_cast<unsigned char>(piece[at]);
    uint32_t codepoint;
    if (lead < 0x80) {
      codepoint = lead;
      at += 1;
    } else if ((lead & 0xE0) == 0xC0 && at + 1 < piece.size()) {
      codepoint = ((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(piece[at + 1]) & 0x3Fu);
      at += 2;
    } else {
      return std::nullopt;  // Three- and four-byte characters are never in the alphabet.
    }
    if (codepoint >= byte_of_codepoint_.size() || byte_of_codepoint_[codepoint] < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(byte_of_codepoint_[codepoint]));
  }
  return out;
}

}  // namespace favor::text
