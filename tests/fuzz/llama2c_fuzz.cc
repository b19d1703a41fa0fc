// llama2.c checkpoints (legacy, v1 f32 and v2 int8); then the model is built and run.
#include <cstddef>
#include <cstdint>

#include "engine/io/model_file.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = favor::fuzz::CopyInput(data, size);
  if (bytes == nullptr) return 0;
  auto model = favor::io::ParseLlama2c(bytes, "fuzz.bin");
  if (model.ok()) favor::fuzz::BuildAndRun(*std::move(model));
  return 0;
}
