#include "tests/ops/attention_inputs.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace favor::testing {

std::vector<rf::PairStatistics> Calibration(const Shape4& s, uint64_t seed) {
  std::vector<rf::PairStatistics> stats;
  const Tensor q = RandomTensor(Shape{200, s.dim}, seed, -1.5f, 1.5f);
  const Tensor k = RandomTensor(Shape{200, s.dim}, seed + 1, -1.0f, 2.0f);
  const float scale = std::pow(static_cast<float>(s.dim), -0.25f);
  for (int64_t g = 0; g < s.kv_heads; ++g) {
    rf::PairStatistics p(s.dim);
    std::vector<float> row(static_cast<size_t>(s.dim));
    for (int64_t t = 0; t < 200; ++t) {
      for (int64_t i = 0; i < s.dim; ++i)
        row[static_cast<size_t>(i)] = q.data<float>()[t * s.dim + i] * scale * (1 + 0.1f * g);
      p.AddQuery(row.data());
      for (int64_t i = 0; i < s.dim; ++i)
        row[static_cast<size_t>(i)] = k.data<float>()[t * s.dim + i] * scale;
      p.AddKey(row.data());
    }
    stats.push_back(p);
  }
  return stats;
}

Inputs MakeInputs(const Shape4& s, int64_t tokens, uint64_t seed, float range) {
  return {RandomTensor(Shape{tokens, s.heads * s.dim}, seed, -range, range),
          RandomTensor(Shape{tokens, s.kv_heads * s.dim}, seed + 1, -range, range),
          RandomTensor(Shape{tokens, s.kv_heads * s.dim}, seed + 2)};
}

Inputs MisalignedInputs(const Shape4& s, int64_t tokens, uint64_t seed) {
  Inputs in = MakeInputs(s, tokens, seed, 0.3f);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < s.heads; ++h)
      in.q.mutable_data<float>()[(t * s.heads + h) * s.dim + 1] += 5.0f;
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      float* key = in.k.mutable_data<float>() + (t * s.kv_heads + g) * s.dim;
      if (t % 7 == 0) {
        key[0] += 30.0f;  // Huge, orthogonal to the queries.
      } else {
        key[1] += 4.0f;  // Moderate, aligned with them.
      }
    }
  }
  return in;
}

std::vector<rf::PairStatistics> InputStatistics(const Shape4& s, const Tensor& q, const Tensor& k) {
  const float scale = std::pow(static_cast<float>(s.dim), -0.25f);
  const int64_t group = s.heads / s.kv_heads;
  std::vector<rf::PairStatistics> out;
  std::vector<float> row(static_cast<size_t>(s.dim));
  for (int64_t g = 0; g < s.kv_heads; ++g) {
    rf::PairStatistics stats(s.dim);
    for (int64_t t = 0; t < q.dim(0); ++t) {
      for (int64_t i = 0; i < s.dim; ++i)
        row[static_cast<size_t>(i)] = k.data<float>()[(t * s.kv_heads + g) * s.dim + i] * scale;
      stats.AddKey(row.data());
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        for (int64_t i = 0; i < s.dim; ++i)
          row[static_cast<size_t>(i)] = q.data<float>()[(t * s.heads + h) * s.dim + i] * scale;
        stats.AddQuery(row.data());
      }
    }
    out.push_back(stats);
  }
  return out;
}

std::shared_ptr<Graph> AttentionGraph(std::shared_ptr<const Op> op, const Shape4& s) {
  auto graph = std::make_shared<Graph>();
  const ValueId q = graph->AddInput("q", {DType::kF32, Shape{kSeqLen, s.heads * s.dim}}).value();
  const ValueId k = graph->AddInput("k", {DType::kF32, Shape{kSeqLen, s.kv_heads * s.dim}}).value();
  const ValueId v = graph->AddInput("v", {DType::kF32, Shape{kSeqLen, s.kv_heads * s.dim}}).value();
  EXPECT_TRUE(graph->MarkOutput(graph->Add("attention", std::move(op), {q, k, v}).value()).ok());
  return graph;
}

}  // namespace favor::testing
