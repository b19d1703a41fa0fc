// Random-feature attention against the explicit masked quadratic form with the same features (in
// double precision), across chunk sizes, decode and prefill, every ISA, bidirectional use;
// strict causality; extreme inputs.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/ops/favor_attention.h"
#include "tests/ops/attention_inputs.h"
#include "tests/test_util.h"

namespace favor {
namespace {

using kernels::Isa;
using testing::AttentionGraph;
using testing::Calibration;
using testing::Inputs;
using testing::InputStatistics;
using testing::MakeInputs;
using testing::NormalizedError;
using testing::RandomTensor;
using testing::Shape4;
using testing::ToVector;

FavorAttentionOptions Options(const Shape4& s, rf::RfKind kind, int64_t features, int64_t chunk,
                              bool causal = true) {
  FavorAttentionOptions o;
  o.heads.n_heads = s.heads;
  o.heads.n_kv_heads = s.kv_heads;
  o.heads.head_dim = s.dim;
  o.layer = 3;
  o.features = {.kind = kind, .features = features, .seed = 9};
  o.chunk = chunk;
  o.causal = causal;
  o.source = FavorStatsSource::kCalibrated;
  o.calibration = Calibration(s, 5);
  return o;
}

// Key/value head g's features in double precision, as the op draws them (from statistics of
// inputs scaled by FeatureScale()).
rf::PositiveFeatureMap HeadFeatureMap(const FavorAttentionOptions& o, int64_t g) {
  const auto p =
      rf::MakeHeadFeatureParameters(o.features, o.calibration[static_cast<size_t>(g)], o.layer, g)
          .value();
  return rf::BuildFeatureMap(p.parameters, p.omega);
}

// out_t = sum_{j <= t} w_tj v_j / sum_{j <= t} w_tj, w_tj = phi(q_t) . psi(k_j), in double.
std::vector<float> Reference(const FavorAttentionOptions& o, const Tensor& q, const Tensor& k,
                             const Tensor& v) {
  const int64_t tokens = q.dim(0), d = o.heads.head_dim,
                group = o.heads.n_heads / o.heads.n_kv_heads;
  // exp(scale q.k) splits as sqrt(scale) on each side; head_dim^-1/4 at the default scale.
  const double s = o.heads.scale != 0 ? std::sqrt(static_cast<double>(o.heads.scale))
                                      : std::pow(static_cast<double>(d), -0.25);
  std::vector<float> out(static_cast<size_t>(tokens * o.heads.n_heads * d));
  for (int64_t g = 0; g < o.heads.n_kv_heads; ++g) {
    const rf::PositiveFeatureMap map = HeadFeatureMap(o, g);
    std::vector<std::vector<double>> key_logs;
    for (int64_t j = 0; j < tokens; ++j) {
      std::vector<double> y(static_cast<size_t>(d));
      for (int64_t i = 0; i < d; ++i)
        y[static_cast<size_t>(i)] = s * k.data<float>()[(j * o.heads.n_kv_heads + g) * d + i];
      key_logs.push_back(map.LogFeatures(y, false));
    }
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      for (int64_t t = 0; t < tokens; ++t) {
        std::vector<double> x(static_cast<size_t>(d));
        for (int64_t i = 0; i < d; ++i)
          x[static_cast<size_t>(i)] = s * q.data<float>()[(t * o.heads.n_heads + h) * d + i];
        const std::vector<double> lq = map.LogFeatures(x, true);
        const int64_t last = o.causal ? t : tokens - 1;
        // log w_tj by log-sum-exp over features, then a softmax-like normalisation over j.
        std::vector<double> log_w;
        for (int64_t j = 0; j <= last; ++j) {
          log_w.push_back(testing::LogSumExpOfSums(lq, key_logs[static_cast<size_t>(j)]));
        }
        testing::WriteWeightedAverage(log_w, v, o.heads.n_kv_heads, g, d,
                                      out.data() + (t * o.heads.n_heads + h) * d);
      }
    }
  }
  return out;
}

class FavorAttentionTest : public ::testing::TestWithParam<Isa> {};

TEST_P(FavorAttentionTest, ChunkedCausalEqualsTheExplicitMaskedFormForEveryKind) {
  const Shape4 s{4, 2, 16};
  for (rf::RfKind kind : {rf::RfKind::kPos, rf::RfKind::kOprf, rf::RfKind::kSaderf,
                          rf::RfKind::kAderf, rf::RfKind::kSderf}) {
    for (int64_t chunk : {64, 7}) {
      const auto options = Options(s, kind, 32, chunk);
      auto op = FavorAttentionOp::Create(options).value();
      for (int64_t tokens : {1, 5, 64, 65, 130}) {
        const Inputs in = MakeInputs(s, tokens, 10 + static_cast<uint64_t>(tokens));
        auto out =
            testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, GetParam(), 256);
        ASSERT_TRUE(out.ok()) << out.status();
        EXPECT_LT(NormalizedError((*out)[0], Reference(options, in.q, in.k, in.v)), 2e-5)
            << rf::RfKindName(kind) << " chunk=" << chunk << " T=" << tokens;
      }
    }
  }
}

