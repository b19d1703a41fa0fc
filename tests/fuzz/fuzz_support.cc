#include "tests/fuzz/fuzz_support.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "models/decoder.h"

namespace favor::fuzz {
namespace {

// Bigger models parse, but running them would make each input slow; the loaders are what is
// being fuzzed, and a model this small already runs every kernel.
constexpr int64_t kMaxRunParameters = int64_t{4} << 20;

io::Vocabulary SmallVocabulary(int64_t size) {
  io::Vocabulary vocabulary;
  vocabulary.origin = "fuzz";
  auto add = [&](std::string piece, io::PieceType type) {
    vocabulary.pieces.push_back(std::move(piece));
    vocabulary.types.push_back(type);
    vocabulary.scores.push_back(-static_cast<float>(vocabulary.scores.size()));
  };
  add("<unk>", io::PieceType::kUnknown);
  add("<s>", io::PieceType::kControl);
  add("</s>", io::PieceType::kControl);
  for (int64_t i = 3; i < size; ++i) add(absl::StrCat("\xe2\x96\x81w", i), io::PieceType::kNormal);
  return vocabulary;
}

}  // namespace

std::shared_ptr<const Storage> CopyInput(const uint8_t* data, size_t size) {
  auto buffer = AlignedBuffer::Create(size);
  if (!buffer.ok()) return nullptr;
  if (size > 0) std::memcpy((*buffer)->data(), data, size);
  return *std::move(buffer);
}

void BuildAndRun(io::ModelFile file) {
  if (!models::ValidateTensors(file).ok()) return;
  int64_t parameters = 0;
  for (const auto& [name, tensor] : file.tensors) parameters += tensor.NumElements();
  if (parameters > kMaxRunParameters) return;
  if (!file.vocabulary.has_value() && file.config.vocab_size >= 3) {
    file.vocabulary = SmallVocabulary(file.config.vocab_size);
  }
  auto model = runtime::Model::FromFile(std::move(file));
  if (!model.ok()) return;
  const int64_t context = std::min<int64_t>((*model)->config().max_seq_len, 8);
  auto session = runtime::Session::Create(**model, {.context = context, .threads = 1});
  if (!session.ok()) return;
  const int32_t tokens[] = {(*model)->tokenizer().bos_id(),
                            static_cast<int32_t>(3 % (*model)->config().vocab_size)};
  (void)(*session)->Feed(std::span<const int32_t>(tokens, context >= 2 ? 2 : 1));
}

}  // namespace favor::fuzz
