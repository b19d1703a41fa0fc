#include "engine/rf/positive.h"

#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::rf {
namespace {

constexpr std::array<std::pair<RfKind, absl::string_view>, 9> kNames = {{
    {RfKind::kTrig, "trigrf"},
    {RfKind::kPos, "posrf"},
    {RfKind::kGerf, "gerf"},
    {RfKind::kOprf, "oprf"},
    {RfKind::kSaderf, "saderf"},
    {RfKind::kAderf, "aderf"},
    {RfKind::kSderf, "sderf"},
    {RfKind::kPoisson, "poisson"},
    {RfKind::kGeometric, "geometric"},
}};

// Parameters of an isotropic GERF/OPRF with A = a I and B_k = sqrt(1 - 4a) times the given
// matrices (Psi, Psi^-1 for SADERF; E, E^-T for ADERF; I for OPRF).
DerfParameters Isotropic(int64_t d, double a, const Matrix& b1_shape, const Matrix& b2_shape) {
  DerfParameters p;
  const double s = std::sqrt(1.0 - 4.0 * a);
  p.a = Matrix::Identity(d).Scaled(a);
  p.b1 = b1_shape.Scaled(s);
  p.b2 = b2_shape.Scaled(s);
  // C_k = -1/2 B_k^T B_k / (1 - 4a) = -1/2 shape_k^T shape_k.
  p.c1 = (b1_shape.Transposed() * b1_shape).Scaled(-0.5);
  p.c2 = (b2_shape.Transposed() * b2_shape).Scaled(-0.5);
  p.log_d = static_cast<double>(d) / 4.0 * std::log(1.0 - 4.0 * a);
  return p;
}

// Ridge so that second moments of degenerate data (a constant coordinate) stay invertible.
Matrix Regularised(const Matrix& m) {
  const double ridge = 1e-6 * (m.Trace() / static_cast<double>(m.rows()) + 1e-12);
  return m + Matrix::Identity(m.rows()).Scaled(ridge);
}

}  // namespace

absl::string_view RfKindName(RfKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

absl::StatusOr<RfKind> ParseRfKind(absl::string_view name) {
  for (const auto& [k, n] : kNames) {
    if (n == name) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown random-feature kind '", name,
                   "' (trigrf, posrf, gerf, oprf, saderf, aderf, sderf, poisson, geometric)"));
}

bool IsPositive(RfKind kind) {
  return kind == RfKind::kPos || kind == RfKind::kGerf || kind == RfKind::kOprf ||
         kind == RfKind::kSaderf || kind == RfKind::kAderf || kind == RfKind::kSderf;
}

double OprfA(double rho) {
  return (1.0 - 2.0 * rho - std::sqrt((2.0 * rho + 1.0) * (2.0 * rho + 1.0) + 8.0 * rho)) / 16.0;
}

DerfParameters PosRfParameters(int64_t dim) {
  return Isotropic(dim, 0.0, Matrix::Identity(dim), Matrix::Identity(dim));
}

absl::StatusOr<DerfParameters> GerfParameters(int64_t dim, double a) {
  if (!(a < 0.125)) return absl::InvalidArgumentError(absl::StrCat("GERF needs A < 1/8, got ", a));
  return Isotropic(dim, a, Matrix::Identity(dim), Matrix::Identity(dim));
}

