// SentencePiece .model files (serialized ModelProto), as --tokenizer loads them. The parser is
// libsentencepiece's (not instrumented for coverage); what is checked is that a corrupt file gives
// an error rather than a crash in the engine or the library.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/text/tokenizer.h"
#include "tests/fuzz/tokenizer_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto tokenizer = favor::text::Tokenizer::FromSentencePieceModel(bytes, "fuzz.model");
  if (tokenizer.ok()) favor::fuzz::UseTokenizer(**tokenizer);
  return 0;
}
