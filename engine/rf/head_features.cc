#include "engine/rf/head_features.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::rf {

absl::StatusOr<HeadFeatureParameters> MakeHeadFeatureParameters(const FeatureOptions& options,
                                                                const PairStatistics& statistics,
                                                                int64_t layer, int64_t kv_head) {
  if (!IsPositive(options.kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        RfKindName(options.kind), " features are not positive: attention needs a positive kind"));
  }
  if (options.features <= 0 || options.features > (1 << 16)) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature count ", options.features, " outside [1, 65536]"));
  }
  HeadFeatureParameters out;
  if (options.kind == RfKind::kGerf) {
    FAVOR_ASSIGN_OR_RETURN(out.parameters, OptimalParameters(RfKind::kOprf, statistics));
  } else {
    FAVOR_ASSIGN_OR_RETURN(out.parameters, OptimalParameters(options.kind, statistics));
  }
  out.omega = GaussianProjection(options.features, statistics.dim(), options.projection,
                                 StreamSeed(options.seed, layer, kv_head));
  return out;
}

absl::StatusOr<std::shared_ptr<const HeadFeatures>> MakeHeadFeatures(
    const FeatureOptions& options, const PairStatistics& statistics, int64_t layer, int64_t kv_head,
    double input_scale) {
  FAVOR_ASSIGN_OR_RETURN(const HeadFeatureParameters p,
                         MakeHeadFeatureParameters(options, statistics, layer, kv_head));
  const PositiveFeatureMap map = BuildFeatureMap(p.parameters, p.omega);  // For the bias.
  const int64_t d = statistics.dim(), m_features = map.features;
  const double s = input_scale > 0 ? input_scale : std::pow(static_cast<double>(d), -0.25);
  auto features = std::make_shared<HeadFeatures>();
  features->features = m_features;
  features->dim = d;
  features->projection_t.resize(static_cast<size_t>(m_features * d));
  for (int64_t m = 0; m < m_features; ++m) {
    features->bias.push_back(static_cast<float>(map.bias[static_cast<size_t>(m)]));
    for (int64_t i = 0; i < d; ++i) {
      features->projection_t[static_cast<size_t>(i * m_features + m)] =
          static_cast<float>(p.omega(m, i));
    }
  }
  // factor x c, diagonal or transposed.
  auto store = [&](const Matrix& c, double factor, RowTransform& out) {
    if (c.IsDiagonal()) {
      for (int64_t i = 0; i < d; ++i) out.diagonal.push_back(static_cast<float>(factor * c(i, i)));
    } else {
      for (int64_t j = 0; j < d; ++j) {
        for (int64_t i = 0; i < d; ++i)
          out.transposed.push_back(static_cast<float>(factor * c(i, j)));
      }
    }
  };
  store(p.parameters.b1, s, features->query_transform);
  store(p.parameters.b2, s, features->key_transform);
  store(map.key_quadratic, s * s, features->key_quadratic);
  store(map.query_quadratic, s * s, features->query_quadratic);
  for (float v : features->bias) {
    if (!std::isfinite(v)) return absl::InternalError("random features: non-finite bias");
  }
  return std::shared_ptr<const HeadFeatures>(std::move(features));
}

}  // namespace favor::rf
