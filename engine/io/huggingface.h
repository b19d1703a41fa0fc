// The parts of a Hugging Face model directory, each parsed from bytes already in memory, so that
// LoadHuggingFace (model_file.h) and the fuzz targets share one code path. `source` names the
// file in error messages.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/core/storage.h"
#include "engine/io/json.h"
#include "engine/io/model_file.h"

namespace favor::io {

// config.json (LlamaForCausalLM): fills model.config (validated) and model.metadata.
absl::Status ParseHuggingFaceConfig(const Json& config, const std::string& source,
                                    ModelFile& model);

// One .safetensors file: adds its tensors, under canonical names, to model.tensors (views into
// `file`, which they keep alive). A name already present is an error.
absl::Status ParseSafetensors(std::shared_ptr<const Storage> file, const std::string& source,
                              ModelFile& model);

}  // namespace favor::io