// The model's own query scale flows into the features: FAVOR at scale 0.45 (head_dim 16's default
// is 0.25) is its float64 definition with sqrt(0.45) on queries and keys, and not the default's.
TEST_P(FavorAttentionTest, ANonDefaultScaleIsItsExplicitForm) {
  const Shape4 s{4, 2, 16};
  for (rf::RfKind kind : {rf::RfKind::kPos, rf::RfKind::kSaderf}) {
    auto options = Options(s, kind, 32, 7);
    options.heads.scale = 0.45f;
    auto op = FavorAttentionOp::Create(options).value();
    auto default_options = options;
    default_options.heads.scale = 0;
    for (int64_t tokens : {1, 37, 130}) {
      const Inputs in = MakeInputs(s, tokens, 40 + static_cast<uint64_t>(tokens));
      auto out = testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, GetParam(), 256);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_LT(NormalizedError((*out)[0], Reference(options, in.q, in.k, in.v)), 2e-5)
          << rf::RfKindName(kind) << " T=" << tokens;
      if (tokens > 1) {
        EXPECT_GT(NormalizedError((*out)[0], Reference(default_options, in.q, in.k, in.v)), 1e-3)
            << rf::RfKindName(kind) << " T=" << tokens << ": the scale must matter";
      }
    }
  }
}

TEST_P(FavorAttentionTest, DecodeEqualsPrefillAndBidirectionalEqualsItsExplicitForm) {
  const Shape4 s{6, 3, 8};
  const auto options = Options(s, rf::RfKind::kSaderf, 64, 16);
  auto op = FavorAttentionOp::Create(options).value();
  const Inputs in = MakeInputs(s, 40, 77);
  auto executor =
      Executor::Create(AttentionGraph(op, s), {.max_seq_len = 64, .threads = 2, .isa = GetParam()})
          .value();
  auto state = executor->CreateState({.max_context = 64}).value();
  ASSERT_TRUE(executor->Run({in.q, in.k, in.v}, *state).ok());
  const auto prefill = ToVector(executor->output(0));
  state->Reset();
  std::vector<float> decode;
  for (int64_t t = 0; t < 40; ++t) {
    ASSERT_TRUE(executor
                    ->Run({in.q.Slice(t, t + 1).value(), in.k.Slice(t, t + 1).value(),
                           in.v.Slice(t, t + 1).value()},
                          *state)
                    .ok());
    const auto row = ToVector(executor->output(0));
    decode.insert(decode.end(), row.begin(), row.end());
  }
  EXPECT_LT(NormalizedError(decode, prefill), 1e-5);

  const auto bidirectional = Options(s, rf::RfKind::kSderf, 64, 16, /*causal=*/false);
  auto bi_op = FavorAttentionOp::Create(bidirectional).value();
  auto out = testing::RunGraphOnce(AttentionGraph(bi_op, s), {in.q, in.k, in.v}, GetParam(), 64);
  ASSERT_TRUE(out.ok());
  EXPECT_LT(NormalizedError((*out)[0], Reference(bidirectional, in.q, in.k, in.v)), 2e-5);
}

