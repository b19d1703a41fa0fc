// A .safetensors file under the configuration of tinystories-656K (the seed), so that a file
// whose tensors still fit is built and run.
#include <cstddef>
#include <cstdint>

#include "engine/io/huggingface.h"
#include "engine/io/json.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

constexpr char kConfig[] = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128,
  "intermediate_size": 384, "max_position_embeddings": 512, "num_attention_heads": 8,
  "num_hidden_layers": 2, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
  "rope_theta": 10000.0, "tie_word_embeddings": true, "vocab_size": 2048})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = favor::fuzz::CopyInput(data, size);
  if (bytes == nullptr) return 0;
  favor::io::ModelFile model;
  model.path = "fuzz";
  const auto config = favor::io::Json::Parse(kConfig, "config");
  if (!config.ok() || !favor::io::ParseHuggingFaceConfig(*config, "config", model).ok()) {
    __builtin_trap();  // The fixed configuration must parse.
  }
  if (!favor::io::ParseSafetensors(bytes, "fuzz.safetensors", model).ok()) return 0;
  if (model.tensors.count("output.weight") == 0) model.config.tied_embeddings = true;
  favor::fuzz::BuildAndRun(std::move(model));
  return 0;
}
