#include "engine/rf/statistics.h"

namespace favor::rf {
namespace {

void Accumulate(const float* v, int64_t d, std::vector<double>& sum, Matrix& outer) {
  for (int64_t i = 0; i < d; ++i) {
    sum[static_cast<size_t>(i)] += v[i];
    for (int64_t j = 0; j < d; ++j) outer(i, j) += static_cast<double>(v[i]) * v[j];
  }
}

}  // namespace

PairStatistics::PairStatistics(int64_t dim)
    : dim_(dim),
      sum_x_(static_cast<size_t>(dim), 0.0),
      sum_y_(static_cast<size_t>(dim), 0.0),
      sum_xx_(dim, dim),
      sum_yy_(dim, dim) {}

void PairStatistics::AddQuery(const float* x) {
  Accumulate(x, dim_, sum_x_, sum_xx_);
  ++count_x_;
}

void PairStatistics::AddKey(const float* y) {
  Accumulate(y, dim_, sum_y_, sum_yy_);
  ++count_y_;
}

void PairStatistics::Merge(const PairStatistics& o) {
  count_x_ += o.count_x_;
  count_y_ += o.count_y_;
  for (int64_t i = 0; i < dim_; ++i) {
    sum_x_[static_cast<size_t>(i)] += o.sum_x_[static_cast<size_t>(i)];
    sum_y_[static_cast<size_t>(i)] += o.sum_y_[static_cast<size_t>(i)];
  }
  sum_xx_ = sum_xx_ + o.sum_xx_;
  sum_yy_ = sum_yy_ + o.sum_yy_;
}

std::vector<double> PairStatistics::QueryMean() const {
  std::vector<double> mean = sum_x_;
  for (double& v : mean) v /= static_cast<double>(count_x_ > 0 ? count_x_ : 1);
  return mean;
}

std::vector<double> PairStatistics::KeyMean() const {
  std::vector<double> mean = sum_y_;
  for (double& v : mean) v /= static_cast<double>(count_y_ > 0 ? count_y_ : 1);
  return mean;
}

Matrix PairStatistics::QuerySecondMoment() const {
  return sum_xx_.Scaled(1.0 / static_cast<double>(count_x_ > 0 ? count_x_ : 1));
}

Matrix PairStatistics::KeySecondMoment() const {
  return sum_yy_.Scaled(1.0 / static_cast<double>(count_y_ > 0 ? count_y_ : 1));
}

PairStatistics PairStatistics::FromSums(int64_t dim, int64_t count_x, int64_t count_y,
                                        std::vector<double> sum_x, std::vector<double> sum_y,
                                        Matrix sum_xx, Matrix sum_yy) {
  PairStatistics s(dim);
  s.count_x_ = count_x;
  s.count_y_ = count_y;
  s.sum_x_ = std::move(sum_x);
  s.sum_y_ = std::move(sum_y);
  s.sum_xx_ = std::move(sum_xx);
  s.sum_yy_ = std::move(sum_yy);
  return s;
}

}  // namespace favor::rf
