// The only door to libsentencepiece. Its public header declares `namespace absl { using
// std::string_view; }`, which collides with the real Abseil that the rest of the engine uses, so
// SentencePiece is included in exactly one source file (sentencepiece_backend.cc) behind this
// plain interface. Errors come back as messages (empty: success).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace favor::text {

class SentencePieceBackend {
 public:
  SentencePieceBackend();
  ~SentencePieceBackend();
  SentencePieceBackend(const SentencePieceBackend&) = delete;
  SentencePieceBackend& operator=(const SentencePieceBackend&) = delete;

  std::string LoadFromSerializedProto(const std::string& serialized);
  std::string Encode(const std::string& text, std::vector<int>* ids) const;
  // The pieces of `text` that became the unknown token, as they appear in the text.
  std::string UnknownSurfaces(const std::string& text, std::vector<std::string>* surfaces) const;
  std::string Decode(const std::vector<int>& ids, std::string* text) const;

  int PieceSize() const;
  int BosId() const;  // -1 when the model has none.
  int EosId() const;
  std::string IdToPiece(int id) const;
  bool IsControl(int id) const;
  bool IsUnknown(int id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace favor::text
