// The random-feature library, tested statistically with fixed seeds: every estimator is unbiased
// and its closed-form variance matches Monte Carlo; optimal parameters match the reference values
// of RANDOM_FEATURES.md and beat their perturbations; orthogonal features are orthogonal, have
// chi_d norms and lower the variance.
#include <cmath>
#include <random>

#include "engine/rf/estimators.h"
#include "engine/rf/linalg.h"
#include "engine/rf/positive.h"
#include "engine/rf/projection.h"
#include "engine/rf/statistics.h"
#include "gtest/gtest.h"

namespace favor::rf {
namespace {

Vector RandomVector(std::mt19937_64& rng, int64_t d, double scale) {
  std::normal_distribution<double> normal(0.0, scale);
  Vector v(static_cast<size_t>(d));
  for (double& x : v) x = normal(rng);
  return v;
}

double DotV(const Vector& a, const Vector& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Sample mean and variance of `draws` evaluations of `sample`.
template <typename Fn>
std::pair<double, double> MeanAndVariance(int draws, Fn&& sample) {
  double mean = 0.0, m2 = 0.0;
  for (int i = 1; i <= draws; ++i) {  // Welford.
    const double v = sample();
    const double delta = v - mean;
    mean += delta / i;
    m2 += delta * (v - mean);
  }
  return {mean, m2 / (draws - 1)};
}

// Checks E = exp(x.y) within 5 standard errors and Var = closed form within `relative`.
void ExpectUnbiasedWithVariance(const std::string& what, double mean, double variance, int draws,
                                double kernel, double closed_form_variance, double relative) {
  const double standard_error = std::sqrt(variance / draws);
  EXPECT_NEAR(mean, kernel, 5 * standard_error) << what << ": biased";
  EXPECT_NEAR(variance / closed_form_variance, 1.0, relative)
      << what << ": Monte Carlo variance " << variance << " vs closed form "
      << closed_form_variance;
}

TEST(Oprf, OptimalAMatchesTheReferenceValues) {
  const std::pair<double, double> reference[] = {
      {0.01, -0.004906}, {0.10, -0.043541}, {0.25, -0.097597}, {1.0, -0.320194}, {4.0, -1.101884}};
  for (const auto& [rho, a] : reference) EXPECT_NEAR(OprfA(rho), a, 1e-6) << "rho=" << rho;
  EXPECT_EQ(OprfA(0.0), 0.0);
}

TEST(Linalg, EigenQrAndInverse) {
  std::mt19937_64 rng(1);
  const int64_t d = 9;
  Matrix g(d, d);
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) g(i, j) = RandomVector(rng, 1, 1.0)[0];
  }
  const Matrix spd = g * g.Transposed() + Matrix::Identity(d);
  const Eigen e = SymmetricEigen(spd).value();
  const Matrix rebuilt = e.vectors * Matrix::Diagonal(e.values) * e.vectors.Transposed();
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) EXPECT_NEAR(rebuilt(i, j), spd(i, j), 1e-9);
  }
  const Matrix q = OrthogonalFromQr(g);
  const Matrix qtq = q.Transposed() * q;
  const Matrix inv = Inverse(spd).value() * spd;
  const Matrix root = SymmetricSqrt(spd).value();
  const Matrix squared = root * root;
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      EXPECT_NEAR(qtq(i, j), i == j ? 1.0 : 0.0, 1e-12);
      EXPECT_NEAR(inv(i, j), i == j ? 1.0 : 0.0, 1e-10);
      EXPECT_NEAR(squared(i, j), spd(i, j), 1e-9);
    }
  }
  EXPECT_FALSE(Inverse(Matrix(3, 3)).ok());
}

