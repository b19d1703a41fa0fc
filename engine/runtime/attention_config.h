// The user's choice of attention, as the CLI and the library take it, resolved into graph-pass
// options: `exact`, or `favor+` (PosRF + ORF), `favor++` (OPRF + ORF), `favor#` (SADERF + ORF by
// default; `rf` picks any positive kind), `hybrid` (exact sinks and window, favor# tail),
// `window` (exact sinks and window only), with M features, a seed, the layers to swap, and where
// the statistics come from: `prompt`, `calibrated` (the file `favor calibrate` wrote beside the
// model: MODEL.favor-stats) or an explicit calibration file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/attention_swap.h"

namespace favor::runtime {

struct AttentionConfig {
  std::string kind = "exact";  // exact | favor+ | favor++ | favor#
  std::string rf;              // Overrides the kind's features (posrf, oprf, saderf, aderf, sderf).
  int64_t features = 256;
  uint64_t seed = 0;
  // prompt | calibrated | causal (hybrid) | FILE; empty: the kind's default (favor+/++/#: prompt;
  // hybrid: calibrated when MODEL.favor-stats exists, else causal).
  std::string stats;
  std::vector<int64_t> layers;  // Empty: all.
  int64_t chunk = 64;
  // Hybrid attention: `kind` hybrid (favor# tail), window (the window-only baseline: no tail), or
  // any favor kind with a window or sinks given. -1: the default (64 and 4) or not hybrid.
  int64_t window = -1;
  int64_t sinks = -1;
  // A per-head hybrid plan (favor calibrate --plan): `calibrated` (MODEL.favor-stats) or FILE. It
  // makes the attention hybrid (unless `kind` is another approximate one), with the plan's
  // windows, sinks (unless `sinks` is given) and tail kind (unless `kind` or `rf` name one), and
  // takes the file's statistics unless `stats` names others.
  std::string plan;
  // Statistics already in memory (favor eval calibrates in-process); overrides `stats`.
  std::shared_ptr<const rf::Calibration> calibration;
};

// The default calibration file of a model.
std::string DefaultCalibrationPath(const std::string& model_path);

// nullopt for exact attention.
absl::StatusOr<std::optional<AttentionSwapOptions>> ResolveAttention(const AttentionConfig& config,
                                                                     const std::string& model_path);

// What a resolved attention is, in one phrase for summaries, under the name the user gave it:
// "exact", "favor+ (posrf M=256, no statistics needed)", "hybrid W=64 S=4 (saderf tail M=256,
// causal statistics)", "window W=64 S=4".
std::string DescribeAttention(const std::string& name,
                              const std::optional<AttentionSwapOptions>& resolved);

// "0,2,5-7" -> {0, 2, 5, 6, 7}.
absl::StatusOr<std::vector<int64_t>> ParseLayerList(const std::string& text);

}  // namespace favor::runtime
