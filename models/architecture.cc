#include "models/architecture.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"

namespace favor::models {
namespace {

constexpr std::array<Architecture, 2> kArchitectures = {{
    {.name = "llama",
     .norm = io::NormKind::kRms,
     .norm_adds_one = false,
     .feed_forward = io::FeedForwardKind::kSwiGlu,
     .positions = io::PositionKind::kRotary},
    // Qwen2 / Qwen2.5: Llama with biases on q, k and v.
    {.name = "qwen2",
     .norm = io::NormKind::kRms,
     .norm_adds_one = false,
     .feed_forward = io::FeedForwardKind::kSwiGlu,
     .positions = io::PositionKind::kRotary,
     .attention_bias = true,
     .gguf_rotary_pairs = io::RotaryPairs::kHalves},
}};

}  // namespace

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> names;
  for (const Architecture& a : kArchitectures) names.emplace_back(a.name);
  return names;
}

absl::StatusOr<const Architecture*> FindArchitecture(std::string_view name) {
  for (const Architecture& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return absl::UnimplementedError(absl::StrCat(
      "architecture '", std::string(name),
      "' is not supported (supported: ", absl::StrJoin(SupportedArchitectures(), ", "), ")"));
}

absl::Status ApplyArchitecture(io::ModelFile& model) {
  io::ModelConfig& config = model.config;
  FAVOR_ASSIGN_OR_RETURN(const Architecture* a, FindArchitecture(config.architecture));
  config.norm = a->norm;
  config.norm_adds_one = a->norm_adds_one;
  config.feed_forward = a->feed_forward;
  config.positions = a->positions;
  config.attention_bias = a->attention_bias;
  if (model.gguf) config.rotary_pairs = a->gguf_rotary_pairs;
  return absl::OkStatus();
}

}  // namespace favor::models
