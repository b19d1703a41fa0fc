// Byte-level BPE (GPT-2 and its descendants: Llama 3, Qwen, DeepSeek, StarCoder, ...): the bytes
// of a pre-token spelled in GPT-2's alphabet, then merged pairwise, lowest merge rank first, as
// long as a merge applies. Pieces a merge makes but the vocabulary lacks (a vocabulary may drop
// them) take part in later merges and fall back to their characters at the end.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/io/vocabulary.h"
#include "engine/text/byte_level_alphabet.h"

namespace favor::text {

class ByteLevelBpe {
 public:
  // The pieces and merges of `vocabulary`; an error names a merge that is not two pieces.
  static absl::StatusOr<ByteLevelBpe> Create(const io::Vocabulary& vocabulary);

  // Appends the ids of one pre-token (raw bytes, with a space first if `prefix_space`).
  void Encode(absl::string_view bytes, bool prefix_space, std::vector<int32_t>& ids) const;
  // The bytes a normal piece stands for; nullopt if it is not spelled in the alphabet.
  std::optional<std::string> PieceBytes(int32_t id) const;

  const ByteLevelAlphabet& alphabet() const { return alphabet_; }
  // Whether the vocabulary has a piece for the byte's character (some lack a few control bytes:
  // Falcon's has no piece for 0x17; those bytes are dropped, as llama.cpp and Hugging Face do).
  bool HasByte(unsigned char byte) const { return byte_symbols_[byte] < vocab_size_; }

 private:
  ByteLevelBpe() = default;
  int32_t Intern(const std::string& piece);
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  // Appends the ids of a symbol: its own, or its characters' when the vocabulary lacks it.
  void EmitSymbol(int32_t symbol, std::vector<int32_t>& ids) const;

  struct Merge {
    int32_t rank;
    int32_t result;
  };

  ByteLevelAlphabet alphabet_;
  int32_t vocab_size_ = 0;
  // Symbols: the vocabulary's pieces (ids below vocab_size_), then pieces only merges make.
  std::vector<std::string> symbols_;
  absl::flat_hash_map<std::string, int32_t> symbol_ids_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_symbols_{};  // The symbol of each byte's character.
  bool ignore_merges_ = false;
};

}  // namespace favor::text
