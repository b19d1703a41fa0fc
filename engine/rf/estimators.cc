#include "engine/rf/estimators.h"

#include <cmath>
#include <numeric>

namespace favor::rf {
namespace {

double Dot(const Vector& a, const Vector& b) {
  return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
}
double Norm2(const Vector& a) { return Dot(a, a); }

Vector Combine(const Vector& x, double s, const Vector& y) {
  Vector v(x.size());
  for (size_t i = 0; i < x.size(); ++i) v[i] = x[i] + s * y[i];
  return v;
}

// log E[(f1 f2)^2] of the geometric DIRF: -d log p + sum_l log I0(2 |x_l y_l| / sqrt(1 - p)).
double GeometricLogSecondMoment(double p, const Vector& x, const Vector& y) {
  double sum = -static_cast<double>(x.size()) * std::log(p);
  for (size_t l = 0; l < x.size(); ++l) {
    sum += std::log(std::cyl_bessel_i(0.0, 2.0 * std::fabs(x[l] * y[l]) / std::sqrt(1.0 - p)));
  }
  return sum;
}

}  // namespace

double TrigRfSample(const Vector& w, const Vector& x, const Vector& y) {
  return std::exp(0.5 * (Norm2(x) + Norm2(y))) * std::cos(Dot(w, x) - Dot(w, y));
}

double PosRfSample(const Vector& w, const Vector& x, const Vector& y) {
  return std::exp(Dot(w, x) - 0.5 * Norm2(x) + Dot(w, y) - 0.5 * Norm2(y));
}

double GerfSample(const ComplexGerf& g, const Vector& w, const Vector& x, const Vector& y) {
  using C = std::complex<double>;
  const auto d = static_cast<double>(x.size());
  const C one_minus_4a = 1.0 - 4.0 * g.a;
  const C b = std::sqrt(static_cast<double>(g.s) * one_minus_4a);
  const double c = -static_cast<double>(g.s) / 2.0;
  // f1 f2 = D^2 exp(2A|w|^2 + B w.(x + s y) + C (|x|^2 + |y|^2)), D^2 = (1-4A)^(d/2).
  const C log_product = 0.5 * d * std::log(one_minus_4a) + 2.0 * g.a * Norm2(w) +
                        b * Dot(w, Combine(x, g.s, y)) + c * (Norm2(x) + Norm2(y));
  return std::exp(log_product).real();
}

namespace {

// prod_l (x_l y_l)^(w_l) / (w_l! P(w_l)) in log space with its sign, given log P(k).
template <typename LogProbability>
double DirfSample(const std::vector<int>& w, const Vector& x, const Vector& y,
                  LogProbability log_probability) {
  double log_abs = 0.0, sign = 1.0;
  for (size_t l = 0; l < x.size(); ++l) {
    const int k = w[l];
    const double xy = x[l] * y[l];
    if (k > 0) {
      if (xy == 0.0) return 0.0;
      log_abs += k * std::log(std::fabs(xy));
      if (xy < 0 && (k % 2) == 1) sign = -sign;
    }
    log_abs -= std::lgamma(k + 1.0) + log_probability(k);
  }
  return sign * std::exp(log_abs);
}

}  // namespace

double PoissonSample(const std::vector<int>& w, double lambda, const Vector& x, const Vector& y) {
  const double log_lambda = std::log(lambda);
  return DirfSample(w, x, y,
                    [&](int k) { return -lambda + k * log_lambda - std::lgamma(k + 1.0); });
}

double GeometricSample(const std::vector<int>& w, double p, const Vector& x, const Vector& y) {
  const double log_p = std::log(p), log_q = std::log(1.0 - p);
  return DirfSample(w, x, y, [&](int k) { return log_p + k * log_q; });
}

std::vector<int> DrawPoisson(int64_t dim, double lambda, std::mt19937_64& rng) {
  std::poisson_distribution<int> poisson(lambda);
  std::vector<int> w(static_cast<size_t>(dim));
  for (int& k : w) k = poisson(rng);
  return w;
}

std::vector<int> DrawGeometric(int64_t dim, double p, std::mt19937_64& rng) {
  std::geometric_distribution<int> geometric(p);  // P(k) = p (1-p)^k, k >= 0.
  std::vector<int> w(static_cast<size_t>(dim));
  for (int& k : w) k = geometric(rng);
  return w;
}

double TrigRfVariance(const Vector& x, const Vector& y) {
  const double diff = Norm2(Combine(x, -1.0, y));
  const double t = 1.0 - std::exp(-diff);
  return 0.5 * std::exp(Norm2(x) + Norm2(y)) * t * t;
}

double PosRfVariance(const Vector& x, const Vector& y) {
  const double k = std::exp(Dot(x, y));
  return k * k * (std::exp(Norm2(Combine(x, 1.0, y))) - 1.0);
}

double GerfLogSecondMoment(double a, const Vector& x, const Vector& y) {
  const auto d = static_cast<double>(x.size());
  return 0.5 * d * std::log((1 - 4 * a) * (1 - 4 * a) / (1 - 8 * a)) +
         2 * (1 - 4 * a) / (1 - 8 * a) * Norm2(Combine(x, 1.0, y)) - Norm2(x) - Norm2(y);
}

double GerfSecondMoment(const ComplexGerf& g, const Vector& x, const Vector& y) {
  using C = std::complex<double>;
  const auto d = static_cast<double>(x.size());
  const double s = g.s;
  const double v2 = Norm2(Combine(x, s, y));
  const C one_minus_4a = 1.0 - 4.0 * g.a, one_minus_8a = 1.0 - 8.0 * g.a;
  const double re_a = g.a.real();
  // a1 = ((1-4A) (1-8A)^-1/2)^d, a2 = 2 s (1-4A) / (1-8A),
  // a3 = (|1-4A|^2 / (1 - 8 Re A))^(d/2), a4 = (|1-4A| + s (1 - 4 Re A)) / (1 - 8 Re A).
  const C log_a1 = d * (std::log(one_minus_4a) - 0.5 * std::log(one_minus_8a));
  const C a2 = 2.0 * s * one_minus_4a / one_minus_8a;
  const double log_a3 = 0.5 * d * std::log(std::norm(one_minus_4a) / (1.0 - 8.0 * re_a));
  const double a4 = (std::abs(one_minus_4a) + s * (1.0 - 4.0 * re_a)) / (1.0 - 8.0 * re_a);
  const double shift = -s * (Norm2(x) + Norm2(y));
  return 0.5 * (std::exp(log_a1 + a2 * v2 + shift).real() + std::exp(log_a3 + a4 * v2 + shift));
}

double PoissonVariance(double lambda, const Vector& x, const Vector& y) {
  double sum = 0.0;
  for (size_t l = 0; l < x.size(); ++l) sum += x[l] * x[l] * y[l] * y[l];
  return std::exp(lambda * static_cast<double>(x.size()) + sum / lambda) -
         std::exp(2.0 * Dot(x, y));
}

double GeometricVariance(double p, const Vector& x, const Vector& y) {
  return std::exp(GeometricLogSecondMoment(p, x, y)) - std::exp(2.0 * Dot(x, y));
}

double PoissonOptimalLambda(const Vector& m1, const Vector& m2) {
  double sum = 0.0;
  for (size_t l = 0; l < m1.size(); ++l) sum += m1[l] * m2[l];
  return std::sqrt(sum / static_cast<double>(m1.size()));
}

double GeometricOptimalP(const std::vector<Vector>& xs, const std::vector<Vector>& ys) {
  auto objective = [&](double p) {
    double sum = 0.0;
    for (size_t i = 0; i < xs.size(); ++i) sum += GeometricLogSecondMoment(p, xs[i], ys[i]);
    return sum / static_cast<double>(xs.size());
  };
  // The objective is smooth on (0, 1) and rises at both ends; golden-section search.
  const double phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double lo = 1e-6, hi = 1.0 - 1e-6;
  double c = hi - phi * (hi - lo), d = lo + phi * (hi - lo);
  double fc = objective(c), fd = objective(d);
  for (int i = 0; i < 200 && hi - lo > 1e-10; ++i) {
    if (fc < fd) {
      hi = d;
      d = c;
      fd = fc;
      c = hi - phi * (hi - lo);
      fc = objective(c);
    } else {
      lo = c;
      c = d;
      fc = fd;
      d = lo + phi * (hi - lo);
      fd = objective(d);
    }
  }
  return 0.5 * (lo + hi);
}

}  // namespace favor::rf