absl::StatusOr<DerfParameters> OptimalParameters(RfKind kind, const PairStatistics& s) {
  const int64_t d = s.dim();
  const auto dd = static_cast<double>(d);
  if (d <= 0) return absl::InvalidArgumentError("statistics of dimension 0");
  if (kind == RfKind::kPos) return PosRfParameters(d);
  if (s.query_count() == 0 || s.key_count() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(RfKindName(kind), " needs query and key statistics; none were gathered"));
  }
  const Matrix m1 = s.QuerySecondMoment(), m2 = s.KeySecondMoment();
  const std::vector<double> xbar = s.QueryMean(), ybar = s.KeyMean();
  const double cross = Dot(xbar, ybar);
  const Matrix identity = Matrix::Identity(d);
  switch (kind) {
    case RfKind::kGerf:
    case RfKind::kOprf: {
      // mean_ij |x_i + y_j|^2 = tr M1 + tr M2 + 2 xbar.ybar.
      const double rho = (m1.Trace() + m2.Trace() + 2.0 * cross) / dd;
      return Isotropic(d, OprfA(rho), identity, identity);
    }
    case RfKind::kSaderf: {
      std::vector<double> psi(static_cast<size_t>(d)), inverse(static_cast<size_t>(d));
      double sum = 0.0;
      for (int64_t l = 0; l < d; ++l) {
        const double q = std::max(m1(l, l), 1e-12), k = std::max(m2(l, l), 1e-12);
        psi[static_cast<size_t>(l)] = std::pow(k / q, 0.25);
        inverse[static_cast<size_t>(l)] = 1.0 / psi[static_cast<size_t>(l)];
        sum += std::sqrt(q * k);
      }
      const double rho = (2.0 * sum + 2.0 * cross) / dd;
      return Isotropic(d, OprfA(rho), Matrix::Diagonal(psi), Matrix::Diagonal(inverse));
    }
    case RfKind::kAderf: {
      // P = M1^-1/2 (M1^1/2 M2 M1^1/2)^1/2 M1^-1/2 (the matrix geometric mean of M1^-1 and M2);
      // E = P^1/2 so that E^T E = P.
      const Matrix q = Regularised(m1), k = Regularised(m2);
      FAVOR_ASSIGN_OR_RETURN(const Matrix q_half, SymmetricSqrt(q));
      FAVOR_ASSIGN_OR_RETURN(const Matrix q_inv_half, SymmetricInverseSqrt(q));
      FAVOR_ASSIGN_OR_RETURN(const Matrix middle, SymmetricSqrt(q_half * k * q_half));
      const Matrix p = q_inv_half * middle * q_inv_half;
      FAVOR_ASSIGN_OR_RETURN(const Matrix e, SymmetricSqrt(p));
      FAVOR_ASSIGN_OR_RETURN(const Matrix e_inv, Inverse(e));
      const double rho = (2.0 * middle.Trace() + 2.0 * cross) / dd;
      return Isotropic(d, OprfA(rho), e, e_inv.Transposed());
    }
    case RfKind::kSderf: {
      // Sigma = M1 + M2 + xbar ybar^T + ybar xbar^T = U diag(lambda) U^T; along each eigen-
      // direction a one-dimensional OPRF with rho = lambda: A = U diag(a) U^T,
      // B = U diag(sqrt(1 - 4a)) U^T, C = -I/2, D = prod (1 - 4 a_l)^(1/4).
      Matrix sigma = m1 + m2;
      for (int64_t i = 0; i < d; ++i) {
        for (int64_t j = 0; j < d; ++j) {
          sigma(i, j) += xbar[static_cast<size_t>(i)] * ybar[static_cast<size_t>(j)] +
                         ybar[static_cast<size_t>(i)] * xbar[static_cast<size_t>(j)];
        }
      }
      FAVOR_ASSIGN_OR_RETURN(const Eigen eigen, SymmetricEigen(sigma));
      std::vector<double> a(static_cast<size_t>(d)), root(static_cast<size_t>(d));
      DerfParameters p;
      p.log_d = 0.0;
      for (int64_t l = 0; l < d; ++l) {
        const double rho = std::max(eigen.values[static_cast<size_t>(l)], 0.0);
        a[static_cast<size_t>(l)] = OprfA(rho);
        root[static_cast<size_t>(l)] = std::sqrt(1.0 - 4.0 * a[static_cast<size_t>(l)]);
        p.log_d += 0.25 * std::log(1.0 - 4.0 * a[static_cast<size_t>(l)]);
      }
      const Matrix& u = eigen.vectors;
      p.a = u * Matrix::Diagonal(a) * u.Transposed();
      p.b1 = u * Matrix::Diagonal(root) * u.Transposed();
      p.b2 = p.b1;
      p.c1 = identity.Scaled(-0.5);
      p.c2 = p.c1;
      return p;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(RfKindName(kind), " is not a positive random-feature kind"));
  }
}

