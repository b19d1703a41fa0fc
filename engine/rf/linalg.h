// Small dense linear algebra in double precision for the random-feature library: the matrices
// are d x d (d = head dimension, 8 to 256) and built once per layer and head, so clarity wins over
// speed. Symmetric eigen-decomposition by cyclic Jacobi rotations (accurate to rounding for the
// symmetric positive semi-definite matrices met here), QR by Householder reflections.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace favor::rf {

class Matrix {
 public:
  Matrix() = default;
  Matrix(int64_t rows, int64_t cols, double fill = 0.0)
      : rows_(rows), cols_(cols), data_(static_cast<size_t>(rows * cols), fill) {}
  static Matrix Identity(int64_t n);
  static Matrix Diagonal(const std::vector<double>& diagonal);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  double& operator()(int64_t r, int64_t c) { return data_[static_cast<size_t>(r * cols_ + c)]; }
  double operator()(int64_t r, int64_t c) const {
    return data_[static_cast<size_t>(r * cols_ + c)];
  }
  const double* row(int64_t r) const { return data_.data() + r * cols_; }
  double* row(int64_t r) { return data_.data() + r * cols_; }

  Matrix Transposed() const;
  Matrix operator*(const Matrix& other) const;
  Matrix operator+(const Matrix& other) const;
  Matrix operator-(const Matrix& other) const;
  Matrix Scaled(double factor) const;
  std::vector<double> Apply(const std::vector<double>& x) const;  // this * x
  double Trace() const;
  bool IsDiagonal() const;

 private:
  int64_t rows_ = 0, cols_ = 0;
  std::vector<double> data_;
};

double Dot(const std::vector<double>& a, const std::vector<double>& b);
// x^T M y.
double QuadraticForm(const std::vector<double>& x, const Matrix& m, const std::vector<double>& y);

struct Eigen {
  std::vector<double> values;  // Ascending.
  Matrix vectors;              // Column i is the eigenvector of values[i].
};
// Eigen-decomposition of a symmetric matrix.
absl::StatusOr<Eigen> SymmetricEigen(const Matrix& symmetric);

// U f(Lambda) U^T for a symmetric matrix: square root, inverse square root, inverse.
absl::StatusOr<Matrix> SymmetricFunction(const Matrix& symmetric, double (*f)(double));
absl::StatusOr<Matrix> SymmetricSqrt(const Matrix& spd);
absl::StatusOr<Matrix> SymmetricInverseSqrt(const Matrix& spd);
absl::StatusOr<Matrix> SymmetricInverse(const Matrix& spd);
// log det of a symmetric positive definite matrix.
absl::StatusOr<double> LogDetSpd(const Matrix& spd);
// Inverse of a general square matrix (Gauss-Jordan with partial pivoting).
absl::StatusOr<Matrix> Inverse(const Matrix& square);

// Q of the QR decomposition of a square matrix, with Q's columns multiplied by sign(diag R) so that
// Q is Haar-distributed when the input is a Gaussian matrix.
Matrix OrthogonalFromQr(const Matrix& square);

}  // namespace favor::rf
