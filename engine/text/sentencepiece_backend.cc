// Deliberately includes no Abseil header (see sentencepiece_backend.h).
#include "engine/text/sentencepiece_backend.h"

#include <sentencepiece_processor.h>

namespace favor::text {

struct SentencePieceBackend::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

std::string Message(const sentencepiece::util::Status& status) {
  return status.ok() ? std::string() : status.ToString();
}

}  // namespace

SentencePieceBackend::SentencePieceBackend() : impl_(std::make_unique<Impl>()) {}
SentencePieceBackend::~SentencePieceBackend() = default;

std::string SentencePieceBackend::LoadFromSerializedProto(const std::string& serialized) {
  return Message(impl_->processor.LoadFromSerializedProto(serialized));
}

std::string SentencePieceBackend::Encode(const std::string& text, std::vector<int>* ids) const {
  return Message(impl_->processor.Encode(text, ids));
}

std::string SentencePieceBackend::Decode(const std::vector<int>& ids, std::string* text) const {
  return Message(impl_->processor.Decode(ids, text));
}

int SentencePieceBackend::PieceSize() const { return impl_->processor.GetPieceSize(); }
int SentencePieceBackend::BosId() const { return impl_->processor.bos_id(); }
int SentencePieceBackend::EosId() const { return impl_->processor.eos_id(); }
std::string SentencePieceBackend::IdToPiece(int id) const { return impl_->processor.IdToPiece(id); }

}  // namespace favor::text