TEST(Projection, OrthogonalBlocksWithChiNorms) {
  const int64_t d = 16, m = 2000;
  const Matrix omega = GaussianProjection(m, d, ProjectionKind::kOrthogonal, StreamSeed(7, 0, 0));
  // Rows within a block are orthogonal.
  for (int64_t block = 0; block + d <= 4 * d; block += d) {
    for (int64_t i = block; i < block + d; ++i) {
      for (int64_t j = i + 1; j < block + d; ++j) {
        const Vector a(omega.row(i), omega.row(i) + d), b(omega.row(j), omega.row(j) + d);
        EXPECT_NEAR(DotV(a, b) / std::sqrt(DotV(a, a) * DotV(b, b)), 0.0, 1e-10);
      }
    }
  }
  // Squared norms are chi-square with d degrees of freedom: mean d, variance 2d.
  double mean = 0.0, m2 = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    const Vector row(omega.row(r), omega.row(r) + d);
    const double n2 = DotV(row, row);
    mean += n2 / m;
    m2 += n2 * n2 / m;
  }
  const double variance = m2 - mean * mean;
  EXPECT_NEAR(mean, d, 5 * std::sqrt(2.0 * d / m));
  EXPECT_NEAR(variance / (2.0 * d), 1.0, 0.15);
  // Deterministic per (seed, layer, head), different across heads.
  const Matrix again = GaussianProjection(m, d, ProjectionKind::kOrthogonal, StreamSeed(7, 0, 0));
  const Matrix other = GaussianProjection(m, d, ProjectionKind::kOrthogonal, StreamSeed(7, 0, 1));
  EXPECT_EQ(again(5, 3), omega(5, 3));
  EXPECT_NE(other(5, 3), omega(5, 3));
  // A partial last block.
  EXPECT_EQ(GaussianProjection(20, d, ProjectionKind::kOrthogonal, 1).rows(), 20);
}

// Anisotropic queries and keys (per-coordinate scales and a mean), as real heads have.
struct Data {
  std::vector<Vector> xs, ys;
  PairStatistics stats;
};

Data AnisotropicData(int64_t d, int64_t n, double scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Data data{{}, {}, PairStatistics(d)};
  Vector qscale(static_cast<size_t>(d)), kscale(static_cast<size_t>(d)),
      kmean(static_cast<size_t>(d));
  std::uniform_real_distribution<double> uniform(0.3, 1.7);
  for (int64_t l = 0; l < d; ++l) {
    qscale[static_cast<size_t>(l)] = uniform(rng);
    kscale[static_cast<size_t>(l)] = uniform(rng);
    kmean[static_cast<size_t>(l)] = 0.3 * (uniform(rng) - 1.0);
  }
  for (int64_t i = 0; i < n; ++i) {
    Vector x = RandomVector(rng, d, scale), y = RandomVector(rng, d, scale);
    std::vector<float> xf(static_cast<size_t>(d)), yf(static_cast<size_t>(d));
    for (int64_t l = 0; l < d; ++l) {
      x[static_cast<size_t>(l)] *= qscale[static_cast<size_t>(l)];
      y[static_cast<size_t>(l)] = y[static_cast<size_t>(l)] * kscale[static_cast<size_t>(l)] +
                                  scale * kmean[static_cast<size_t>(l)];
      xf[static_cast<size_t>(l)] = static_cast<float>(x[static_cast<size_t>(l)]);
      yf[static_cast<size_t>(l)] = static_cast<float>(y[static_cast<size_t>(l)]);
    }
    data.stats.AddQuery(xf.data());
    data.stats.AddKey(yf.data());
    data.xs.push_back(x);
    data.ys.push_back(y);
  }
  return data;
}

TEST(PositiveFeatures, EveryKindIsUnbiasedWithItsClosedFormVariance) {
  const int64_t d = 8;
  const Data data = AnisotropicData(d, 500, 0.25, 3);
  struct Case {
    std::string name;
    DerfParameters params;
  };
  std::vector<Case> cases = {{"posrf", PosRfParameters(d)},
                             {"gerf(A=-0.1)", GerfParameters(d, -0.1).value()}};
  for (RfKind kind : {RfKind::kOprf, RfKind::kSaderf, RfKind::kAderf, RfKind::kSderf}) {
    cases.push_back({std::string(RfKindName(kind)), OptimalParameters(kind, data.stats).value()});
  }
  cases.push_back({"sderf (gaussian kernel)",
                   ForGaussianKernel(OptimalParameters(RfKind::kSderf, data.stats).value())});
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  const int draws = 400000;
  for (const Case& c : cases) {
    ASSERT_TRUE(CheckUnbiased(c.params).ok()) << c.name << ": " << CheckUnbiased(c.params);
    const bool gaussian = c.name.find("gaussian") != std::string::npos;
    for (int pair = 0; pair < 2; ++pair) {
      const Vector& x = data.xs[static_cast<size_t>(pair)];
      const Vector& y = data.ys[static_cast<size_t>(pair)];
      // One feature at a time: f1(w, x) f2(w, y) with w ~ N(0, I).
      const double qx = QuadraticForm(x, c.params.c1, x), qy = QuadraticForm(y, c.params.c2, y);
      const Vector b1x = c.params.b1.Apply(x), b2y = c.params.b2.Apply(y);
      const auto [mean, variance] = MeanAndVariance(draws, [&] {
        Vector w(static_cast<size_t>(d));
        for (double& v : w) v = normal(rng);
        return std::exp(2 * c.params.log_d + 2 * QuadraticForm(w, c.params.a, w) + DotV(w, b1x) +
                        DotV(w, b2y) + qx + qy);
      });
      double log_kernel = DotV(x, y);
      if (gaussian) log_kernel -= 0.5 * (DotV(x, x) + DotV(y, y));
      const double kernel = std::exp(log_kernel);
      const double second = std::exp(LogSecondMoment(c.params, x, y).value());
      ExpectUnbiasedWithVariance(c.name, mean, variance, draws, kernel, second - kernel * kernel,
                                 0.1);
    }
  }
}

