// Hybrid attention (exact sinks and window, random-feature tail) against its explicit form in
// double precision on every ISA, at awkward sizes; decode equals prefill whatever the run split;
// the two limits (a window covering everything is exact attention, no window and no sinks is
// FavorAttention); causality; the depth fill.
#include <algorithm>
#include <cmath>

#include "engine/ops/attention.h"
#include "engine/ops/favor_attention.h"
#include "engine/ops/hybrid_attention.h"
#include "engine/rf/hybrid_plan.h"
#include "tests/ops/attention_inputs.h"
#include "tests/test_util.h"

namespace favor {
namespace {

using kernels::Isa;
using testing::AttentionGraph;
using testing::Calibration;
using testing::Inputs;
using testing::MakeInputs;
using testing::NormalizedError;
using testing::Shape4;
using testing::ToVector;

HybridAttentionOptions Options(const Shape4& s, int64_t window, int64_t sinks, bool tail,
                               rf::RfKind kind = rf::RfKind::kSaderf, int64_t features = 32,
                               int64_t chunk = 64) {
  HybridAttentionOptions o;
  o.heads.n_heads = s.heads;
  o.heads.n_kv_heads = s.kv_heads;
  o.heads.head_dim = s.dim;
  o.layer = 2;
  o.window = window;
  o.sinks = sinks;
  o.random_feature_tail = tail;
  o.features = {.kind = kind, .features = features, .seed = 4};
  o.chunk = chunk;
  o.calibration = Calibration(s, 5);
  return o;
}

// The definition, in double: log-weights e^{s_tj} for sinks and window, phi(q_t).psi(k_j) (by
// log-sum-exp over features) for the tail, one normalisation.
std::vector<float> Reference(const HybridAttentionOptions& o, const Tensor& q, const Tensor& k,
                             const Tensor& v) {
  const int64_t tokens = q.dim(0), d = o.heads.head_dim,
                group = o.heads.n_heads / o.heads.n_kv_heads;
  const double s = std::pow(static_cast<double>(d), -0.25);
  std::vector<float> out(static_cast<size_t>(tokens * o.heads.n_heads * d));
  auto at = [d](const Tensor& t, int64_t row, int64_t heads, int64_t head, int64_t i) {
    return static_cast<double>(t.data<float>()[(row * heads + head) * d + i]);
  };
  for (int64_t g = 0; g < o.heads.n_kv_heads; ++g) {
    int64_t window = o.head_windows.empty() ? o.window : o.head_windows[static_cast<size_t>(g)];
    if (window == rf::kExactHead) window = tokens;
    std::optional<rf::PositiveFeatureMap> map;
    rf::FeatureOptions features = o.features;
    if (!o.head_features.empty()) features.features = o.head_features[static_cast<size_t>(g)];
    if (o.random_feature_tail && features.features > 0) {
      const auto p =
          rf::MakeHeadFeatureParameters(features, o.calibration[static_cast<size_t>(g)], o.layer, g)
              .value();
      map = rf::BuildFeatureMap(p.parameters, p.omega);
    }
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      for (int64_t t = 0; t < tokens; ++t) {
        std::vector<double> log_w(static_cast<size_t>(t + 1), -INFINITY);
        std::vector<double> x(static_cast<size_t>(d));
        for (int64_t i = 0; i < d; ++i)
          x[static_cast<size_t>(i)] = s * at(q, t, o.heads.n_heads, h, i);
        const auto lq = map ? map->LogFeatures(x, true) : std::vector<double>();
        for (int64_t j = 0; j <= t; ++j) {
          if (j < o.sinks || j > t - window) {
            double dot = 0;
            for (int64_t i = 0; i < d; ++i)
              dot += at(q, t, o.heads.n_heads, h, i) * at(k, j, o.heads.n_kv_heads, g, i);
            log_w[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(d));
          } else if (map) {
            std::vector<double> y(static_cast<size_t>(d));
            for (int64_t i = 0; i < d; ++i)
              y[static_cast<size_t>(i)] = s * at(k, j, o.heads.n_kv_heads, g, i);
            log_w[static_cast<size_t>(j)] =
                testing::LogSumExpOfSums(lq, map->LogFeatures(y, false));
          }
        }
        testing::WriteWeightedAverage(log_w, v, o.heads.n_kv_heads, g, d,
                                      out.data() + (t * o.heads.n_heads + h) * d);
      }
    }
  }
  return out;
}

class HybridAttentionTest : public ::testing::TestWithParam<Isa> {};

TEST_P(HybridAttentionTest, EqualsItsExplicitFormAtAwkwardSizes) {
  const Shape4 s{4, 2, 16};
  struct Case {
    int64_t window, sinks;
    bool tail;
    int64_t chunk;
  };
  for (const Case c :
       {Case{16, 4, true, 64}, Case{5, 0, true, 7}, Case{1, 2, true, 64}, Case{0, 3, true, 7},
        Case{0, 0, true, 64}, Case{7, 2, false, 64}, Case{200, 4, true, 64}}) {
    const auto options = Options(s, c.window, c.sinks, c.tail, rf::RfKind::kSaderf, 32, c.chunk);
    auto op = HybridAttentionOp::Create(options).value();
    for (int64_t tokens : {1, 3, 17, 70}) {
      const Inputs in = MakeInputs(s, tokens, 30 + static_cast<uint64_t>(tokens));
      auto out = testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, GetParam(), 256);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_LT(NormalizedError((*out)[0], Reference(options, in.q, in.k, in.v)), 3e-5)
          << "W=" << c.window << " S=" << c.sinks << " tail=" << c.tail << " C=" << c.chunk
          << " T=" << tokens;
    }
  }
}

