#include "engine/rf/head_features.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::rf {

void HeadFeatures::KeyLogFeatures(const float* k, float* out) const {
  double quadratic = 0.0;
  if (!key_quadratic_diagonal.empty()) {
    for (int64_t i = 0; i < dim; ++i)
      quadratic +=
          static_cast<double>(key_quadratic_diagonal[static_cast<size_t>(i)]) * k[i] * k[i];
  } else {
    for (int64_t i = 0; i < dim; ++i) {
      for (int64_t j = 0; j < dim; ++j)
        quadratic +=
            static_cast<double>(key_quadratic[static_cast<size_t>(i * dim + j)]) * k[i] * k[j];
    }
  }
  for (int64_t m = 0; m < features; ++m) {
    double sum = bias[static_cast<size_t>(m)] + quadratic;
    for (int64_t i = 0; i < dim; ++i)
      sum += static_cast<double>(key_projection[static_cast<size_t>(m * dim + i)]) * k[i];
    out[m] = static_cast<float>(sum);
  }
}

void HeadFeatures::QueryLogFeatures(const float* q, float* out) const {
  for (int64_t m = 0; m < features; ++m) {
    double sum = bias[static_cast<size_t>(m)];
    for (int64_t i = 0; i < dim; ++i)
      sum += static_cast<double>(query_projection[static_cast<size_t>(m * dim + i)]) * q[i];
    out[m] = static_cast<float>(sum);
  }
}

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
    const FeatureOptions& options, const PairStatistics& statistics, int64_t layer,
    int64_t kv_head) {
  FAVOR_ASSIGN_OR_RETURN(const HeadFeatureParameters p,
                         MakeHeadFeatureParameters(options, statistics, layer, kv_head));
  const PositiveFeatureMap map = BuildFeatureMap(p.parameters, p.omega);
  const int64_t d = statistics.dim();
  const double s = std::pow(static_cast<double>(d), -0.25);
  auto features = std::make_shared<HeadFeatures>();
  features->features = map.features;
  features->dim = d;
  for (int64_t m = 0; m < map.features; ++m) {
    features->bias.push_back(static_cast<float>(map.bias[static_cast<size_t>(m)]));
    for (int64_t i = 0; i < d; ++i) {
      features->query_projection.push_back(static_cast<float>(s * map.query_projection(m, i)));
      features->key_projection.push_back(static_cast<float>(s * map.key_projection(m, i)));
    }
  }
  features->query_projection_t.resize(features->query_projection.size());
  features->key_projection_t.resize(features->key_projection.size());
  for (int64_t m = 0; m < map.features; ++m) {
    for (int64_t i = 0; i < d; ++i) {
      features->query_projection_t[static_cast<size_t>(i * map.features + m)] =
          features->query_projection[static_cast<size_t>(m * d + i)];
      features->key_projection_t[static_cast<size_t>(i * map.features + m)] =
          features->key_projection[static_cast<size_t>(m * d + i)];
    }
  }
  if (map.key_quadratic.IsDiagonal()) {
    for (int64_t i = 0; i < d; ++i)
      features->key_quadratic_diagonal.push_back(
          static_cast<float>(s * s * map.key_quadratic(i, i)));
  } else {
    for (int64_t i = 0; i < d; ++i) {
      for (int64_t j = 0; j < d; ++j)
        features->key_quadratic.push_back(static_cast<float>(s * s * map.key_quadratic(i, j)));
    }
  }
  for (float v : features->bias) {
    if (!std::isfinite(v)) return absl::InternalError("random features: non-finite bias");
  }
  return std::shared_ptr<const HeadFeatures>(std::move(features));
}

}  // namespace favor::rf