// At the norms of real models (|q'|^2 and |k'|^2 of 10 to 100 after the d^-1/4 scaling, where
// the kernel exp(q'.k') spans tens of nats), every positive kind still estimates exp(x.y) itself:
// the Monte Carlo mean of one feature within 5 sigma of the kernel, sigma from the closed-form
// second moment. For the DERFs sigma is 2-5 % of K at |.|^2 = 10 and 10-30 % at 30 (a biased
// estimator fails); at 100 it is of order K and PosRF's is astronomically large there: what makes
// the DERFs usable on real models and a pure PosRF swap not.
TEST(PositiveFeatures, EveryKindEstimatesTheKernelAtModelNorms) {
#ifdef FAVOR_SANITIZED_BUILD
  GTEST_SKIP() << "arithmetic only: run in the release build (10x slower under the sanitizers)";
#endif
  const int64_t d = 8;
  for (const double squared_norm : {10.0, 30.0, 100.0}) {
    // scale^2 x d x (mean squared per-coordinate factor ~1.1) ~ the squared norm.
    const Data data = AnisotropicData(d, 200, std::sqrt(squared_norm / d), 21);
    std::vector<std::pair<std::string, DerfParameters>> kinds = {{"posrf", PosRfParameters(d)}};
    for (RfKind kind : {RfKind::kOprf, RfKind::kSaderf, RfKind::kAderf, RfKind::kSderf}) {
      kinds.emplace_back(std::string(RfKindName(kind)),
                         OptimalParameters(kind, data.stats).value());
    }
    std::mt19937_64 rng(31);
    std::normal_distribution<double> normal;
    constexpr int kDraws = 200000;
    for (const auto& [name, params] : kinds) {
      for (size_t pair = 0; pair < 2; ++pair) {
        const Vector& x = data.xs[pair];
        const Vector& y = data.ys[pair];
        const double qx = QuadraticForm(x, params.c1, x), qy = QuadraticForm(y, params.c2, y);
        const Vector b1x = params.b1.Apply(x), b2y = params.b2.Apply(y);
        // In log space relative to the kernel: the estimate's mean over the draws, / K.
        const double log_kernel = DotV(x, y);
        double mean_ratio = 0;
        for (int i = 0; i < kDraws; ++i) {
          Vector w(static_cast<size_t>(d));
          for (double& value : w) value = normal(rng);
          mean_ratio += std::exp(2 * params.log_d + 2 * QuadraticForm(w, params.a, w) +
                                 DotV(w, b1x) + DotV(w, b2y) + qx + qy - log_kernel) /
                        kDraws;
        }
        // Var(f / K) = E[f^2] / K^2 - 1, from the closed form.
        const double relative_second =
            std::exp(LogSecondMoment(params, x, y).value() - 2 * log_kernel);
        const double sigma = std::sqrt(std::max(relative_second - 1, 0.0) / kDraws);
        EXPECT_NEAR(mean_ratio, 1.0, 5 * sigma + 1e-9)
            << name << " |x|^2 " << DotV(x, x) << " |y|^2 " << DotV(y, y) << " log K "
            << log_kernel;
      }
    }
  }
}

