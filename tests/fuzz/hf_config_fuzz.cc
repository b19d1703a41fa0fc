// config.json: the JSON reader and the Llama configuration it describes.
#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

#include "engine/io/huggingface.h"
#include "engine/io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = favor::io::Json::Parse(text, "config.json");
  if (!config.ok()) return 0;
  favor::io::ModelFile model;
  (void)favor::io::ParseHuggingFaceConfig(*config, "config.json", model);
  return 0;
}