TEST_P(HybridAttentionTest, EveryPositiveKindAndGroupedHeads) {
  const Shape4 s{6, 2, 8};
  for (rf::RfKind kind :
       {rf::RfKind::kPos, rf::RfKind::kOprf, rf::RfKind::kAderf, rf::RfKind::kSderf}) {
    const auto options = Options(s, 6, 2, true, kind, 256, 5);
    auto op = HybridAttentionOp::Create(options).value();
    const Inputs in = MakeInputs(s, 33, 8, 6.0f);
    auto out = testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, GetParam(), 64);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_LT(NormalizedError((*out)[0], Reference(options, in.q, in.k, in.v)), 3e-5)
        << rf::RfKindName(kind);
  }
}

// Runs `in` through a fresh state in runs of the given lengths, concatenating the outputs.
std::vector<float> RunInPieces(std::shared_ptr<const Op> op, const Shape4& s, const Inputs& in,
                               const std::vector<int64_t>& pieces, Isa isa) {
  auto executor = Executor::Create(AttentionGraph(std::move(op), s),
                                   {.max_seq_len = 64, .threads = 2, .isa = isa})
                      .value();
  auto state = executor->CreateState({.max_context = 256}).value();
  std::vector<float> out;
  int64_t t = 0;
  for (int64_t n : pieces) {
    const absl::Status status = executor->Run(
        {in.q.Slice(t, t + n).value(), in.k.Slice(t, t + n).value(), in.v.Slice(t, t + n).value()},
        *state);
    EXPECT_TRUE(status.ok()) << status;
    const auto rows = ToVector(executor->output(0));
    out.insert(out.end(), rows.begin(), rows.end());
    t += n;
  }
  return out;
}

TEST_P(HybridAttentionTest, DecodeEqualsPrefillWhateverTheRunsAre) {
  const Shape4 s{4, 2, 8};
  for (const auto& [window, sinks] : {std::pair<int64_t, int64_t>{6, 2}, {0, 0}, {9, 0}}) {
    auto op = HybridAttentionOp::Create(Options(s, window, sinks, true, rf::RfKind::kSaderf, 32, 8))
                  .value();
    const Inputs in = MakeInputs(s, 50, 21);
    const auto prefill = RunInPieces(op, s, in, {50}, GetParam());
    EXPECT_LT(
        NormalizedError(RunInPieces(op, s, in, std::vector<int64_t>(50, 1), GetParam()), prefill),
        1e-5)
        << "W=" << window << " S=" << sinks;
    EXPECT_LT(NormalizedError(RunInPieces(op, s, in, {3, 1, 17, 9, 20}, GetParam()), prefill), 1e-5)
        << "W=" << window << " S=" << sinks;
  }
}

// The fused decode step (one token per run: ring runs that wrap, sinks longer than the window, a
// key leaving the window into the tail as the query reads it) against the definition, at an odd
// head dimension and three query heads per key/value head, after prompts of several lengths.
TEST_P(HybridAttentionTest, DecodeStepsEqualTheExplicitFormAtAwkwardSizes) {
  const Shape4 s{6, 2, 13};
  struct Case {
    int64_t window, sinks;
    bool tail;
  };
  for (const Case c : {Case{5, 3, true}, Case{1, 7, true}, Case{0, 0, true}, Case{0, 2, true},
                       Case{16, 0, true}, Case{6, 2, false}}) {
    const auto options = Options(s, c.window, c.sinks, c.tail, rf::RfKind::kSaderf, 19, 8);
    auto op = HybridAttentionOp::Create(options).value();
    const Inputs in = MakeInputs(s, 41, 77);
    const auto reference = Reference(options, in.q, in.k, in.v);
    for (int64_t prompt : {1, 4, 23}) {
      std::vector<int64_t> runs{prompt};
      runs.resize(static_cast<size_t>(41 - prompt + 1), 1);
      EXPECT_LT(NormalizedError(RunInPieces(op, s, in, runs, GetParam()), reference), 3e-5)
          << "W=" << c.window << " S=" << c.sinks << " tail=" << c.tail << " prompt=" << prompt;
    }
  }
}

