// Statistics of one attention head's queries x and keys y (already scaled by d^(-1/4), so that
// softmax(q.k / sqrt(d)) = softmax(x.y)), from which the optimal feature parameters follow:
// counts, means and full second moments M1 = mean x x^T, M2 = mean y y^T. Grouped-query attention
// pools the statistics of the query heads that share a key/value head (Merge).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/rf/linalg.h"

namespace favor::rf {

class PairStatistics {
 public:
  explicit PairStatistics(int64_t dim = 0);

  void AddQuery(const float* x);
  void AddKey(const float* y);
  void Merge(const PairStatistics& other);

  int64_t dim() const { return dim_; }
  int64_t query_count() const { return count_x_; }
  int64_t key_count() const { return count_y_; }
  std::vector<double> QueryMean() const;
  std::vector<double> KeyMean() const;
  Matrix QuerySecondMoment() const;  // M1
  Matrix KeySecondMoment() const;    // M2

  // For serialisation: raw sums.
  const std::vector<double>& query_sum() const { return sum_x_; }
  const std::vector<double>& key_sum() const { return sum_y_; }
  const Matrix& query_outer_sum() const { return sum_xx_; }
  const Matrix& key_outer_sum() const { return sum_yy_; }
  static PairStatistics FromSums(int64_t dim, int64_t count_x, int64_t count_y,
                                 std::vector<double> sum_x, std::vector<double> sum_y,
                                 Matrix sum_xx, Matrix sum_yy);

 private:
  int64_t dim_;
  int64_t count_x_ = 0, count_y_ = 0;
  std::vector<double> sum_x_, sum_y_;
  Matrix sum_xx_, sum_yy_;
};

}  // namespace favor::rf