TEST_P(FavorAttentionTest, OutputsDoNotDependOnLaterTokens) {
  const Shape4 s{2, 1, 16};
  auto op = FavorAttentionOp::Create(Options(s, rf::RfKind::kSderf, 64, 64)).value();
  const Inputs a = MakeInputs(s, 50, 3);
  Inputs b = MakeInputs(s, 50, 3);
  // Tokens 20.. differ, with keys so large that a maximum over them would dominate everything.
  for (int64_t i = 20 * 16; i < 50 * 16; ++i) b.k.mutable_data<float>()[i] *= 25.0f;
  for (int64_t i = 20 * 32; i < 50 * 32; ++i) b.q.mutable_data<float>()[i] += 1.0f;
  const auto out_a =
      testing::RunGraphOnce(AttentionGraph(op, s), {a.q, a.k, a.v}, GetParam()).value()[0];
  const auto out_b =
      testing::RunGraphOnce(AttentionGraph(op, s), {b.q, b.k, b.v}, GetParam()).value()[0];
  // Equal to rounding (see feature_tail.h: a sub-chunk's scales may include its later keys).
  for (int64_t i = 0; i < 20 * 32; ++i) {
    const float x = out_a[static_cast<size_t>(i)];
    ASSERT_NEAR(x, out_b[static_cast<size_t>(i)], 1e-6f * std::max(1.0f, std::abs(x)))
        << "output " << i << " changed";
  }
}

// Log-features of hundreds of nats with spreads beyond float's range (as in real models, where
// |q'|^2 reaches 100): the operator still equals its float64 definition.
TEST_P(FavorAttentionTest, HugeLogFeatureSpreadsStayExactToTheDefinition) {
  const Shape4 s{2, 1, 16};
  for (rf::RfKind kind : {rf::RfKind::kOprf, rf::RfKind::kSaderf, rf::RfKind::kSderf}) {
    for (const Inputs& in : {MakeInputs(s, 90, 17, 9.0f), testing::MisalignedInputs(s, 90, 17)}) {
      // Statistics of these very inputs, as calibration on such a model would give.
      auto options = Options(s, kind, 256, 16);
      options.calibration = InputStatistics(s, in.q, in.k);
      auto op = FavorAttentionOp::Create(options).value();
      auto out = testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, GetParam(), 256);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_LT(NormalizedError((*out)[0], Reference(options, in.q, in.k, in.v)), 1e-4)
          << rf::RfKindName(kind);
    }
  }
}

// Rescales every head vector of x (rows of `heads` vectors of d) to a scaled squared norm
// |x'|^2 = |x|^2 / sqrt(d) spread evenly over [0, max_scaled_norm2] along the rows.
void SpreadScaledNorms(Tensor& x, int64_t heads, int64_t d, double max_scaled_norm2) {
  float* data = x.mutable_data<float>();
  const int64_t rows = x.dim(0) * heads;
  for (int64_t r = 0; r < rows; ++r) {
    float* v = data + r * d;
    double norm2 = 0.0;
    for (int64_t i = 0; i < d; ++i) norm2 += double{v[i]} * v[i];
    const double target = max_scaled_norm2 * static_cast<double>((r * 37) % 101) / 100.0;
    const double factor = std::sqrt(target * std::sqrt(static_cast<double>(d)) / norm2);
    for (int64_t i = 0; i < d; ++i) v[i] = static_cast<float>(v[i] * factor);
  }
}

// Attention outputs are weighted averages of the values (uniform in [-1, 1]): finite, and within
// their range, which garbage (an overflow turned into a huge weight, say) would not be.
void ExpectFinite(const std::vector<float>& values, absl::string_view what) {
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(std::isfinite(values[i])) << what << ": output " << i << " is " << values[i];
    ASSERT_LE(std::fabs(values[i]), 1.0f + 1e-3f) << what << ": output " << i;
  }
}

