#include "tests/ops/attention_inputs.h"

#include <algorithm>
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

double LogSumExpOfSums(const std::vector<double>& lq, const std::vector<double>& lk) {
  double top = -INFINITY, sum = 0;
  for (size_t m = 0; m < lk.size(); ++m) top = std::max(top, lq[m] + lk[m]);
  for (size_t m = 0; m < lk.size(); ++m) sum += std::exp(lq[m] + lk[m] - top);
  return top + std::log(sum);
}

void WriteWeightedAverage(const std::vector<double>& log_w, const Tensor& v, int64_t kv_heads,
                          int64_t g, int64_t d, float* out) {
  const double top = *std::max_element(log_w.begin(), log_w.end());
  double den = 0;
  std::vector<double> num(static_cast<size_t>(d), 0.0);
  for (size_t j = 0; j < log_w.size(); ++j) {
    const double w = std::exp(log_w[j] - top);
    den += w;
    for (int64_t i = 0; i < d; ++i) {
      num[static_cast<size_t>(i)] +=
          w * v.data<float>()[(static_cast<int64_t>(j) * kv_heads + g) * d + i];
    }
  }
  for (int64_t i = 0; i < d; ++i) out[i] = static_cast<float>(num[static_cast<size_t>(i)] / den);
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
