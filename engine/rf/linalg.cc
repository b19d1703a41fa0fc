#include "engine/rf/linalg.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::rf {

Matrix Matrix::Identity(int64_t n) {
  Matrix m(n, n);
  for (int64_t i = 0; i < n; ++i) m(i, i) = 1.0;
  return m;
}

Matrix Matrix::Diagonal(const std::vector<double>& diagonal) {
  const auto n = static_cast<int64_t>(diagonal.size());
  Matrix m(n, n);
  for (int64_t i = 0; i < n; ++i) m(i, i) = diagonal[static_cast<size_t>(i)];
  return m;
}

Matrix Matrix::Transposed() const {
  Matrix t(cols_, rows_);
  for (int64_t r = 0; r < rows_; ++r) {
    for (int64_t c = 0; c < cols_; ++c) t(c, r) = (*this)(r, c);
  }
  return t;
}

Matrix Matrix::operator*(const Matrix& o) const {
  Matrix out(rows_, o.cols_);
  for (int64_t r = 0; r < rows_; ++r) {
    for (int64_t k = 0; k < cols_; ++k) {
      const double a = (*this)(r, k);
      if (a == 0.0) continue;
      for (int64_t c = 0; c < o.cols_; ++c) out(r, c) += a * o(k, c);
    }
  }
  return out;
}

Matrix Matrix::operator+(const Matrix& o) const {
  Matrix out = *this;
  for (size_t i = 0; i < data_.size(); ++i) out.data_[i] += o.data_[i];
  return out;
}

Matrix Matrix::operator-(const Matrix& o) const {
  Matrix out = *this;
  for (size_t i = 0; i < data_.size(); ++i) out.data_[i] -= o.data_[i];
  return out;
}

Matrix Matrix::Scaled(double factor) const {
  Matrix out = *this;
  for (double& v : out.data_) v *= factor;
  return out;
}

std::vector<double> Matrix::Apply(const std::vector<double>& x) const {
  std::vector<double> y(static_cast<size_t>(rows_), 0.0);
  for (int64_t r = 0; r < rows_; ++r) {
    double sum = 0.0;
    for (int64_t c = 0; c < cols_; ++c) sum += (*this)(r, c) * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = sum;
  }
  return y;
}

double Matrix::Trace() const {
  double t = 0.0;
  for (int64_t i = 0; i < std::min(rows_, cols_); ++i) t += (*this)(i, i);
  return t;
}

bool Matrix::IsDiagonal() const {
  for (int64_t r = 0; r < rows_; ++r) {
    for (int64_t c = 0; c < cols_; ++c) {
      if (r != c && (*this)(r, c) != 0.0) return false;
    }
  }
  return true;
}

double Dot(const std::vector<double>& a, const std::vector<double>& b) {
  return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
}

double QuadraticForm(const std::vector<double>& x, const Matrix& m, const std::vector<double>& y) {
  return Dot(x, m.Apply(y));
}

absl::StatusOr<Eigen> SymmetricEigen(const Matrix& symmetric) {
  const int64_t n = symmetric.rows();
  if (n != symmetric.cols()) return absl::InvalidArgumentError("eigen: matrix is not square");
  Matrix a = symmetric;
  Matrix v = Matrix::Identity(n);
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, scale = 0.0;
    for (int64_t p = 0; p < n; ++p) {
      scale += a(p, p) * a(p, p);
      for (int64_t q = p + 1; q < n; ++q) off += a(p, q) * a(p, q);
    }
    if (off <= 1e-30 * (scale + 1e-300)) break;
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        if (a(p, q) == 0.0) continue;
        // Rotation that zeroes a(p, q) (Golub & Van Loan, symmetric Schur decomposition).
        const double tau = (a(q, q) - a(p, p)) / (2.0 * a(p, q));
        const double t = (tau >= 0 ? 1.0 : -1.0) / (std::fabs(tau) + std::sqrt(1.0 + tau * tau));
        const double c = 1.0 / std::sqrt(1.0 + t * t), s = t * c;
        for (int64_t k = 0; k < n; ++k) {
          const double akp = a(k, p), akq = a(k, q);
          a(k, p) = c * akp - s * akq;
          a(k, q) = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double apk = a(p, k), aqk = a(q, k);
          a(p, k) = c * apk - s * aqk;
          a(q, k) = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double vkp = v(k, p), vkq = v(k, q);
          v(k, p) = c * vkp - s * vkq;
          v(k, q) = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return a(i, i) < a(j, j); });
  Eigen result{std::vector<double>(static_cast<size_t>(n)), Matrix(n, n)};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t src = order[static_cast<size_t>(i)];
    result.values[static_cast<size_t>(i)] = a(src, src);
    for (int64_t k = 0; k < n; ++k) result.vectors(k, i) = v(k, src);
  }
  for (double value : result.values) {
    if (!std::isfinite(value)) return absl::InvalidArgumentError("eigen: non-finite matrix");
  }
  return result;
}

