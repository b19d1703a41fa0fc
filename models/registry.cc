#include "models/registry.h"

#include "engine/core/status.h"

namespace favor::models {

absl::StatusOr<std::shared_ptr<Graph>> BuildGraph(io::ModelFile& model,
                                                  const BuildOptions& options) {
  if (auto applied = ApplyArchitecture(model); !applied.ok()) {
    return WithContext(applied, model.path);
  }
  FAVOR_RETURN_IF_ERROR(ValidateTensors(model));
  return BuildDecoder(model, options);
}

}  // namespace favor::models