TEST(PositiveFeatures, FeatureMapEstimatesTheKernel) {
  const int64_t d = 8;
  const Data data = AnisotropicData(d, 200, 0.3, 4);
  const DerfParameters params = OptimalParameters(RfKind::kSaderf, data.stats).value();
  const Matrix omega = GaussianProjection(20000, d, ProjectionKind::kOrthogonal, 5);
  const PositiveFeatureMap map = BuildFeatureMap(params, omega);
  for (size_t i = 0; i < 5; ++i) {
    const Vector& x = data.xs[i];
    const Vector& y = data.ys[i];
    const double exact = std::exp(DotV(x, y));
    // Within 5 standard deviations of the estimate (iid bound; orthogonal features only lower it).
    const double variance = std::exp(LogSecondMoment(params, x, y).value()) - exact * exact;
    EXPECT_NEAR(map.Estimate(x, y), exact, 5 * std::sqrt(variance / 20000)) << "pair " << i;
  }
}

// Mean over the data's pairs of log E[(f1 f2)^2]: what the optimal parameters minimise.
double MeanLogSecondMoment(const DerfParameters& p, const Data& data) {
  double sum = 0.0;
  for (size_t i = 0; i < data.xs.size(); ++i) {
    for (size_t j = 0; j < data.ys.size(); j += 7)
      sum += LogSecondMoment(p, data.xs[i], data.ys[j]).value();
  }
  return sum;
}

TEST(PositiveFeatures, OptimalParametersBeatTheirPerturbationsAndOrderAsExpected) {
  const int64_t d = 8;
  const Data data = AnisotropicData(d, 60, 0.6, 6);
  const DerfParameters oprf = OptimalParameters(RfKind::kOprf, data.stats).value();
  const double a = oprf.a(0, 0);
  const double best = MeanLogSecondMoment(oprf, data);
  for (double delta : {-0.02, 0.02}) {
    EXPECT_GT(MeanLogSecondMoment(GerfParameters(d, a + delta).value(), data), best) << delta;
  }
  // Better-adapted families have lower objective: SDERF <= SADERF <= OPRF <= PosRF here.
  const double posrf = MeanLogSecondMoment(PosRfParameters(d), data);
  const double saderf =
      MeanLogSecondMoment(OptimalParameters(RfKind::kSaderf, data.stats).value(), data);
  const double sderf =
      MeanLogSecondMoment(OptimalParameters(RfKind::kSderf, data.stats).value(), data);
  EXPECT_LT(best, posrf);
  EXPECT_LT(saderf, best);
  EXPECT_LT(sderf, best);
  // rho(SADERF) <= rho(OPRF) by AM-GM, so its A* is larger (A* decreases with rho).
  EXPECT_GE(OptimalParameters(RfKind::kSaderf, data.stats).value().a(0, 0), a);
}

