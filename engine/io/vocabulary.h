// A vocabulary as a model file gives it: the pieces and their types, how text is split before the
// subword model runs, and the special tokens. Pure data; engine/text turns it into a tokenizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace favor::io {

// SentencePiece piece types (the numbering of sentencepiece_model.proto, which GGUF's
// tokenizer.ggml.token_type shares).
enum class PieceType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

// Which subword model the pieces belong to.
enum class VocabularyModel {
  // SentencePiece BPE: U+2581 for spaces, merges by piece score, byte fallback (<0xAB> pieces).
  kSentencePiece,
  // GPT-2 byte-level BPE: every byte is a printable character, merges by rank.
  kByteLevelBpe,
};

// How a Split pre-tokenizer step keeps what its pattern matched (Hugging Face's
// SplitDelimiterBehavior).
enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

// One step of the pre-tokenizer: each cuts every piece the previous steps made.
struct PreTokenizerStep {
  enum class Kind {
    kSplit,      // Cut at the matches of `pattern`.
    kByteLevel,  // GPT-2's split (if use_regex) and optional prefix space; the byte mapping
                 // itself is the model's.
    kDigits,     // Digits apart from the rest (each one alone if individual_digits).
  };
  Kind kind = Kind::kSplit;
  std::string pattern;  // Kind::kSplit: a regular expression (PCRE2 syntax) or a literal.
  bool pattern_is_regex = true;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;   // kByteLevel.
  bool use_regex = true;           // kByteLevel.
  bool individual_digits = false;  // kDigits.
  bool operator==(const PreTokenizerStep&) const = default;
};

// Unicode normalisation applied to text before pre-tokenization.
enum class Normalization { kNone, kNfc, kNfd, kNfkc, kNfkd };

struct Vocabulary {
  VocabularyModel model = VocabularyModel::kSentencePiece;
  std::vector<std::string> pieces;  // SentencePiece: U+2581 for spaces; byte-level: GPT-2 chars.
  std::vector<float> scores;        // SentencePiece BPE merge priority: higher merges first.
  std::vector<PieceType> types;
  // Byte-level BPE: the merges, best first (rank = index), as the two pieces joined.
  std::vector<std::pair<std::string, std::string>> merges;
  // Byte-level BPE: the pre-tokenizer's name as GGUF's tokenizer.ggml.pre gives it ("gpt-2",
  // "llama-bpe", ...), resolved to steps by engine/text; or empty, and `pre_tokenizer` holds the
  // steps (tokenizer.json).
  std::string pre_tokenizer_name;
  std::vector<PreTokenizerStep> pre_tokenizer;
  std::vector<Normalization> normalizers;
  // SentencePiece: whether a space is put before the text (Llama 1/2, Mistral; not Gemma 3).
  bool add_dummy_prefix = true;
  // A pre-token that is itself a piece is taken whole, before any merge (Llama 3, tekken).
  bool ignore_merges = false;
  int32_t unk_id = 0;  // -1: none (byte-level vocabularies need none).
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  // Further tokens that end a generation (end of turn, end of message...): from the metadata.
  std::vector<int32_t> end_of_generation;
  // Added tokens that must not be cut (tokenizer.json's lstrip/rstrip: whitespace beside them is
  // theirs).
  std::vector<int32_t> strip_left, strip_right;
  // Whether encoding a prompt starts with BOS; unset: the tokenizer's default (SentencePiece
  // vocabularies do, byte-level ones as their pre-tokenizer's family does).
  std::optional<bool> add_bos;
  bool add_eos = false;  // Whether encoding a prompt ends with EOS.
  // The model's chat template (Jinja: engine/chat), as the file gives it: GGUF's
  // tokenizer.chat_template, tokenizer_config.json's chat_template (the "default" one of a list)
  // or chat_template.jinja beside it; empty when the model has none.
  std::string chat_template;
  std::string origin;  // "gguf", "llama2.c tokenizer.bin", "tokenizer.json".
};

}  // namespace favor::io
