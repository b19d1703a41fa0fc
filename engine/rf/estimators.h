// Kernel estimators that are not positive (TrigRF, GERF with complex A or s = -1, and the
// discretely-induced DIRFs), used for kernel estimation and for the variance comparison; and the
// closed-form variances of every single-feature estimator f1(w, x) f2(w, y) of exp(x.y)
// (RANDOM_FEATURES.md sections 2, 3 and 6). With M iid features the variance divides by M.
#pragma once

#include <complex>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"

namespace favor::rf {

using Vector = std::vector<double>;

// --- Single-feature samples (the mean over w is exp(x.y)) ---
// TrigRF: exp((|x|^2 + |y|^2) / 2) cos(w.(x - y)).
double TrigRfSample(const Vector& w, const Vector& x, const Vector& y);
// PosRF: exp(w.x - |x|^2/2) exp(w.y - |y|^2/2).
double PosRfSample(const Vector& w, const Vector& x, const Vector& y);

// GERF with a complex A (Re(1 - 8A) > 0) and s in {-1, +1}; the estimator is Re(f1 f2).
struct ComplexGerf {
  std::complex<double> a;
  int s = 1;
};
double GerfSample(const ComplexGerf& g, const Vector& w, const Vector& x, const Vector& y);

// DIRFs: w holds non-negative integers, drawn iid per coordinate from Poisson(lambda) or
// Geometric(p) (P(k) = p (1-p)^k). Sample = prod_l (x_l y_l)^(w_l) / (w_l! P(w_l)).
double PoissonSample(const std::vector<int>& w, double lambda, const Vector& x, const Vector& y);
double GeometricSample(const std::vector<int>& w, double p, const Vector& x, const Vector& y);
std::vector<int> DrawPoisson(int64_t dim, double lambda, std::mt19937_64& rng);
std::vector<int> DrawGeometric(int64_t dim, double p, std::mt19937_64& rng);

// --- Closed forms: Var(f1 f2) for one feature ---
double TrigRfVariance(const Vector& x, const Vector& y);
double PosRfVariance(const Vector& x, const Vector& y);
// Positive GERF (s = +1, real A < 1/8): log E[(f1 f2)^2].
double GerfLogSecondMoment(double a, const Vector& x, const Vector& y);
// Complex GERF: E[(Re f1 f2)^2].
double GerfSecondMoment(const ComplexGerf& g, const Vector& x, const Vector& y);
double PoissonVariance(double lambda, const Vector& x, const Vector& y);
double GeometricVariance(double p, const Vector& x, const Vector& y);

// --- Optimal DIRF parameters ---
// lambda* = sqrt(sum_l x_l^2 y_l^2 / d) for one pair; for sets pass m1_l = mean x_l^2 and
// m2_l = mean y_l^2: lambda* = sqrt(sum_l m1_l m2_l / d).
double PoissonOptimalLambda(const Vector& m1, const Vector& m2);
// p* minimising the mean over the pairs of log E[(f1 f2)^2] (golden-section search on (0, 1)).
double GeometricOptimalP(const std::vector<Vector>& xs, const std::vector<Vector>& ys);

}  // namespace favor::rf
