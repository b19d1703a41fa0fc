// What a path given as a model is, told by its content (magic numbers, headers, JSON keys), not
// its name, before any parser runs: a user who points -m at a tokenizer, a config, a statistics
// file or a README gets told what it is and what to pass instead, not a parser's complaint about
// "layers = 1600070267".
#pragma once

#include <string>

namespace favor::io {

enum class FileKind {
  kMissing,
  kDirectory,
  kGguf,
  kSafetensors,
  kLlama2cCheckpoint,  // Versioned ("ak42") or a legacy header whose numbers are plausible.
  kHuggingFaceConfig,  // config.json
  kSafetensorsIndex,   // model.safetensors.index.json
  kTokenizerJson,      // tokenizer.json
  kTokenizerConfig,    // tokenizer_config.json, special_tokens_map.json, generation_config.json
  kOtherJson,
  kSentencePieceModel,  // tokenizer.model
  kLlama2cTokenizer,    // tokenizer.bin
  kFavorStatistics,     // written by favor calibrate
  kText,
  kUnknown,
};

FileKind IdentifyFile(const std::string& path);

// "a SentencePiece tokenizer model", "a Hugging Face config.json", ...
const char* FileKindDescription(FileKind kind);

}  // namespace favor::io
