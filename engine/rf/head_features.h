// The random features of one key/value head in the form the attention kernels use: f32,
// with the attention scale folded in. For queries q and keys k of the model (before scaling),
//   log phi(q)_m = bias_m + w_m . (T_1 q)         (the query's x^T C_1 x is constant per row and
//                                                  cancels in the normalisation, so it is dropped)
//   log psi(k)_m = bias_m + w_m . (T_2 k) + k^T C k   (C = s^2 C_2)
// with T_k = s B_k and s the input scale (head_dim^(-1/4) by default), so that phi(q) . psi(k)
// estimates exp(s^2 q.k) (exp(q.k / sqrt(head_dim))) up to a per-query factor. Queries and keys
// share the projection w (M x d): a decode step reads it once for both (the d x d transforms are
// small, and diagonal for PosRF, OPRF and SADERF), which is most of what a step reads.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/rf/positive.h"
#include "engine/rf/projection.h"
#include "engine/rf/statistics.h"

namespace favor::rf {

// A d x d matrix in the form applied to rows x: `diagonal` (d) when the matrix is diagonal, else
// `transposed` (d x d, the B operand of x T^T).
struct RowTransform {
  std::vector<float> transposed;
  std::vector<float> diagonal;
};

struct HeadFeatures {
  int64_t features = 0;
  int64_t dim = 0;
  std::vector<float> bias;          // M
  std::vector<float> projection_t;  // d x M: w stored transposed, the B operand of the GEMM.
  RowTransform query_transform;     // T_1
  RowTransform key_transform;       // T_2
  // x^T C x of keys, and of queries: pure random-feature attention never needs the latter (it
  // scales a query's numerator and denominator alike); hybrid attention does, to put the
  // random-feature part on the same scale as the exact part. Diagonal or full as above (the
  // transposed form of a symmetric matrix is itself).
  RowTransform key_quadratic;
  RowTransform query_quadratic;
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
