// Positive random features for the softmax kernel K(x, y) = exp(x.y): the dense-exponential
// family (RANDOM_FEATURES.md sections 2-5), which contains PosRF, GERF (s = +1, real A), OPRF and
// the DERFs (SADERF, ADERF, SDERF):
//
//   log f_k(w, x) = log D + w^T A w + w^T B_k x + x^T C_k x      (k = 1 queries, 2 keys),
//
// unbiased when B_1^T (I - 4A)^-1 B_2 = I and C_k = -1/2 B_k^T (I - 4A)^-1 B_k, with D =
// det(I - 4A)^(1/4). Every variant is a choice of (A, B_1, B_2) made from the statistics of the
// queries and keys; the feature map then needs, per feature m, a bias log D + w_m^T A w_m and the
// projections B_k^T w_m, and per vector the quadratic term x^T C_k x.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/rf/linalg.h"
#include "engine/rf/statistics.h"

namespace favor::rf {

enum class RfKind { kTrig, kPos, kGerf, kOprf, kSaderf, kAderf, kSderf, kPoisson, kGeometric };

absl::string_view RfKindName(RfKind kind);
absl::StatusOr<RfKind> ParseRfKind(absl::string_view name);
// Positive kinds can serve attention (their sums are positive); the others estimate kernels only.
bool IsPositive(RfKind kind);

struct DerfParameters {
  Matrix a;       // d x d, symmetric, 8A < I.
  Matrix b1, b2;  // d x d.
  Matrix c1, c2;  // d x d.
  double log_d = 0.0;
};

// OPRF's optimal A for rho = mean |x + y|^2 / d: the root of 16A^2 + (4 rho - 2) A - rho = 0.
double OprfA(double rho);

DerfParameters PosRfParameters(int64_t dim);
// GERF with s = +1 and a real A < 1/8 (A = 0 is PosRF).
absl::StatusOr<DerfParameters> GerfParameters(int64_t dim, double a);
// The optimal parameters of a positive kind for these statistics (PosRF ignores them).
absl::StatusOr<DerfParameters> OptimalParameters(RfKind kind, const PairStatistics& statistics);
// The same features for the Gaussian kernel exp(-|x - y|^2 / 2): C_k -= I / 2.
DerfParameters ForGaussianKernel(DerfParameters parameters);
// Checks unbiasedness conditions (8A < I, B_1^T (I-4A)^-1 B_2 = I) to a relative tolerance.
absl::Status CheckUnbiased(const DerfParameters& parameters, double tolerance = 1e-8);

// log E[(f1 f2)^2] for one pair (x, y), from the closed form; Var = E[(f1 f2)^2] - exp(2 x.y).
absl::StatusOr<double> LogSecondMoment(const DerfParameters& parameters,
                                       const std::vector<double>& x, const std::vector<double>& y);

// Features of a set of projections omega (M x d):
//   log phi(x)_m = bias_m + p1_m . x + x^T C_1 x,  log psi(y)_m = bias_m + p2_m . y + y^T C_2 y,
// with bias_m = log D + w_m^T A w_m - 1/2 log M, so that phi(x) . psi(y) estimates exp(x.y).
struct PositiveFeatureMap {
  int64_t features = 0;
  int64_t dim = 0;
  std::vector<double> bias;  // M
  Matrix query_projection;   // M x d, rows B_1^T w_m
  Matrix key_projection;     // M x d, rows B_2^T w_m
  Matrix query_quadratic;    // C_1
  Matrix key_quadratic;      // C_2

  // log phi(x) (queries) or log psi(y) (keys), M values.
  std::vector<double> LogFeatures(const std::vector<double>& v, bool query) const;
  // phi(x) . psi(y): the kernel estimate.
  double Estimate(const std::vector<double>& x, const std::vector<double>& y) const;
};

PositiveFeatureMap BuildFeatureMap(const DerfParameters& parameters, const Matrix& omega);

}  // namespace favor::rf
