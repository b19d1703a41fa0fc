#include "models/registry.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/llama.h"

namespace favor::models {
namespace {

// Immutable after first use.
const std::map<std::string, Builder>& Builders() {
  static const std::map<std::string, Builder> builders = {
      {"llama", BuildLlama},
  };
  return builders;
}

}  // namespace

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> names;
  for (const auto& [name, builder] : Builders()) names.push_back(name);
  return names;
}

absl::StatusOr<Builder> FindBuilder(const std::string& architecture) {
  auto it = Builders().find(architecture);
  if (it == Builders().end()) {
    return absl::UnimplementedError(absl::StrCat(
        "architecture '", architecture,
        "' is not supported (supported: ", absl::StrJoin(SupportedArchitectures(), ", "), ")"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<Graph>> BuildGraph(const io::ModelFile& model,
                                                  const BuildOptions& options) {
  auto builder = FindBuilder(model.config.architecture);
  if (!builder.ok())
    return absl::Status(builder.status().code(),
                        absl::StrCat(model.path, ": ", builder.status().message()));
  return (*builder)(model, options);
}

}  // namespace favor::models
