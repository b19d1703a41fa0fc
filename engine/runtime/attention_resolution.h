// A typed attention choice (favor/attention.hpp) resolved into the options of the attention graph
// pass: the kind's features, the hybrid windows, and the statistics read from their files.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/attention_swap.h"
#include "favor/attention.hpp"

namespace favor::runtime {

// The default calibration file of a model: MODEL.favor-stats.
std::string DefaultCalibrationPath(const std::string& model_path);

// The engine's feature kind for a public one (kDefault: the attention kind's own).
rf::RfKind ResolveFeatureKind(const AttentionSpec& spec);

// nullopt for exact attention. `calibration`, when given, is statistics already in memory (favor
// eval calibrates in-process): they replace whatever the spec or its plan names. When the spec asks
// for a plan and `calibration` holds one, that plan is used and no file is read.
absl::StatusOr<std::optional<AttentionSwapOptions>> ResolveAttention(
    const AttentionSpec& spec, const std::string& model_path,
    std::shared_ptr<const rf::Calibration> calibration = nullptr);

// What a resolved attention is, in one phrase for summaries: "exact", "favor+ (posrf M=256, no
// statistics needed)", "hybrid W=64 S=4 (saderf M=256 tail, causal statistics)", "window W=64
// S=4", "hybrid per-head plan S=4 (...)".
std::string DescribeAttention(const AttentionSpec& spec,
                              const std::optional<AttentionSwapOptions>& resolved);

// "0,2,5-7" -> {0, 2, 5, 6, 7}.
absl::StatusOr<std::vector<int64_t>> ParseLayerList(const std::string& text);

}  // namespace favor::runtime