TEST(OtherEstimators, TrigRfComplexGerfAndDirfsAreUnbiasedWithTheirVariances) {
  const int64_t d = 6;
  std::mt19937_64 rng(21);
  const Vector x = RandomVector(rng, d, 0.25), y = RandomVector(rng, d, 0.25);
  const double kernel = std::exp(DotV(x, y));
  std::normal_distribution<double> normal;
  const int draws = 400000;
  auto gaussian_w = [&] {
    Vector w(static_cast<size_t>(d));
    for (double& v : w) v = normal(rng);
    return w;
  };
  {
    const auto [mean, variance] =
        MeanAndVariance(draws, [&] { return TrigRfSample(gaussian_w(), x, y); });
    ExpectUnbiasedWithVariance("trigrf", mean, variance, draws, kernel, TrigRfVariance(x, y), 0.05);
  }
  {
    const auto [mean, variance] =
        MeanAndVariance(draws, [&] { return PosRfSample(gaussian_w(), x, y); });
    ExpectUnbiasedWithVariance("posrf", mean, variance, draws, kernel, PosRfVariance(x, y), 0.05);
  }
  for (const ComplexGerf g :
       {ComplexGerf{{0.05, 0.1}, -1}, ComplexGerf{{-0.1, 0.05}, 1}, ComplexGerf{{0.0, 0.0}, -1}}) {
    const auto [mean, variance] =
        MeanAndVariance(draws, [&] { return GerfSample(g, gaussian_w(), x, y); });
    ExpectUnbiasedWithVariance("complex gerf", mean, variance, draws, kernel,
                               GerfSecondMoment(g, x, y) - kernel * kernel, 0.05);
  }
  {
    // A real positive GERF: the complex formula and the positive one agree.
    const ComplexGerf g{{-0.2, 0.0}, 1};
    EXPECT_NEAR(std::log(GerfSecondMoment(g, x, y)), GerfLogSecondMoment(-0.2, x, y), 1e-9);
  }
  Vector m1(static_cast<size_t>(d)), m2(static_cast<size_t>(d));
  for (int64_t l = 0; l < d; ++l) {
    m1[static_cast<size_t>(l)] = x[static_cast<size_t>(l)] * x[static_cast<size_t>(l)];
    m2[static_cast<size_t>(l)] = y[static_cast<size_t>(l)] * y[static_cast<size_t>(l)];
  }
  const double lambda = PoissonOptimalLambda(m1, m2);
  {
    const auto [mean, variance] = MeanAndVariance(
        draws, [&] { return PoissonSample(DrawPoisson(d, lambda, rng), lambda, x, y); });
    ExpectUnbiasedWithVariance("poisson", mean, variance, draws, kernel,
                               PoissonVariance(lambda, x, y), 0.1);
    // lambda* minimises the variance.
    EXPECT_LT(PoissonVariance(lambda, x, y), PoissonVariance(lambda * 1.3, x, y));
    EXPECT_LT(PoissonVariance(lambda, x, y), PoissonVariance(lambda / 1.3, x, y));
  }
  const double p = GeometricOptimalP({x}, {y});
  {
    const auto [mean, variance] =
        MeanAndVariance(draws, [&] { return GeometricSample(DrawGeometric(d, p, rng), p, x, y); });
    ExpectUnbiasedWithVariance("geometric", mean, variance, draws, kernel,
                               GeometricVariance(p, x, y), 0.1);
    EXPECT_LT(GeometricVariance(p, x, y), GeometricVariance(std::min(p + 0.05, 0.999), x, y));
    EXPECT_LT(GeometricVariance(p, x, y), GeometricVariance(std::max(p - 0.05, 0.001), x, y));
  }
}

TEST(OrthogonalFeatures, LowerTheVarianceOfTheEstimate) {
  const int64_t d = 16, m = 16;
  std::mt19937_64 rng(31);
  // Small inputs keep the estimator's tails light, so that 20000 draws measure its variance well.
  const Vector x = RandomVector(rng, d, 0.1), y = RandomVector(rng, d, 0.1);
  auto estimator_variance = [&](ProjectionKind kind) {
    uint64_t seed = 100;
    return MeanAndVariance(20000,
                           [&] {
                             const PositiveFeatureMap map = BuildFeatureMap(
                                 PosRfParameters(d), GaussianProjection(m, d, kind, ++seed));
                             return map.Estimate(x, y);
                           })
        .second;
  };
  const double ratio =
      estimator_variance(ProjectionKind::kOrthogonal) / estimator_variance(ProjectionKind::kIid);
  EXPECT_LT(ratio, 0.95) << "Var_ORF / Var_iid = " << ratio;  // Measured 0.87 here.
}

TEST(Statistics, MeansMomentsAndPooling) {
  PairStatistics a(2), b(2);
  const float q1[] = {1, 2}, q2[] = {3, 4}, k1[] = {0, 1};
  a.AddQuery(q1);
  b.AddQuery(q2);
  a.AddKey(k1);
  a.Merge(b);
  EXPECT_EQ(a.query_count(), 2);
  EXPECT_EQ(a.QueryMean()[1], 3.0);
  EXPECT_EQ(a.QuerySecondMoment()(0, 1), (2.0 + 12.0) / 2);
  EXPECT_EQ(a.KeySecondMoment()(1, 1), 1.0);
  EXPECT_FALSE(OptimalParameters(RfKind::kOprf, PairStatistics(4)).ok());  // No data.
  EXPECT_FALSE(OptimalParameters(RfKind::kTrig, a).ok());                  // Not positive.
  EXPECT_EQ(ParseRfKind("sderf").value(), RfKind::kSderf);
  EXPECT_FALSE(ParseRfKind("magic").ok());
}

}  // namespace
}  // namespace favor::rf