TEST_P(HybridAttentionTest, AWindowCoveringEverythingIsExactAttention) {
  const Shape4 s{4, 2, 16};
  auto hybrid = HybridAttentionOp::Create(Options(s, 64, 4, true)).value();
  auto exact = AttentionOp::Create({.n_heads = 4, .n_kv_heads = 2, .head_dim = 16}).value();
  const Inputs in = MakeInputs(s, 60, 12);
  EXPECT_LT(NormalizedError(RunInPieces(hybrid, s, in, {20, 1, 39}, GetParam()),
                            RunInPieces(exact, s, in, {20, 1, 39}, GetParam())),
            1e-5);
}

// A model's own query scale (Gemma's query_pre_attn_scalar, say) reaches both parts: the exact
// window's scores, and the tail's features (no tail is read here, but it is built with it).
TEST_P(HybridAttentionTest, AWindowCoveringEverythingIsExactAttentionAtTheModelsScale) {
  const Shape4 s{4, 2, 16};
  for (float scale : {0.45f, 0.08f}) {
    HybridAttentionOptions options = Options(s, 64, 4, true);
    options.heads.scale = scale;
    auto hybrid = HybridAttentionOp::Create(options).value();
    auto exact =
        AttentionOp::Create({.n_heads = 4, .n_kv_heads = 2, .head_dim = 16, .scale = scale})
            .value();
    auto default_scale = AttentionOp::Create({.n_heads = 4, .n_kv_heads = 2, .head_dim = 16});
    const Inputs in = MakeInputs(s, 60, 12);
    const auto expected = RunInPieces(exact, s, in, {20, 1, 39}, GetParam());
    EXPECT_LT(NormalizedError(RunInPieces(hybrid, s, in, {20, 1, 39}, GetParam()), expected), 1e-5)
        << scale;
    EXPECT_GT(
        NormalizedError(RunInPieces(*default_scale, s, in, {20, 1, 39}, GetParam()), expected),
        1e-2)
        << "the scale matters at " << scale;
  }
}

TEST_P(HybridAttentionTest, NoWindowAndNoSinksIsFavorAttention) {
  const Shape4 s{4, 2, 16};
  for (rf::RfKind kind : {rf::RfKind::kSaderf, rf::RfKind::kSderf}) {
    auto hybrid = HybridAttentionOp::Create(Options(s, 0, 0, true, kind, 32, 16)).value();
    FavorAttentionOptions f;
    f.heads.n_heads = 4;
    f.heads.n_kv_heads = 2;
    f.heads.head_dim = 16;
    f.layer = 2;
    f.features = {.kind = kind, .features = 32, .seed = 4};
    f.chunk = 16;
    f.source = FavorStatsSource::kCalibrated;
    f.calibration = Calibration(s, 5);
    auto favor = FavorAttentionOp::Create(f).value();
    const Inputs in = MakeInputs(s, 45, 13);
    EXPECT_LT(NormalizedError(RunInPieces(hybrid, s, in, {30, 1, 14}, GetParam()),
                              RunInPieces(favor, s, in, {30, 1, 14}, GetParam())),
              2e-5)
        << rf::RfKindName(kind);
  }
}

TEST_P(HybridAttentionTest, OutputsDoNotDependOnLaterTokens) {
  const Shape4 s{2, 1, 16};
  auto op = HybridAttentionOp::Create(Options(s, 8, 2, true, rf::RfKind::kSderf, 64, 16)).value();
  const Inputs a = MakeInputs(s, 50, 3);
  Inputs b = MakeInputs(s, 50, 3);
  for (int64_t i = 20 * 16; i < 50 * 16; ++i) b.k.mutable_data<float>()[i] *= 25.0f;
  for (int64_t i = 20 * 32; i < 50 * 32; ++i) b.q.mutable_data<float>()[i] += 1.0f;
  const auto out_a = RunInPieces(op, s, a, {50}, GetParam());
  const auto out_b = RunInPieces(op, s, b, {50}, GetParam());
  // Equal to rounding (a tail sub-chunk's scales may include its later keys: feature_tail.h).
  for (int64_t i = 0; i < 20 * 32; ++i) {
    const float x = out_a[static_cast<size_t>(i)];
    ASSERT_NEAR(x, out_b[static_cast<size_t>(i)], 1e-6f * std::max(1.0f, std::abs(x)))
        << "output " << i;
  }
}

