// Model architectures as graph builders. A builder turns a loaded model file into an engine Graph
// (input: token ids i32[T]; output: the logits of the last position, f32[1, vocab], after a
// LastRow node that scoring bypasses); the registry maps the architecture
// named in the file to its builder, so adding an architecture is adding one builder here.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/io/model_file.h"

namespace favor::models {

struct BuildOptions {
  DType weights = DType::kF32;  // Matrix weights for compute: f32 or bf16.
};

using Builder = std::function<absl::StatusOr<std::shared_ptr<Graph>>(const io::ModelFile&,
                                                                     const BuildOptions&)>;

// The builder for `architecture`, or an error listing the supported ones.
absl::StatusOr<Builder> FindBuilder(const std::string& architecture);
std::vector<std::string> SupportedArchitectures();

absl::StatusOr<std::shared_ptr<Graph>> BuildGraph(const io::ModelFile& model,
                                                  const BuildOptions& options);

}  // namespace favor::models
