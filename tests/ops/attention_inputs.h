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
// What breaks a single running key scale in float: every few tokens a key far larger than the
// rest but orthogonal to the queries (its log-features dwarf the others by hundreds of nats while
// its weight for every query is tiny), between moderate keys aligned with the queries.
Inputs MisalignedInputs(const Shape4& s, int64_t tokens, uint64_t seed);

// Per key/value head, the statistics of these inputs' own scaled queries and keys (GQA pooled),
// as the prompt and sequence sources gather them.
std::vector<rf::PairStatistics> InputStatistics(const Shape4& s, const Tensor& q, const Tensor& k);

// Pieces of the float64 references: log sum_m exp(lq_m + lk_m) (a random-feature kernel
// estimate from log-features), and sum_j softmax(log_w)_j v_j over the first log_w.size() rows of
// v for key/value head g, written to out (d floats).
double LogSumExpOfSums(const std::vector<double>& lq, const std::vector<double>& lk);
void WriteWeightedAverage(const std::vector<double>& log_w, const Tensor& v, int64_t kv_heads,
                          int64_t g, int64_t d, float* out);

// Inputs q, k, v (T rows); one output: the op's.
std::shared_ptr<Graph> AttentionGraph(std::shared_ptr<const Op> op, const Shape4& s);

}  // namespace favor::testing
