#include "models/architecture.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"

namespace favor::models {
namespace {

constexpr std::array<Architecture, 1> kArchitectures = {{
    {.name = "llama",
     .norm = io::NormKind::kRms,
     .norm_adds_one = false,
     .feed_forward = io::FeedForwardKind::kSwiGlu,
     .positions = io::PositionKind::kRotary},
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

absl::Status ApplyArchitecture(io::ModelConfig& config) {
  FAVOR_ASSIGN_OR_RETURN(const Architecture* a, FindArchitecture(config.architecture));
  config.norm = a->norm;
  config.norm_adds_one = a->norm_adds_one;
  config.feed_forward = a->feed_forward;
  config.positions = a->positions;
  return absl::OkStatus();
}

}  // namespace favor::models
