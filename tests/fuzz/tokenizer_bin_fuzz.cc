// llama2.c tokenizer.bin, turned into a SentencePiece model and used.
#include <cstddef>
#include <cstdint>

#include "engine/io/model_file.h"
#include "engine/text/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/tokenizer_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = favor::fuzz::CopyInput(data, size);
  if (bytes == nullptr) return 0;
  auto vocabulary = favor::io::ParseLlama2cTokenizer(*bytes, "fuzz tokenizer.bin");
  if (!vocabulary.ok()) return 0;
  auto tokenizer = favor::text::Tokenizer::FromVocabulary(*vocabulary);
  if (tokenizer.ok()) favor::fuzz::UseTokenizer(**tokenizer);
  return 0;
}
