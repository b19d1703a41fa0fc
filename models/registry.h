// From a loaded model file to its graph: the architecture's traits applied to the config
// (models/architecture.h), the tensors checked against what the decoder reads, and the generic
// decoder built (models/decoder.h).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/io/model_file.h"
#include "models/architecture.h"
#include "models/decoder.h"

namespace favor::models {

// Applies the architecture's traits to `model.config` (so that the caller's config says what was
// built), validates the tensors and builds the graph.
absl::StatusOr<std::shared_ptr<Graph>> BuildGraph(io::ModelFile& model,
                                                  const BuildOptions& options);

}  // namespace favor::models
