// Shared inputs of the random-feature and hybrid attention tests: shapes, random queries, keys
// and values, calibration statistics, and a one-op attention graph.
#pragma once

#include <memory>
#include <vector>

#include "engine/graph/graph.h"
#include "engine/rf/statistics.h"

namespace favor::testing {

struct Shape4 {
  int64_t heads, kv_heads, dim;
};

// Calibration statistics for each kv head from random scaled queries and keys.
std::vector<rf::PairStatistics> Calibration(const Shape4& s, uint64_t seed);

struct Inputs {
  Tensor q, k, v;
};
Inputs MakeInputs(const Shape4& s, int64_t tokens, uint64_t seed, float range = 2.0f);

// Inputs q, k, v (T rows); one output: the op's.
std::shared_ptr<Graph> AttentionGraph(std::shared_ptr<const Op> op, const Shape4& s);

}  // namespace favor::testing
