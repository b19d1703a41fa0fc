// GGUF files: header, metadata (with the tokenizer), tensor infos, data; then the model is built
// and run when the file describes one.
#include <cstddef>
#include <cstdint>

#include "engine/io/model_file.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = favor::fuzz::CopyInput(data, size);
  if (bytes == nullptr) return 0;
  auto model = favor::io::ParseGguf(bytes, "fuzz.gguf");
  if (model.ok()) favor::fuzz::BuildAndRun(*std::move(model));
  return 0;
}
