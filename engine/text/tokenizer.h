// The tokenizer: SentencePiece, whatever form the vocabulary comes in. A .model file is loaded as
// is; a vocabulary from a GGUF file, a llama2.c tokenizer.bin or a Hugging Face tokenizer.json is
// turned into an equivalent SentencePiece BPE model (serialized in memory; see
// sentencepiece_proto.h), so one implementation tokenizes everything.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/io/model_file.h"
#include "engine/text/sentencepiece_backend.h"

namespace favor::text {

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSentencePieceFile(const std::string& path);
  // The bytes of a SentencePiece .model (a serialized ModelProto); `origin` names it in errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSentencePieceModel(
      const std::string& serialized, const std::string& origin);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromVocabulary(
      const io::Vocabulary& vocabulary);
  // A .model file, or a llama2.c tokenizer.bin (anything else is tried as tokenizer.bin).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  ~Tokenizer();

  // Token ids of `text`, with BOS first when `add_bos`.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, bool add_bos) const;
  // Text of the ids; control tokens (BOS, EOS) produce no text.
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const;
  std::string IdToPiece(int32_t id) const;
  // Control tokens (BOS, EOS, a chat template's markers) stand for structure, not text: they
  // decode to nothing.
  bool IsControl(int32_t id) const;
  // The characters of `text` (each once, in order of appearance) that the vocabulary cannot
  // represent: they become the unknown token.
  absl::StatusOr<std::vector<std::string>> UnrepresentableCharacters(absl::string_view text) const;

  // Tokens that end a generation: EOS, and BOS (a model that emits BOS begins a new document, as
  // llama2.c's story models do between stories; llama2.c's run.c stops there too).
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
  const std::string& origin() const { return origin_; }

 private:
  Tokenizer();
  void SetSpecialTokens(int32_t bos_id, int32_t eos_id, bool add_bos);
  std::unique_ptr<SentencePieceBackend> processor_;
  std::vector<int32_t> end_of_generation_;
  std::vector<std::string> end_of_generation_texts_;
  int32_t bos_id_ = 1;
  int32_t eos_id_ = 2;
  bool add_bos_ = true;
  std::string origin_;
};

}  // namespace favor::text
