// The tokenizer: whatever form the vocabulary comes in (a GGUF file, a Hugging Face
// tokenizer.json, a SentencePiece .model, a llama2.c tokenizer.bin), one interface. SentencePiece
// vocabularies run on the SentencePiece library (a vocabulary that is not already a .model is
// serialized into one in memory; see sentencepiece_proto.h); byte-level BPE vocabularies on our
// own BPE with the vocabulary's pre-tokenizer (byte_level_model.h). Special tokens are found here,
// for both.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/io/vocabulary.h"
#include "engine/text/special_tokens.h"
#include "engine/text/subword_model.h"

namespace favor::text {

struct EncodeOptions {
  bool add_bos = false;  // BOS first (pass Tokenizer::add_bos() for what the vocabulary wants).
  bool add_eos = false;  // EOS last.
  // Control tokens written in the text ("<|im_end|>") become those tokens; otherwise they are
  // tokenized as the characters they are made of, as user text should be.
  bool parse_special = false;
};

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSentencePieceFile(const std::string& path);
  // The bytes of a SentencePiece .model (a serialized ModelProto); `origin` names it in errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSentencePieceModel(
      const std::string& serialized, const std::string& origin);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromVocabulary(
      const io::Vocabulary& vocabulary);
  // A tokenizer.json, a .model, a GGUF file (a model or a vocabulary-only file) or a llama2.c
  // tokenizer.bin (anything unrecognised is tried as tokenizer.bin).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  ~Tokenizer();

  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text,
                                              const EncodeOptions& options) const;
  // Token ids of `text`, with BOS first when `add_bos`.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, bool add_bos) const {
    return Encode(text, EncodeOptions{.add_bos = add_bos});
  }
  // Text of the ids (valid UTF-8); control tokens (BOS, EOS) produce no text.
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const;
  // The piece as the vocabulary stores it ("▁the", "Ġthe", "<|im_end|>").
  std::string IdToPiece(int32_t id) const;
  // The bytes the token stands for in running text (" the"; a byte token's byte, possibly part of
  // a character), or a control token's piece ("<|im_end|>"): what llama-tokenize prints.
  std::string TokenText(int32_t id) const;
  // Control tokens (BOS, EOS, a chat template's markers) stand for structure, not text: they
  // decode to nothing.
  bool IsControl(int32_t id) const;
  // The characters of `text` (each once, in order of appearance) that the vocabulary cannot
  // represent: they become the unknown token (SentencePiece), or are dropped (the few bytes some
  // byte-level vocabularies have no piece for).
  absl::StatusOr<std::vector<std::string>> UnrepresentableCharacters(absl::string_view text) const;
  // The same, knowing the text's ids: nothing to look for (no second pass) unless one of them is
  // the unknown token.
  absl::StatusOr<std::vector<std::string>> UnrepresentableCharacters(
      absl::string_view text, std::span<const int32_t> ids) const;

  // Tokens that end a generation: EOS, the end-of-turn and end-of-message tokens the metadata
  // names or the vocabulary spells as such ("<|eot_id|>", "<|im_end|>", "<end_of_turn>", ...), and
  // BOS (a model that emits BOS begins a new document, as llama2.c's story models do between
  // stories; llama2.c's run.c stops there too).
  const std::vector<int32_t>& end_of_generation() const { return end_of_generation_; }
  bool IsEndOfGeneration(int32_t id) const;
  // The same tokens as text, for models that learned to spell them out with ordinary pieces
  // (tinystories-656K writes "<|end_story|>" as "<|", "end", ...): the texts of those of them that
  // look like markers ("<...>"). Generation treats them as end-of-generation too.
  const std::vector<std::string>& end_of_generation_texts() const {
    return end_of_generation_texts_;
  }

  int32_t vocab_size() const;
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  const std::string& origin() const { return origin_; }
  // The model's chat template (Jinja), empty when its files have none.
  const std::string& chat_template() const { return chat_template_; }
  // "SentencePiece BPE" or "byte-level BPE (pre-tokenizer llama-bpe)", for -v and errors.
  const std::string& description() const { return description_; }

 private:
  Tokenizer(std::unique_ptr<SubwordModel> model, SpecialTokens special_tokens);
  void SetSpecialTokens(int32_t bos_id, int32_t eos_id, std::span<const int32_t> end_of_generation);

  std::unique_ptr<SubwordModel> model_;
  SpecialTokens special_tokens_;
  // Whether user-defined tokens are found here even when special tokens are not parsed: always for
  // vocabularies we build (llama.cpp's and Hugging Face's behaviour); a SentencePiece .model is
  // left to the library, its reference.
  bool partition_always_ = false;
  std::vector<int32_t> end_of_generation_;
  std::vector<std::string> end_of_generation_texts_;
  int32_t bos_id_ = 1;
  int32_t eos_id_ = 2;
  bool add_bos_ = true;
  bool add_eos_ = false;
  std::string origin_;
  std::string description_;
  std::string chat_template_;
};

}  // namespace favor::text