DerfParameters ForGaussianKernel(DerfParameters p) {
  const Matrix half = Matrix::Identity(p.a.rows()).Scaled(0.5);
  p.c1 = p.c1 - half;
  p.c2 = p.c2 - half;
  return p;
}

absl::Status CheckUnbiased(const DerfParameters& p, double tolerance) {
  const int64_t d = p.a.rows();
  const Matrix identity = Matrix::Identity(d);
  FAVOR_ASSIGN_OR_RETURN(const Eigen eigen, SymmetricEigen(p.a));
  if (!(8.0 * eigen.values.back() < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("8A < I fails: largest eigenvalue of A is ", eigen.values.back()));
  }
  FAVOR_ASSIGN_OR_RETURN(const Matrix inv, SymmetricInverse(identity - p.a.Scaled(4.0)));
  const Matrix product = p.b1.Transposed() * inv * p.b2;
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      if (std::fabs(product(i, j) - (i == j ? 1.0 : 0.0)) > tolerance) {
        return absl::InvalidArgumentError(absl::StrCat("B1^T (I-4A)^-1 B2 differs from I at (", i,
                                                       ", ", j, "): ", product(i, j)));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> LogSecondMoment(const DerfParameters& p, const std::vector<double>& x,
                                       const std::vector<double>& y) {
  const int64_t d = p.a.rows();
  const Matrix i_minus_8a = Matrix::Identity(d) - p.a.Scaled(8.0);
  FAVOR_ASSIGN_OR_RETURN(const double log_det, LogDetSpd(i_minus_8a));
  FAVOR_ASSIGN_OR_RETURN(const Matrix inv, SymmetricInverse(i_minus_8a));
  const Matrix q1 = p.c1 + p.b1.Transposed() * inv * p.b1;
  const Matrix q2 = p.c2 + p.b2.Transposed() * inv * p.b2;
  const Matrix cross = p.b1.Transposed() * inv * p.b2;
  return 4.0 * p.log_d - 0.5 * log_det + 2.0 * QuadraticForm(x, q1, x) +
         2.0 * QuadraticForm(y, q2, y) + 4.0 * QuadraticForm(x, cross, y);
}

std::vector<double> PositiveFeatureMap::LogFeatures(const std::vector<double>& v,
                                                    bool query) const {
  const Matrix& projection = query ? query_projection : key_projection;
  const double quadratic = QuadraticForm(v, query ? query_quadratic : key_quadratic, v);
  std::vector<double> out = projection.Apply(v);
  for (int64_t m = 0; m < features; ++m)
    out[static_cast<size_t>(m)] += bias[static_cast<size_t>(m)] + quadratic;
  return out;
}

double PositiveFeatureMap::Estimate(const std::vector<double>& x,
                                    const std::vector<double>& y) const {
  const std::vector<double> lx = LogFeatures(x, true), ly = LogFeatures(y, false);
  double sum = 0.0;
  for (int64_t m = 0; m < features; ++m)
    sum += std::exp(lx[static_cast<size_t>(m)] + ly[static_cast<size_t>(m)]);
  return sum;
}

PositiveFeatureMap BuildFeatureMap(const DerfParameters& p, const Matrix& omega) {
  PositiveFeatureMap map;
  map.features = omega.rows();
  map.dim = omega.cols();
  map.bias.resize(static_cast<size_t>(map.features));
  map.query_projection = omega * p.b1;  // Row m: w_m^T B_1 = (B_1^T w_m)^T.
  map.key_projection = omega * p.b2;
  map.query_quadratic = p.c1;
  map.key_quadratic = p.c2;
  const double log_m = std::log(static_cast<double>(map.features));
  for (int64_t m = 0; m < map.features; ++m) {
    const std::vector<double> w(omega.row(m), omega.row(m) + map.dim);
    map.bias[static_cast<size_t>(m)] = p.log_d + QuadraticForm(w, p.a, w) - 0.5 * log_m;
  }
  return map;
}

}  // namespace favor::rf
