// A model loaded from any format (a Hugging Face directory, a llama2.c checkpoint), written as
// llama.cpp's converter writes it to GGUF: the hyper-parameters and the vocabulary as GGUF
// metadata, the tensors under their GGUF names in GGUF's conventions for the architecture (q/k
// rows permuted into adjacent rotary pairs for the Llama family, Gemma's norm weights with the 1
// added). `favor quantize` writes these; the file loads in favor and in llama.cpp as the same
// model.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/io/gguf_file.h"
#include "engine/io/model_file.h"

namespace favor::models {

struct GgufExport {
  io::GgufContents contents;  // Tensors in their source types; general.file_type unset.
  // What a reader of the file should know: settings GGUF carries that llama.cpp ignores, end-of-
  // generation tokens GGUF has no key for.
  std::vector<std::string> notes;
};

// `model` as it came from its loader (before models::ApplyArchitecture: fused matrices still
// fused), with `vocabulary` (the model's own, or its tokenizer file's). Refuses what GGUF cannot
// say, by name: Phi-3.5's longrope factors (only the short ones are loaded), a query scale GGUF
// derives differently (Gemma 2 with its own query_pre_attn_scalar), a vocabulary that would
// tokenize differently (a pre-tokenizer GGUF names no preset for, a normalizer).
absl::StatusOr<GgufExport> ExportToGguf(const io::ModelFile& model,
                                        const io::Vocabulary& vocabulary);

// Checks that the GGUF file at `written` loads as the model `source` is: the same hyper-parameters
// and traits once each file's conventions are applied, the same tensors. (ExportToGguf has checked
// the vocabulary: the GGUF one tokenizes a probe text of mixed scripts, digits, whitespace runs,
// decomposed accents and special-token spellings to the same ids.) The error names the first
// difference.
absl::Status VerifyExport(const io::ModelFile& source, const std::string& written);

}  // namespace favor::models
