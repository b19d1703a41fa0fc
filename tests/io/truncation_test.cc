// Every prefix of every real model file is refused: every byte of the headers, metadata,
// vocabularies and tensor tables, and a stride through the weights. Parsed from memory (the
// loaders' own code path), so the sweep takes seconds even under the sanitizers.
#include <cctype>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/core/storage.h"
#include "engine/io/huggingface.h"
#include "engine/io/json.h"
#include "engine/io/model_file.h"
#include "engine/io/tokenizer_json.h"
#include "tests/io/corrupt_files.h"
#include "tests/test_util.h"

namespace favor::io {
namespace {

using testing::ReadAll;

const std::string kModels = favor::testing::ModelsDir();

std::shared_ptr<const Storage> Prefix(const std::string& bytes, size_t length) {
  auto buffer = AlignedBuffer::Create(length).value();
  if (length > 0) std::memcpy(buffer->data(), bytes.data(), length);
  return buffer;
}

// Every length below `dense`, then every `stride` bytes, then the last few.
std::vector<size_t> Cuts(size_t size, size_t dense, size_t stride) {
  std::vector<size_t> cuts;
  for (size_t cut = 0; cut < size; cut += cut < dense ? 1 : stride) cuts.push_back(cut);
  for (size_t back = 1; back <= 8 && back <= size; ++back) cuts.push_back(size - back);
  return cuts;
}

TEST(Truncation, EveryPrefixOfAGgufFileIsRefused) {
  FAVOR_REQUIRE_MODELS();
  const std::string bytes = ReadAll(kModels + "/stories260K/tinyllamas-stories-260k-f32.gguf");
  ASSERT_TRUE(ParseGguf(Prefix(bytes, bytes.size()), "whole").ok());
  // The metadata (with the 512-token vocabulary) and the tensor table take the first 11.5 KB.
  for (size_t cut : Cuts(bytes.size(), 12 * 1024, 4093)) {
    auto model = ParseGguf(Prefix(bytes, cut), "prefix");
    ASSERT_FALSE(model.ok()) << "a prefix of " << cut << " bytes parsed";
  }
}

TEST(Truncation, EveryPrefixOfALlama2cCheckpointIsRefused) {
  FAVOR_REQUIRE_MODELS();
  const std::string bytes = ReadAll(kModels + "/stories260K/stories260K.bin");
  ASSERT_TRUE(ParseLlama2c(Prefix(bytes, bytes.size()), "whole").ok());
  // The last 16 KB are RoPE tables that llama2.c stores and the engine skips; without them the
  // file is still short of what its header promises.
  for (size_t cut : Cuts(bytes.size(), 1024, 509)) {
    auto model = ParseLlama2c(Prefix(bytes, cut), "prefix");
    ASSERT_FALSE(model.ok()) << "a prefix of " << cut << " bytes parsed";
  }
}

TEST(Truncation, EveryPrefixOfASafetensorsFileIsRefused) {
  FAVOR_REQUIRE_MODELS();
  const std::string bytes = ReadAll(kModels + "/tinystories-656K/model.safetensors");
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  for (size_t cut : Cuts(bytes.size(), 8 + header + 64, 4093)) {
    ModelFile model;
    ASSERT_FALSE(ParseSafetensors(Prefix(bytes, cut), "prefix", model).ok())
        << "a prefix of " << cut << " bytes parsed";
  }
}

TEST(Truncation, EveryPrefixOfATokenizerIsRefusedOrShorterThanTheModel) {
  FAVOR_REQUIRE_MODELS();
  // tokenizer.bin: a prefix that ends between two tokens is a valid, smaller vocabulary; the
  // model then refuses it (MismatchedTokenizerVocabulary). Anything else is an error.
  const std::string bin = ReadAll(kModels + "/stories260K/tok512.bin");
  for (size_t cut : Cuts(bin.size(), bin.size(), 1)) {
    auto vocabulary = ParseLlama2cTokenizer(*Prefix(bin, cut), "prefix");
    ASSERT_TRUE(!vocabulary.ok() || vocabulary->pieces.size() < 512) << cut;
  }
  const std::string json = ReadAll(kModels + "/tinystories-656K/tokenizer.json");
  const Json config = Json::Parse("{}", "config").value();
  for (size_t cut : Cuts(json.size(), 4096, 97)) {
    ASSERT_FALSE(ParseTokenizerJson(json.substr(0, cut), "prefix", config).ok()) << cut;
  }
  std::string config_text = ReadAll(kModels + "/tinystories-656K/config.json");
  while (!config_text.empty() && std::isspace(static_cast<unsigned char>(config_text.back()))) {
    config_text.pop_back();  // A prefix that drops only the final newline is the whole file.
  }
  for (size_t cut : Cuts(config_text.size(), config_text.size(), 1)) {
    auto parsed = Json::Parse(config_text.substr(0, cut), "prefix");
    ModelFile model;
    ASSERT_TRUE(!parsed.ok() || !ParseHuggingFaceConfig(*parsed, "prefix", model).ok()) << cut;
  }
}

}  // namespace
}  // namespace favor::io
