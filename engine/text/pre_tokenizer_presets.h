// The pre-tokenizers GGUF files name in tokenizer.ggml.pre, as steps: the regular expressions
// each family's tokenizer.json declares (as llama.cpp's converter names them), applied in order,
// each isolating its matches.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/io/vocabulary.h"

namespace favor::text {

struct PreTokenizerPreset {
  std::vector<io::PreTokenizerStep> steps;
  bool ignore_merges = false;  // A pre-token that is a piece is taken whole (Llama 3, tekken).
  bool add_bos = false;        // Whether prompts start with BOS when the file does not say.
};

// The preset for a tokenizer.ggml.pre name; an error lists the names known.
absl::StatusOr<PreTokenizerPreset> FindPreTokenizerPreset(absl::string_view name);

// The name GGUF gives a tokenizer.json pre-tokenizer (its steps, and whether a pre-token that is a
// piece is taken whole), for writing tokenizer.ggml.pre; nullopt when no preset splits the same
// way. GPT-2's ByteLevel split is its regular expression; a ByteLevel step without one only maps
// bytes, which the model does anyway.
std::optional<std::string> NamePreTokenizer(std::span<const io::PreTokenizerStep> steps,
                                            bool ignore_merges);

}  // namespace favor::text
