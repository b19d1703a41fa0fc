// Deliberately includes no Abseil header (see sentencepiece_backend.h).
#include "engine/text/sentencepiece_backend.h"

#include <sentencepiece_processor.h>

#include <exception>

namespace favor::text {

struct SentencePieceBackend::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

std::string Message(const sentencepiece::util::Status& status) {
  return status.ok() ? std::string() : status.ToString();
}

// libsentencepiece reports most problems as a Status, but some corrupt models make it throw
// (its Darts trie builder throws on a piece that holds a NUL byte, found by fuzzing); an
// exception must not cross into the engine, so it becomes a message like any other error.
template <typename Call>
std::string Guarded(Call&& call) {
  try {
    return Message(call());
  } catch (const std::exception& e) {
    return std::string("the model is corrupt (") + e.what() + ")";
  } catch (...) {
    return "the model is corrupt (SentencePiece threw an unknown exception)";
  }
}

}  // namespace

SentencePieceBackend::SentencePieceBackend() : impl_(std::make_unique<Impl>()) {}
SentencePieceBackend::~SentencePieceBackend() = default;

std::string SentencePieceBackend::LoadFromSerializedProto(const std::string& serialized) {
  std::string error = Guarded([&] { return impl_->processor.LoadFromSerializedProto(serialized); });
  if (!error.empty()) impl_ = std::make_unique<Impl>();  // Nothing half-built stays behind.
  return error;
}

std::string SentencePieceBackend::Encode(const std::string& text, std::vector<int>* ids) const {
  return Guarded([&] { return impl_->processor.Encode(text, ids); });
}

std::string SentencePieceBackend::UnknownSurfaces(const std::string& text,
                                                  std::vector<std::string>* surfaces) const {
  surfaces->clear();
  return Guarded([&] {
    sentencepiece::ImmutableSentencePieceText pieces;
    auto status = impl_->processor.Encode(text, pieces.mutable_proto());
    if (!status.ok()) return status;
    for (const auto& piece : pieces.pieces()) {
      if (impl_->processor.IsUnknown(static_cast<int>(piece.id()))) {
        surfaces->push_back(piece.surface());
      }
    }
    return status;
  });
}

std::string SentencePieceBackend::Decode(const std::vector<int>& ids, std::string* text) const {
  return Guarded([&] { return impl_->processor.Decode(ids, text); });
}

int SentencePieceBackend::PieceSize() const { return impl_->processor.GetPieceSize(); }
int SentencePieceBackend::BosId() const { return impl_->processor.bos_id(); }
int SentencePieceBackend::EosId() const { return impl_->processor.eos_id(); }
std::string SentencePieceBackend::IdToPiece(int id) const { return impl_->processor.IdToPiece(id); }
bool SentencePieceBackend::IsControl(int id) const { return impl_->processor.IsControl(id); }
bool SentencePieceBackend::IsUnknown(int id) const { return impl_->processor.IsUnknown(id); }

}  // namespace favor::text