// Queries and keys with |q'|^2 and |k'|^2 up to 1000 (ten times what real models reach), for
// every positive kind, with statistics of moderate inputs and of these very inputs: every output
// stays finite (no exp overflows to Inf, no 0/0).
TEST_P(FavorAttentionTest, ExtremeInputsStayFiniteForEveryKind) {
  const Shape4 s{2, 1, 16};
  Inputs big = MakeInputs(s, 301, 8);
  SpreadScaledNorms(big.q, s.heads, s.dim, 1000.0);
  SpreadScaledNorms(big.k, s.kv_heads, s.dim, 1000.0);
  for (rf::RfKind kind : {rf::RfKind::kPos, rf::RfKind::kGerf, rf::RfKind::kOprf,
                          rf::RfKind::kSaderf, rf::RfKind::kAderf, rf::RfKind::kSderf}) {
    for (bool own_statistics : {false, true}) {
      auto options = Options(s, kind, 64, 32);
      if (own_statistics) options.calibration = InputStatistics(s, big.q, big.k);
      auto op = FavorAttentionOp::Create(options);
      ASSERT_TRUE(op.ok()) << op.status();
      auto out =
          testing::RunGraphOnce(AttentionGraph(*op, s), {big.q, big.k, big.v}, GetParam(), 512);
      ASSERT_TRUE(out.ok()) << out.status();
      ExpectFinite((*out)[0], absl::StrCat(rf::RfKindName(kind), own_statistics ? " (own)" : ""));
    }
  }
}

// 64K tokens with |q'|^2 up to 1000 through the carried state: prefill chunks, then decode steps
// at the far end of the sequence.
// Causal random-feature attention in double, one token at a time as a decoder runs it: per feature
// a running key scale c_m, S_m = sum_j exp(lk_jm - c_m) v_j and z_m likewise, so the reference
// itself never overflows however far the log-features spread.
std::vector<float> IncrementalReference(const FavorAttentionOptions& o, const Tensor& q,
                                        const Tensor& k, const Tensor& v) {
  const int64_t tokens = q.dim(0), d = o.heads.head_dim,
                group = o.heads.n_heads / o.heads.n_kv_heads;
  const int64_t m = o.features.features;
  const double s = std::pow(static_cast<double>(d), -0.25);
  std::vector<float> out(static_cast<size_t>(tokens * o.heads.n_heads * d));
  for (int64_t g = 0; g < o.heads.n_kv_heads; ++g) {
    const rf::PositiveFeatureMap map = HeadFeatureMap(o, g);
    std::vector<double> scale(static_cast<size_t>(m), -HUGE_VAL), z(static_cast<size_t>(m), 0.0);
    std::vector<double> sums(static_cast<size_t>(m * d), 0.0);
    std::vector<double> x(static_cast<size_t>(d)), y(static_cast<size_t>(d));
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t i = 0; i < d; ++i) {
        y[static_cast<size_t>(i)] = s * k.data<float>()[(t * o.heads.n_kv_heads + g) * d + i];
      }
      const std::vector<double> lk = map.LogFeatures(y, false);
      const float* value = v.data<float>() + (t * o.heads.n_kv_heads + g) * d;
      for (int64_t f = 0; f < m; ++f) {
        double& c = scale[static_cast<size_t>(f)];
        const double key_log = lk[static_cast<size_t>(f)];
        if (key_log > c) {  // A new largest key for this feature: rescale what it holds.
          const double shrink = std::exp(c - key_log);
          z[static_cast<size_t>(f)] *= shrink;
          for (int64_t i = 0; i < d; ++i) sums[static_cast<size_t>(f * d + i)] *= shrink;
          c = key_log;
        }
        const double w = std::exp(key_log - c);
        z[static_cast<size_t>(f)] += w;
        for (int64_t i = 0; i < d; ++i) sums[static_cast<size_t>(f * d + i)] += w * value[i];
      }
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        for (int64_t i = 0; i < d; ++i) {
          x[static_cast<size_t>(i)] = s * q.data<float>()[(t * o.heads.n_heads + h) * d + i];
        }
        const std::vector<double> lq = map.LogFeatures(x, true);
        double r = -HUGE_VAL;
        for (int64_t f = 0; f < m; ++f) {
          r = std::max(r, lq[static_cast<size_t>(f)] + scale[static_cast<size_t>(f)]);
        }
        std::vector<double> numerator(static_cast<size_t>(d), 0.0);
        double denominator = 0;
        for (int64_t f = 0; f < m; ++f) {
          const double w = std::exp(lq[static_cast<size_t>(f)] + scale[static_cast<size_t>(f)] - r);
          denominator += w * z[static_cast<size_t>(f)];
          for (int64_t i = 0; i < d; ++i) {
            numerator[static_cast<size_t>(i)] += w * sums[static_cast<size_t>(f * d + i)];
          }
        }
        for (int64_t i = 0; i < d; ++i) {
          out[static_cast<size_t>((t * o.heads.n_heads + h) * d + i)] =
              static_cast<float>(numerator[static_cast<size_t>(i)] / denominator);
        }
      }
    }
  }
  return out;
}