TEST_P(HybridAttentionTest, HugeLogFeatureSpreadsStayExactToTheDefinition) {
  const Shape4 s{2, 1, 16};
  for (rf::RfKind kind : {rf::RfKind::kOprf, rf::RfKind::kSderf}) {
    for (const Inputs& in : {MakeInputs(s, 90, 17, 9.0f), testing::MisalignedInputs(s, 90, 17)}) {
      // Statistics of these very inputs, as calibration on such a model would give.
      auto options = Options(s, 5, 2, true, kind, 256, 16);
      options.calibration = testing::InputStatistics(s, in.q, in.k);
      auto op = HybridAttentionOp::Create(options).value();
      auto out = testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, GetParam(), 256);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_LT(NormalizedError((*out)[0], Reference(options, in.q, in.k, in.v)), 1e-4)
          << rf::RfKindName(kind);
    }
  }
}

// A per-head plan: every key/value head with its own window (a fully exact one included), against
// the definition, whole and in decode-sized runs.
TEST_P(HybridAttentionTest, PerHeadWindowsFollowThePlan) {
  const Shape4 s{8, 4, 8};
  for (const auto& windows : {std::vector<int64_t>{0, 5, rf::kExactHead, 16},
                              std::vector<int64_t>{3, rf::kExactHead, 1, 9}}) {
    auto options = Options(s, 64, 2, true, rf::RfKind::kSaderf, 32, 7);
    options.head_windows = windows;
    auto op = HybridAttentionOp::Create(options).value();
    for (int64_t tokens : {1, 17, 50}) {
      const Inputs in = MakeInputs(s, tokens, 60 + static_cast<uint64_t>(tokens));
      const auto reference = Reference(options, in.q, in.k, in.v);
      EXPECT_LT(NormalizedError(RunInPieces(op, s, in, {tokens}, GetParam()), reference), 3e-5)
          << "T=" << tokens;
      EXPECT_LT(NormalizedError(
                    RunInPieces(op, s, in, std::vector<int64_t>(static_cast<size_t>(tokens), 1),
                                GetParam()),
                    reference),
                3e-5)
          << "T=" << tokens << " decode";
    }
  }
  // Every head fully exact: exact attention.
  auto options = Options(s, 64, 0, true);
  options.head_windows.assign(4, rf::kExactHead);
  const Inputs in = MakeInputs(s, 40, 3);
  auto exact = AttentionOp::Create({.n_heads = 8, .n_kv_heads = 4, .head_dim = 8}).value();
  EXPECT_LT(NormalizedError(
                RunInPieces(HybridAttentionOp::Create(options).value(), s, in, {40}, GetParam()),
                RunInPieces(exact, s, in, {40}, GetParam())),
            1e-5);
}

// A byte-budget plan: each head its own window and its own tail (M, or none: window-only), against
// the definition, whole and decoded token by token.
TEST_P(HybridAttentionTest, PerHeadTailsFollowThePlan) {
  const Shape4 s{8, 4, 8};
  auto options = Options(s, 64, 2, true, rf::RfKind::kSaderf, 32, 7);
  options.head_windows = {5, 8, rf::kExactHead, 0};
  options.head_features = {0, 16, 0, 40};
  auto op = HybridAttentionOp::Create(options).value();
  EXPECT_NE(op->Attributes().find("M=0,16,0,40"), std::string::npos) << op->Attributes();
  // Per head: sinks and window rows (keys, values, scores) and M x (d + 2) of tail.
  EXPECT_EQ(op->StateBytes({.max_context = 100}),
            4 * ((7 * 17) + (10 * 17 + 16 * 10) + (102 * 17) + (2 * 17 + 40 * 10)));
  for (int64_t tokens : {1, 30}) {
    const Inputs in = MakeInputs(s, tokens, 80 + static_cast<uint64_t>(tokens));
    const auto reference = Reference(options, in.q, in.k, in.v);
    EXPECT_LT(NormalizedError(RunInPieces(op, s, in, {tokens}, GetParam()), reference), 3e-5)
        << "T=" << tokens;
    EXPECT_LT(
        NormalizedError(RunInPieces(op, s, in, std::vector<int64_t>(static_cast<size_t>(tokens), 1),
                                    GetParam()),
                        reference),
        3e-5)
        << "T=" << tokens << " decode";
  }
  // A head with neither window nor tail sees nothing recent.
  options.head_windows = {5, 8, 0, 0};
  options.head_features = {0, 16, 0, 40};
  EXPECT_FALSE(HybridAttentionOp::Create(options).ok());
  options.head_features = {0, 16};
  EXPECT_FALSE(HybridAttentionOp::Create(options).ok());
}

