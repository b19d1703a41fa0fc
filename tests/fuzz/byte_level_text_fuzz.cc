// Byte-level BPE on arbitrary text: llama.cpp's vocabularies with the most intricate
// pre-tokenizers (GPT-2's look-ahead, DeepSeek's six splits, Falcon's digit triples) on random
// bytes, valid UTF-8 or not. The first byte picks the vocabulary and whether special tokens are
// parsed. Without them, decoding gives back valid UTF-8 text exactly unless the tokenizer says
// some of it is unrepresentable (Falcon has no piece for 0x17); a mismatch traps. (Bytes
// that are not UTF-8 are encoded as their byte pieces, but some vocabularies spell the bytes that
// never occur in UTF-8 only as added tokens, DeepSeek's 'ÿ' say, which decode as their text.)
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8.h"

namespace {

std::vector<std::unique_ptr<favor::text::Tokenizer>> LoadVocabularies() {
  std::vector<std::unique_ptr<favor::text::Tokenizer>> tokenizers;
  for (const char* name : {"gpt-2", "deepseek-llm", "falcon", "starcoder"}) {
    auto tokenizer = favor::text::Tokenizer::FromFile(std::string(FAVOR_VOCAB_DIR) +
                                                      "/ggml-vocab-" + name + ".gguf");
    if (!tokenizer.ok()) __builtin_trap();  // The fixtures are part of the build.
    tokenizers.push_back(*std::move(tokenizer));
  }
  return tokenizers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Loaded once per process: the harness's only state, read-only after this line.
  static const auto tokenizers = LoadVocabularies();
  if (size == 0) return 0;
  const favor::text::Tokenizer& tokenizer = *tokenizers[data[0] % tokenizers.size()];
  const bool parse_special = (data[0] & 0x80) != 0;
  const absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto ids = tokenizer.Encode(text, {.parse_special = parse_special});
  if (!ids.ok()) __builtin_trap();  // Every text has an encoding.
  auto decoded = tokenizer.Decode(*ids);
  if (!decoded.ok()) __builtin_trap();
  // Text the vocabulary can represent: valid UTF-8 (see above) whose bytes all have pieces.
  const bool valid = favor::text::ValidPrefixLength(text) == text.size();
  auto unrepresentable = tokenizer.UnrepresentableCharacters(text, *ids);
  if (!unrepresentable.ok()) __builtin_trap();
  if (!parse_special && valid && unrepresentable->empty() && *decoded != text) __builtin_trap();
  return 0;
}