TEST_P(FavorAttentionTest, SixtyFourThousandExtremeTokensStayFinite) {
  const Shape4 s{2, 1, 16};
  constexpr int64_t kTokens = 65536, kChunk = 8192, kDecode = 16;
  Inputs in = MakeInputs(s, kTokens, 9);
  SpreadScaledNorms(in.q, s.heads, s.dim, 1000.0);
  SpreadScaledNorms(in.k, s.kv_heads, s.dim, 1000.0);
  const FavorAttentionOptions options = Options(s, rf::RfKind::kSaderf, 32, 64);
  auto op = FavorAttentionOp::Create(options).value();
  auto executor = Executor::Create(AttentionGraph(op, s),
                                   {.max_seq_len = kChunk, .threads = 2, .isa = GetParam()})
                      .value();
  auto state = executor->CreateState({.max_context = kTokens}).value();
  // Not only finite: every output against the incremental float64 definition, to the end.
  const std::vector<float> reference = IncrementalReference(options, in.q, in.k, in.v);
  const int64_t row = s.heads * s.dim;
  auto run = [&](int64_t start, int64_t end) {
    ASSERT_TRUE(executor
                    ->Run({in.q.Slice(start, end).value(), in.k.Slice(start, end).value(),
                           in.v.Slice(start, end).value()},
                          *state)
                    .ok());
    const std::vector<float> out = ToVector(executor->output(0));
    ExpectFinite(out, absl::StrCat("tokens ", start, "..", end));
    EXPECT_LT(NormalizedError(out.data(), reference.data() + start * row, (end - start) * row),
              1e-4)  // 1.8e-5 measured at the end of 64K tokens.
        << "tokens " << start << ".." << end;
  };
  for (int64_t start = 0; start < kTokens - kDecode; start += kChunk) {
    run(start, std::min(start + kChunk, kTokens - kDecode));
  }
  for (int64_t t = kTokens - kDecode; t < kTokens; ++t) run(t, t + 1);
  EXPECT_EQ(state->position(), kTokens);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, FavorAttentionTest, ::testing::ValuesIn(kernels::SupportedIsas()),
                         testing::IsaParamName);

TEST(FavorAttention, PromptStatisticsAreFrozenForTheSequenceAndResetWithIt) {
  const Shape4 s{4, 2, 8};
  FavorAttentionOptions o = Options(s, rf::RfKind::kSaderf, 32, 16);
  o.source = FavorStatsSource::kPrompt;
  o.calibration.clear();
  auto op = FavorAttentionOp::Create(o).value();
  EXPECT_TRUE(op->fixed_features().empty());
  const Inputs in = MakeInputs(s, 12, 4);
  auto executor =
      Executor::Create(AttentionGraph(op, s), {.max_seq_len = 16, .threads = 1}).value();
  auto state = executor->CreateState({.max_context = 32}).value();
  ASSERT_TRUE(executor->Run({in.q, in.k, in.v}, *state).ok());
  const auto first = ToVector(executor->output(0));
  ASSERT_TRUE(
      executor
          ->Run({in.q.Slice(0, 1).value(), in.k.Slice(0, 1).value(), in.v.Slice(0, 1).value()},
                *state)
          .ok());
  state->Reset();
  ASSERT_TRUE(executor->Run({in.q, in.k, in.v}, *state).ok());
  EXPECT_EQ(ToVector(executor->output(0)), first);
  // The features really came from this prompt: calibrated ones built from its statistics agree.
  FavorAttentionOptions reference = o;
  reference.source = FavorStatsSource::kCalibrated;
  reference.calibration = InputStatistics(s, in.q, in.k);
  EXPECT_LT(NormalizedError(first, Reference(reference, in.q, in.k, in.v)), 2e-5);
}

