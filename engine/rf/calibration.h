// Calibration statistics: per layer and key/value head, the statistics of the (scaled) queries
// and keys that exact attention saw on a calibration text. They fix the random-feature parameters
// independently of the sequence being generated (strictly causal), and travel as a small file
// beside the model (`favor calibrate` writes it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/rf/hybrid_plan.h"
#include "engine/rf/statistics.h"

namespace favor::rf {

struct Calibration {
  int64_t head_dim = 0;
  std::vector<std::vector<PairStatistics>> layers;  // [layer][kv head]
  int64_t tokens = 0;                               // Calibration tokens seen.
  std::optional<HybridPlan> plan;                   // favor calibrate --plan
  // Optional raw samples (scaled queries of the first query head and keys of key/value head 0)
  // of one layer, for tools that study real inputs (favor variance); not saved.
  int64_t sample_layer = -1;
  std::vector<std::vector<double>> query_samples, key_samples;
};

absl::Status SaveCalibration(const Calibration& calibration, const std::string& path);
absl::StatusOr<Calibration> LoadCalibration(const std::string& path);

}  // namespace favor::rf
