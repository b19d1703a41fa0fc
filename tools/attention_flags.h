// The attention options of every command, declared once (names, help, defaults) and parsed into
// the typed favor::AttentionSpec: the CLI's one boundary for attention. A command that runs one
// attention (generate) takes one value per option; a command that sweeps a grid (eval, bench)
// takes lists for the kinds, M, statistics, windows, sinks and plans, and runs every combination.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "favor/attention.hpp"
#include "tools/cli_args.h"

namespace favor::cli {

enum class AttentionFlagUse { kOne, kGrid };

struct AttentionFlags {
  AttentionFlagUse use = AttentionFlagUse::kOne;
  // As given; in grid use, comma-separated lists. A command may change these defaults before
  // AddAttentionFlags (the help prints them).
  std::string kinds = "exact";
  std::string features = std::to_string(kDefaultFeatures);
  std::string statistics;  // "": the kind's default.
  std::string windows, sinks;
  std::string plans;
  std::string feature_kind;  // --rf
  std::string layers;
  int64_t seed = 0;
  int64_t chunk = kDefaultChunk;
};

void AddAttentionFlags(ArgParser& args, AttentionFlags& flags);

// One attention (AttentionFlagUse::kOne). Refuses combinations that would be ignored or
// contradict each other: random-feature options with exact or window-only attention, --rf
// against the kind it names, options that override what a per-head plan was measured with.
absl::StatusOr<AttentionSpec> ParseAttentionFlags(const ArgParser& args,
                                                  const AttentionFlags& flags);

// One point of a grid, with the name the user gave its kind (a kind, a feature kind standing for
// favor# with those features, or "plan" for a per-head plan).
struct AttentionGridPoint {
  std::string name;
  AttentionSpec spec;
};

// Every combination of the lists (AttentionFlagUse::kGrid): kinds x windows x sinks x statistics x
// M, and each plan at every M. M and statistics apply to random-feature kinds only; window-only
// attention has no row at W = 0.
absl::StatusOr<std::vector<AttentionGridPoint>> ParseAttentionGrid(const ArgParser& args,
                                                                   const AttentionFlags& flags);

}  // namespace favor::cli
