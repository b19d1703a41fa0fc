// Exact causal attention with GQA and a KV cache: against a plain reference, prefill against
// token-by-token decode, and the errors a session can hit.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/ops/attention.h"
#include "tests/test_util.h"

namespace favor {
namespace {

using kernels::Isa;
using testing::NormalizedError;
using testing::RandomTensor;
using testing::ToVector;

// out[t, h] = sum_{j <= t} softmax_j(q[t,h].k[j,g] * scale) v[j,g], g = h / (H / G), in double;
// with a window W only j > t - W, with a soft-cap the scores are cap tanh(s / cap).
std::vector<float> ReferenceAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                      int64_t heads, int64_t kv_heads, int64_t head_dim,
                                      int64_t window = 0, double soft_cap = 0.0) {
  const int64_t tokens = q.dim(0), group = heads / kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  std::vector<float> out(static_cast<size_t>(tokens * heads * head_dim));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / group;
      const float* qrow = q.data<float>() + (t * heads + h) * head_dim;
      std::vector<double> scores(static_cast<size_t>(t + 1));
      double max_score = -INFINITY, sum = 0.0;
      for (int64_t j = 0; j <= t; ++j) {
        const float* krow = k.data<float>() + (j * kv_heads + g) * head_dim;
        double dot = 0.0;
        for (int64_t i = 0; i < head_dim; ++i) dot += static_cast<double>(qrow[i]) * krow[i];
        double score = dot * scale;
        if (soft_cap > 0.0) score = soft_cap * std::tanh(score / soft_cap);
        if (window > 0 && j <= t - window) score = -INFINITY;
        scores[static_cast<size_t>(j)] = score;
        max_score = std::max(max_score, score);
      }
      for (double& s : scores) sum += (s = std::exp(s - max_score));
      for (int64_t i = 0; i < head_dim; ++i) {
        double acc = 0.0;
        for (int64_t j = 0; j <= t; ++j) {
          acc +=
              scores[static_cast<size_t>(j)] * v.data<float>()[(j * kv_heads + g) * head_dim + i];
        }
        out[static_cast<size_t>((t * heads + h) * head_dim + i)] = static_cast<float>(acc / sum);
      }
    }
  }
  return out;
}

struct AttentionShape {
  int64_t heads, kv_heads, head_dim, tokens;
  int64_t window = 0;     // The model's sliding window (Mistral's); 0: none.
  float soft_cap = 0.0f;  // Gemma 2's score cap; 0: none.
};

std::shared_ptr<Graph> AttentionGraph(const AttentionShape& s) {
  auto graph = std::make_shared<Graph>();
  const ValueId q =
      graph->AddInput("q", {DType::kF32, Shape{kSeqLen, s.heads * s.head_dim}}).value();
  const ValueId k =
      graph->AddInput("k", {DType::kF32, Shape{kSeqLen, s.kv_heads * s.head_dim}}).value();
  const ValueId v =
      graph->AddInput("v", {DType::kF32, Shape{kSeqLen, s.kv_heads * s.head_dim}}).value();
  auto op =
      AttentionOp::Create({.n_heads = s.heads, .n_kv_heads = s.kv_heads, .head_dim = s.head_dim},
                          {.window = s.window, .soft_cap = s.soft_cap})
          .value();
  const ValueId out = graph->Add("attention", op, {q, k, v}).value();
  EXPECT_TRUE(graph->MarkOutput(out).ok());
  return graph;
}

class AttentionTest : public ::testing::TestWithParam<std::tuple<Isa, AttentionShape>> {};

