// GPT-2's byte-to-character mapping: byte-level BPE vocabularies spell every byte as a printable
// character (the printable Latin-1 bytes as themselves, the other 68 bytes as U+0100 onwards, in
// byte order), so that pieces are text and a space is 'Ġ' (U+0120).
#pragma once

#include <array>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace favor::text {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();

  // The character (UTF-8) that stands for `byte`.
  const std::string& Character(unsigned char byte) const { return characters_[byte]; }
  // `bytes` spelled in the alphabet.
  std::string Encode(absl::string_view bytes) const;
  // The bytes a piece spells; nullopt if a character of it is not in the alphabet.
  std::optional<std::string> Decode(absl::string_view piece) const;

 private:
  std::array<std::string, 256> characters_;
  std::array<int, 512> byte_of_codepoint_;  // -1: not a character of the alphabet.
};

}  // namespace favor::text