absl::StatusOr<Matrix> SymmetricFunction(const Matrix& symmetric, double (*f)(double)) {
  FAVOR_ASSIGN_OR_RETURN(const Eigen e, SymmetricEigen(symmetric));
  std::vector<double> mapped;
  for (double value : e.values) mapped.push_back(f(value));
  return e.vectors * Matrix::Diagonal(mapped) * e.vectors.Transposed();
}

absl::StatusOr<Matrix> SymmetricSqrt(const Matrix& spd) {
  return SymmetricFunction(spd, [](double x) { return std::sqrt(std::max(x, 0.0)); });
}

absl::StatusOr<Matrix> SymmetricInverseSqrt(const Matrix& spd) {
  FAVOR_ASSIGN_OR_RETURN(const Eigen e, SymmetricEigen(spd));
  if (e.values.front() <= 0.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "matrix is not positive definite (smallest eigenvalue ", e.values.front(), ")"));
  }
  return SymmetricFunction(spd, [](double x) { return 1.0 / std::sqrt(x); });
}

absl::StatusOr<Matrix> SymmetricInverse(const Matrix& spd) {
  FAVOR_ASSIGN_OR_RETURN(const Eigen e, SymmetricEigen(spd));
  if (e.values.front() <= 0.0) return absl::InvalidArgumentError("matrix is not positive definite");
  return SymmetricFunction(spd, [](double x) { return 1.0 / x; });
}

absl::StatusOr<double> LogDetSpd(const Matrix& spd) {
  FAVOR_ASSIGN_OR_RETURN(const Eigen e, SymmetricEigen(spd));
  double log_det = 0.0;
  for (double value : e.values) {
    if (value <= 0.0) return absl::InvalidArgumentError("log det: matrix is not positive definite");
    log_det += std::log(value);
  }
  return log_det;
}

absl::StatusOr<Matrix> Inverse(const Matrix& square) {
  const int64_t n = square.rows();
  Matrix a = square, inv = Matrix::Identity(n);
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r) {
      if (std::fabs(a(r, col)) > std::fabs(a(pivot, col))) pivot = r;
    }
    if (std::fabs(a(pivot, col)) < 1e-300) return absl::InvalidArgumentError("matrix is singular");
    for (int64_t c = 0; c < n; ++c) {
      std::swap(a(col, c), a(pivot, c));
      std::swap(inv(col, c), inv(pivot, c));
    }
    const double d = a(col, col);
    for (int64_t c = 0; c < n; ++c) {
      a(col, c) /= d;
      inv(col, c) /= d;
    }
    for (int64_t r = 0; r < n; ++r) {
      if (r == col || a(r, col) == 0.0) continue;
      const double f = a(r, col);
      for (int64_t c = 0; c < n; ++c) {
        a(r, c) -= f * a(col, c);
        inv(r, c) -= f * inv(col, c);
      }
    }
  }
  return inv;
}

Matrix OrthogonalFromQr(const Matrix& square) {
  const int64_t n = square.rows();
  Matrix r = square;
  Matrix q = Matrix::Identity(n);
  for (int64_t k = 0; k < n - 1; ++k) {
    // Householder vector for column k below the diagonal.
    double norm = 0.0;
    for (int64_t i = k; i < n; ++i) norm += r(i, k) * r(i, k);
    norm = std::sqrt(norm);
    if (norm == 0.0) continue;
    std::vector<double> v(static_cast<size_t>(n), 0.0);
    const double alpha = r(k, k) > 0 ? -norm : norm;
    for (int64_t i = k; i < n; ++i) v[static_cast<size_t>(i)] = r(i, k);
    v[static_cast<size_t>(k)] -= alpha;
    double vnorm2 = 0.0;
    for (double x : v) vnorm2 += x * x;
    if (vnorm2 == 0.0) continue;
    // R <- H R, Q <- Q H with H = I - 2 v v^T / |v|^2.
    for (int64_t c = 0; c < n; ++c) {
      double s = 0.0;
      for (int64_t i = k; i < n; ++i) s += v[static_cast<size_t>(i)] * r(i, c);
      s *= 2.0 / vnorm2;
      for (int64_t i = k; i < n; ++i) r(i, c) -= s * v[static_cast<size_t>(i)];
    }
    for (int64_t row = 0; row < n; ++row) {
      double s = 0.0;
      for (int64_t i = k; i < n; ++i) s += q(row, i) * v[static_cast<size_t>(i)];
      s *= 2.0 / vnorm2;
      for (int64_t i = k; i < n; ++i) q(row, i) -= s * v[static_cast<size_t>(i)];
    }
  }
  for (int64_t c = 0; c < n; ++c) {
    if (r(c, c) < 0) {
      for (int64_t row = 0; row < n; ++row) q(row, c) = -q(row, c);
    }
  }
  return q;
}

}  // namespace favor::rf