TEST_P(AttentionTest, PrefillMatchesReferenceAndDecodeMatchesPrefill) {
  const auto [isa, s] = GetParam();
  const Tensor q = RandomTensor(Shape{s.tokens, s.heads * s.head_dim}, 1, -2, 2);
  const Tensor k = RandomTensor(Shape{s.tokens, s.kv_heads * s.head_dim}, 2, -2, 2);
  const Tensor v = RandomTensor(Shape{s.tokens, s.kv_heads * s.head_dim}, 3);
  const auto expected =
      ReferenceAttention(q, k, v, s.heads, s.kv_heads, s.head_dim, s.window, s.soft_cap);
  auto graph = AttentionGraph(s);

  // Prefill: all tokens in one run.
  auto executor = Executor::Create(graph, {.max_seq_len = 128, .threads = 2, .isa = isa}).value();
  auto state = executor->CreateState({.max_context = 256}).value();
  ASSERT_TRUE(executor->Run({q, k, v}, *state).ok());
  const auto prefill = ToVector(executor->output(0));
  EXPECT_LT(NormalizedError(prefill, expected), 1e-5);
  EXPECT_EQ(state->position(), s.tokens);

  // Decode: one token at a time through the KV cache, after a reset.
  state->Reset();
  std::vector<float> decode;
  for (int64_t t = 0; t < s.tokens; ++t) {
    ASSERT_TRUE(
        executor
            ->Run({q.Slice(t, t + 1).value(), k.Slice(t, t + 1).value(), v.Slice(t, t + 1).value()},
                  *state)
            .ok());
    const auto row = ToVector(executor->output(0));
    decode.insert(decode.end(), row.begin(), row.end());
  }
  EXPECT_LT(NormalizedError(decode, prefill), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTest,
    ::testing::Combine(::testing::ValuesIn(kernels::SupportedIsas()),
                       ::testing::Values(AttentionShape{1, 1, 8, 1}, AttentionShape{8, 4, 8, 13},
                                         AttentionShape{4, 1, 17, 70}, AttentionShape{6, 6, 64, 33},
                                         AttentionShape{8, 2, 16, 100},
                                         // Sliding windows (1: only itself), soft-caps, both.
                                         AttentionShape{4, 2, 16, 70, 5},
                                         AttentionShape{4, 1, 17, 33, 1},
                                         AttentionShape{8, 4, 8, 13, 0, 1.5f},
                                         AttentionShape{2, 2, 8, 40, 7, 3.0f})),
    [](const auto& param_info) {
      const AttentionShape& s = std::get<1>(param_info.param);
      return absl::StrCat(
          kernels::IsaName(std::get<0>(param_info.param)), "_H", s.heads, "_G", s.kv_heads, "_D",
          s.head_dim, "_T", s.tokens, s.window > 0 ? absl::StrCat("_W", s.window) : "",
          s.soft_cap > 0 ? absl::StrCat("_cap", static_cast<int>(s.soft_cap * 10)) : "");
    });

TEST(AttentionOp, RejectsInconsistentHeads) {
  EXPECT_FALSE(AttentionOp::Create({.n_heads = 6, .n_kv_heads = 4, .head_dim = 8}).ok());
  EXPECT_FALSE(AttentionOp::Create({.n_heads = 2, .n_kv_heads = 1, .head_dim = 512}).ok());
  EXPECT_FALSE(AttentionOp::Create({.n_heads = 0, .n_kv_heads = 1, .head_dim = 8}).ok());
}

TEST(AttentionOp, ContextFullIsAnErrorThatLeavesTheStateUsable) {
  const AttentionShape s{2, 1, 8, 5};
  auto executor = Executor::Create(AttentionGraph(s), {.max_seq_len = 8, .threads = 1}).value();
  auto state = executor->CreateState({.max_context = 7}).value();
  const Tensor q = RandomTensor(Shape{5, 16}, 1), k = RandomTensor(Shape{5, 8}, 2);
  ASSERT_TRUE(executor->Run({q, k, k}, *state).ok());
  const absl::Status full = executor->Run({q, k, k}, *state);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.message().find("context full: 5 + 5 tokens exceed the context of 7"),
            absl::string_view::npos)
      << full;
  EXPECT_EQ(state->position(), 5);
  // Two more tokens still fit.
  EXPECT_TRUE(
      executor->Run({q.Slice(0, 2).value(), k.Slice(0, 2).value(), k.Slice(0, 2).value()}, *state)
          .ok());
}

TEST(AttentionOp, MismatchedKeyShapeIsABuildTimeError) {
  Graph graph;
  const ValueId q = graph.AddInput("q", {DType::kF32, Shape{kSeqLen, 64}}).value();
  const ValueId k = graph.AddInput("k", {DType::kF32, Shape{kSeqLen, 24}}).value();
  auto op = AttentionOp::Create({.n_heads = 8, .n_kv_heads = 4, .head_dim = 8}).value();
  const auto out = graph.Add("layer3.attention", op, {q, k, k});
  ASSERT_FALSE(out.ok());
  const std::string message(out.status().message());
  EXPECT_NE(message.find("layer3.attention"), std::string::npos) << message;
  EXPECT_NE(message.find("f32[T, 24]"), std::string::npos) << message;
}

}  // namespace
}  // namespace favor
