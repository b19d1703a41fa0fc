// The random features of one key/value head in the form the attention kernels use: f32,
// with the attention scale folded in. For queries q and keys k of the model (before scaling),
//   log phi(q)_m = bias_m + qp_m . q            (the query's x^T C_1 x is constant per row and
//                                                cancels in the normalisation, so it is dropped)
//   log psi(k)_m = bias_m + kp_m . k + k^T C k   (C = s^2 C_2)
// with qp = s B_1^T w, kp = s B_2^T w and s the input scale (head_dim^(-1/4) by default), so that
// phi(q) . psi(k) estimates exp(s^2 q.k) (exp(q.k / sqrt(head_dim))) up to a per-query factor.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/rf/positive.h"
#include "engine/rf/projection.h"
#include "engine/rf/statistics.h"

namespace favor::rf {

struct HeadFeatures {
  int64_t features = 0;
  int64_t dim = 0;
  std::vector<float> bias;  // M
  // Projections stored transposed (d x M): the B operand of the feature-map GEMM.
  std::vector<float> query_projection_t;
  std::vector<float> key_projection_t;
  std::vector<float> key_quadratic;           // d x d (empty when diagonal)
  std::vector<float> key_quadratic_diagonal;  // d (used when the matrix is diagonal)
  // The query's quadratic term, in the same two forms. Pure random-feature attention never needs
  // it (it scales a query's numerator and denominator alike); hybrid attention does, to put the
  // random-feature part on the same scale as the exact part.
  std::vector<float> query_quadratic;
  std::vector<float> query_quadratic_diagonal;
};

struct FeatureOptions {
  RfKind kind = RfKind::kSaderf;
  int64_t features = 256;
  ProjectionKind projection = ProjectionKind::kOrthogonal;
  uint64_t seed = 0;
};

// Features for a head from the statistics of its scaled queries and keys. `input_scale` is what
// queries and keys are multiplied by before the features (the square root of the attention's
// query scale; 0: head_dim^-1/4, softmax's 1/sqrt(d) split between them); the statistics are of
// inputs scaled so. The projection is drawn from StreamSeed(seed, layer, kv_head).
absl::StatusOr<std::shared_ptr<const HeadFeatures>> MakeHeadFeatures(
    const FeatureOptions& options, const PairStatistics& statistics, int64_t layer, int64_t kv_head,
    double input_scale = 0);

// The same features in double precision (for references and tools): parameters and projection.
struct HeadFeatureParameters {
  DerfParameters parameters;
  Matrix omega;
};
absl::StatusOr<HeadFeatureParameters> MakeHeadFeatureParameters(const FeatureOptions& options,
                                                                const PairStatistics& statistics,
                                                                int64_t layer, int64_t kv_head);

}  // namespace favor::rf