TEST(FavorAttention, SequenceStatisticsServeBidirectionalAttention) {
  const Shape4 s{4, 2, 8};
  FavorAttentionOptions o = Options(s, rf::RfKind::kSderf, 64, 16, /*causal=*/false);
  o.source = FavorStatsSource::kSequence;
  o.calibration.clear();
  auto op = FavorAttentionOp::Create(o).value();
  const Inputs in = MakeInputs(s, 30, 12);
  auto out = testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, kernels::BestIsa());
  ASSERT_TRUE(out.ok()) << out.status();
  // The same as calibrated features whose statistics are this input's own (pooled per KV head).
  FavorAttentionOptions reference = o;
  reference.source = FavorStatsSource::kCalibrated;
  reference.calibration = InputStatistics(s, in.q, in.k);
  EXPECT_LT(NormalizedError((*out)[0], Reference(reference, in.q, in.k, in.v)), 2e-5);
  o.causal = true;
  EXPECT_FALSE(FavorAttentionOp::Create(o).ok());  // Would leak future tokens.
}

// Causal softmax attention in double: the function random features estimate.
std::vector<float> ExactSoftmax(const Shape4& s, const Tensor& q, const Tensor& k,
                                const Tensor& v) {
  const int64_t tokens = q.dim(0), d = s.dim, group = s.heads / s.kv_heads;
  std::vector<float> out(static_cast<size_t>(tokens * s.heads * d));
  for (int64_t h = 0; h < s.heads; ++h) {
    const int64_t g = h / group;
    for (int64_t t = 0; t < tokens; ++t) {
      std::vector<double> log_w;
      for (int64_t j = 0; j <= t; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < d; ++i) {
          dot += static_cast<double>(q.data<float>()[(t * s.heads + h) * d + i]) *
                 k.data<float>()[(j * s.kv_heads + g) * d + i];
        }
        log_w.push_back(dot / std::sqrt(static_cast<double>(d)));
      }
      testing::WriteWeightedAverage(log_w, v, s.kv_heads, g, d, out.data() + (t * s.heads + h) * d);
    }
  }
  return out;
}

// Against softmax attention itself, not a float64 form of the same features: every positive kind
// converges to it as M grows (the error falls about as M^-1/2: 64x the features, well over 3x
// less error), and at M = 16384 is within a few per cent. Inputs with |q'|^2 about 2.
TEST(FavorAttention, EveryPositiveKindConvergesToSoftmaxAttention) {
  const Shape4 s{2, 1, 8};
  const Inputs in = MakeInputs(s, 48, 77, 1.2f);
  const std::vector<float> exact = ExactSoftmax(s, in.q, in.k, in.v);
  for (rf::RfKind kind : {rf::RfKind::kPos, rf::RfKind::kOprf, rf::RfKind::kSaderf,
                          rf::RfKind::kAderf, rf::RfKind::kSderf}) {
    double errors[2] = {};
    for (int i = 0; i < 2; ++i) {
      FavorAttentionOptions o = Options(s, kind, i == 0 ? 256 : 16384, 16);
      o.calibration = InputStatistics(s, in.q, in.k);
      auto op = FavorAttentionOp::Create(o).value();
      auto out =
          testing::RunGraphOnce(AttentionGraph(op, s), {in.q, in.k, in.v}, kernels::BestIsa(), 64);
      ASSERT_TRUE(out.ok()) << out.status();
      errors[i] = NormalizedError((*out)[0], exact);
    }
    std::printf("%s: error to softmax %.4f at M=256, %.4f at M=16384\n",
                std::string(rf::RfKindName(kind)).c_str(), errors[0], errors[1]);
    EXPECT_LT(errors[1], 0.05) << rf::RfKindName(kind);
    EXPECT_LT(errors[1], errors[0] / 3) << rf::RfKindName(kind);
  }
}

TEST(FavorAttention, RejectsBadOptions) {
  const Shape4 s{4, 2, 8};
  EXPECT_FALSE(FavorAttentionOp::Create(Options(s, rf::RfKind::kTrig, 32, 16)).ok());
  auto o = Options(s, rf::RfKind::kSaderf, 32, 0);
  EXPECT_FALSE(FavorAttentionOp::Create(o).ok());
  o = Options(s, rf::RfKind::kSaderf, 32, 16);
  o.calibration.pop_back();
  EXPECT_FALSE(FavorAttentionOp::Create(o).ok());
}

}  // namespace
}  // namespace favor