INSTANTIATE_TEST_SUITE_P(AllIsas, HybridAttentionTest,
                         ::testing::ValuesIn(kernels::SupportedIsas()),
                         [](const ::testing::TestParamInfo<Isa>& param) {
                           return std::string(kernels::IsaName(param.param));
                         });

TEST(HybridAttention, StateIsConstantInThePositionAndExtendsByRepeating) {
  const Shape4 s{4, 2, 16};
  auto op = HybridAttentionOp::Create(Options(s, 8, 2, true)).value();
  auto executor = Executor::Create(AttentionGraph(op, s), {.max_seq_len = 64}).value();
  auto small = executor->CreateState({.max_context = 64}).value();
  auto large = executor->CreateState({.max_context = 1 << 20}).value();
  EXPECT_EQ(small->NumBytes(), large->NumBytes());
  const Inputs in = MakeInputs(s, 20, 4);
  ASSERT_TRUE(executor->Run({in.q, in.k, in.v}, *large).ok());
  EXPECT_FALSE(large->ExtendByRepeating(5).ok());
  ASSERT_TRUE(large->ExtendByRepeating(100000).ok());
  const Inputs next = MakeInputs(s, 1, 9);
  ASSERT_TRUE(executor->Run({next.q, next.k, next.v}, *large).ok());
  for (float x : ToVector(executor->output(0))) EXPECT_TRUE(std::isfinite(x));
}

TEST(HybridAttention, FullyExactHeadsHoldTheContextAndExtendLikeAKvCache) {
  const Shape4 s{4, 2, 16};
  auto options = Options(s, 8, 2, true);
  options.head_windows = {8, rf::kExactHead};
  auto op = HybridAttentionOp::Create(options).value();
  auto executor = Executor::Create(AttentionGraph(op, s), {.max_seq_len = 64}).value();
  auto small = executor->CreateState({.max_context = 64}).value();
  auto large = executor->CreateState({.max_context = 4096}).value();
  // The exact head's window is the context: 2 x (4096 - 64) more rows of 16 floats.
  EXPECT_EQ(large->NumBytes() - small->NumBytes(), 2 * (4096 - 64) * 16 * 4 + (4096 - 64) * 4);
  const Inputs in = MakeInputs(s, 20, 4);
  ASSERT_TRUE(executor->Run({in.q, in.k, in.v}, *large).ok());
  ASSERT_TRUE(large->ExtendByRepeating(2000).ok());
  const Inputs next = MakeInputs(s, 1, 9);
  ASSERT_TRUE(executor->Run({next.q, next.k, next.v}, *large).ok());
  for (float x : ToVector(executor->output(0))) EXPECT_TRUE(std::isfinite(x));
}

TEST(HybridAttention, RejectsBadOptions) {
  const Shape4 s{4, 2, 16};
  auto wrong_plan = Options(s, 8, 4, true);
  wrong_plan.head_windows = {8, 8, 8};
  EXPECT_FALSE(HybridAttentionOp::Create(wrong_plan).ok()) << "3 windows for 2 heads";
  wrong_plan.head_windows = {8, -5};
  EXPECT_FALSE(HybridAttentionOp::Create(wrong_plan).ok());
  wrong_plan.head_windows = {8, 0};
  wrong_plan.random_feature_tail = false;
  EXPECT_FALSE(HybridAttentionOp::Create(wrong_plan).ok()) << "a head attends to nothing";
  EXPECT_FALSE(HybridAttentionOp::Create(Options(s, 0, 4, false)).ok()) << "attends to nothing";
  EXPECT_FALSE(HybridAttentionOp::Create(Options(s, -1, 4, true)).ok());
  auto no_statistics = Options(s, 8, 4, true);
  no_statistics.calibration.clear();
  EXPECT_FALSE(HybridAttentionOp::Create(no_statistics).ok());
  no_statistics.random_feature_tail = false;
  EXPECT_TRUE(HybridAttentionOp::Create(no_statistics).ok()) << "the window alone needs none";
  EXPECT_FALSE(HybridAttentionOp::Create(Options(s, 8, 4, true, rf::RfKind::kTrig)).ok());
}

}  // namespace
}  // namespace favor
