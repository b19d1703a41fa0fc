#include "engine/ops/feature_tail.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::feature_tail {
namespace {

// x^T C x for a symmetric C.
float Quadratic(const Context& c, const rf::RowTransform& quadratic, const float* x) {
  float sum = 0.0f;
  if (!quadratic.diagonal.empty()) {
    for (int64_t i = 0; i < c.dim; ++i)
      sum += quadratic.diagonal[static_cast<size_t>(i)] * x[i] * x[i];
  } else {
    for (int64_t i = 0; i < c.dim; ++i)
      sum += x[i] * c.kernel.dot(quadratic.transposed.data() + i * c.dim, x, c.dim);
  }
  return sum;
}

// Rows x T^T of `rows` rows of x (row stride) into `out` (rows of d).
const float* Transform(const Context& c, const rf::RowTransform& transform, const float* x,
                       int64_t rows, int64_t stride, float* out) {
  if (!transform.diagonal.empty()) {
    for (int64_t t = 0; t < rows; ++t) {
      c.kernel.mul(x + t * stride, transform.diagonal.data(), out + t * c.dim, c.dim);
    }
  } else {
    c.kernel.gemm(rows, c.dim, c.dim, x, stride, transform.transposed.data(), c.dim, out, c.dim,
                  false);
  }
  return out;
}

// logs = bias + (x T^T) w^T for `rows` rows of x: log-features before the quadratic term.
void LinearLogFeatures(const Context& c, const rf::RowTransform& transform, const float* x,
                       int64_t rows, int64_t stride, float* logs) {
  const int64_t m = c.features;
  for (int64_t t = 0; t < rows; ++t) {
    std::memcpy(logs + t * m, c.head.bias.data(), static_cast<size_t>(m) * sizeof(float));
  }
  const float* transformed = Transform(c, transform, x, rows, stride, c.scratch.transformed);
  c.kernel.gemm(rows, m, c.dim, transformed, c.dim, c.head.projection_t.data(), m, logs, m, true);
}

}  // namespace

absl::StatusOr<std::vector<std::shared_ptr<const rf::HeadFeatures>>> CalibratedFeatures(
    const rf::FeatureOptions& options, const std::vector<rf::PairStatistics>& calibration,
    int64_t layer, const AttentionHeads& heads, absl::string_view op) {
  const int64_t kv_heads = heads.n_kv_heads, head_dim = heads.head_dim;
  const bool needs_statistics = options.kind != rf::RfKind::kPos;
  if (needs_statistics && static_cast<int64_t>(calibration.size()) != kv_heads) {
    return absl::InvalidArgumentError(absl::StrCat(op, " layer ", layer, ": ", calibration.size(),
                                                   " calibrated heads for ", kv_heads,
                                                   " key/value heads"));
  }
  std::vector<std::shared_ptr<const rf::HeadFeatures>> out;
  for (int64_t g = 0; g < kv_heads; ++g) {
    const rf::PairStatistics stats =
        needs_statistics ? calibration[static_cast<size_t>(g)] : rf::PairStatistics(head_dim);
    if (stats.dim() != head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(op, " layer ", layer,
                                                     ": statistics of dimension ", stats.dim(),
                                                     " for head_dim ", head_dim));
    }
    auto features = rf::MakeHeadFeatures(options, stats, layer, g, heads.FeatureScale());
    if (!features.ok()) {
      return WithContext(features.status(), absl::StrCat(op, " layer ", layer, " head ", g));
    }
    out.push_back(*std::move(features));
  }
  return out;
}

void AddHeadStatistics(rf::PairStatistics& statistics, const float* q, const float* k,
                       int64_t begin, int64_t end, const AttentionHeads& heads, int64_t g) {
  const auto scale = static_cast<float>(heads.FeatureScale());
  const int64_t n_heads = heads.n_heads, n_kv_heads = heads.n_kv_heads, d = heads.head_dim;
  const int64_t group = n_heads / n_kv_heads;
  float scaled[kernels::kMaxHeadDim];
  for (int64_t t = begin; t < end; ++t) {
    const float* key = k + (t * n_kv_heads + g) * d;
    for (int64_t i = 0; i < d; ++i) scaled[i] = key[i] * scale;
    statistics.AddKey(scaled);
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      const float* query = q + (t * n_heads + h) * d;
      for (int64_t i = 0; i < d; ++i) scaled[i] = query[i] * scale;
      statistics.AddQuery(scaled);
    }
  }
}

HeadState StateAt(float* base, int64_t features, int64_t dim) {
  return {base, base + features * dim, base + features * (dim + 1)};
}

void ResetState(const HeadState& state, int64_t features, int64_t dim) {
  std::memset(state.s, 0, static_cast<size_t>(features * (dim + 1)) * sizeof(float));
  std::fill(state.scale, state.scale + features, kNegInf);
}

void ShiftScales(const HeadState& state, int64_t features, float shift) {
  for (int64_t m = 0; m < features; ++m) {
    if (state.scale[m] != kNegInf) state.scale[m] += shift;
  }
}

int64_t ScratchFloats(int64_t rows, int64_t features, int64_t dim) {
  const int64_t floats = 5 * rows * features + rows * rows + 3 * features + (rows + 1) * dim;
  return (floats + 15) / 16 * 16;
}

Scratch ScratchAt(float* base, int64_t rows, int64_t features) {
  Scratch scratch;
  const int64_t rows_by_features = rows * features;
  scratch.key_logs = base;
  scratch.keys = scratch.key_logs + rows_by_features;
  scratch.keys_t = scratch.keys + rows_by_features;
  scratch.queries = scratch.keys_t + rows_by_features;
  scratch.carried = scratch.queries + rows_by_features;
  scratch.products = scratch.carried + rows_by_features;
  scratch.new_scale = scratch.products + rows * rows;
  scratch.rescale = scratch.new_scale + features;
  scratch.base = scratch.rescale + features;
  scratch.transformed = scratch.base + features;
  return scratch;
}

void KeyLogFeatures(const Context& c, const float* x, int64_t rows, int64_t stride, float* logs) {
  const int64_t m = c.features;
  LinearLogFeatures(c, c.head.key_transform, x, rows, stride, logs);
  for (int64_t t = 0; t < rows; ++t) {
    const float quadratic = Quadratic(c, c.head.key_quadratic, x + t * stride);
    float* row = logs + t * m;
    for (int64_t i = 0; i < m; ++i) row[i] += quadratic;
  }
}

float QueryQuadratic(const Context& c, const float* x) {
  return Quadratic(c, c.head.query_quadratic, x);
}

int64_t PlanSubchunk(const Context& c, const float* key_logs, int64_t start, int64_t count) {
  const int64_t m = c.features;
  float* scale = c.scratch.new_scale;
  const float* first = key_logs + start * m;
  for (int64_t i = 0; i < m; ++i) scale[i] = std::max(c.state.scale[i], first[i]);
  std::memcpy(c.scratch.base, scale, static_cast<size_t>(m) * sizeof(float));
  int64_t end = start + 1;
  for (; end < count; ++end) {
    const float* row = key_logs + end * m;
    float jump = 0.0f;
    for (int64_t i = 0; i < m; ++i) jump = std::max(jump, row[i] - c.scratch.base[i]);
    if (jump > kMaxScaleJump) break;
    for (int64_t i = 0; i < m; ++i) scale[i] = std::max(scale[i], row[i]);
  }
  return end;
}

void PrepareKeys(const Context& c, const float* key_logs, int64_t count) {
  const int64_t m = c.features;
  // exp(c_m - c^_m) by the vector exp (a scalar exp per feature was a visible share of a decode
  // step); features never held (c_m = -inf, possibly c^_m too) carry nothing: 0.
  float* rescale = c.scratch.rescale;
  std::memcpy(rescale, c.state.scale, static_cast<size_t>(m) * sizeof(float));
  c.kernel.axpy(-1.0f, c.scratch.new_scale, rescale, m);
  c.kernel.exp_shifted(rescale, 0.0f, rescale, m);
  for (int64_t i = 0; i < m; ++i) {
    if (c.state.scale[i] == kNegInf) rescale[i] = 0.0f;
  }
  for (int64_t j = 0; j < count; ++j) {
    float* row = c.scratch.keys + j * m;
    std::memcpy(row, key_logs + j * m, static_cast<size_t>(m) * sizeof(float));
    c.kernel.axpy(-1.0f, c.scratch.new_scale, row, m);
    c.kernel.exp_shifted(row, 0.0f, row, m);
  }
  for (int64_t j = 0; j < count; ++j) {
    for (int64_t i = 0; i < m; ++i) c.scratch.keys_t[i * count + j] = c.scratch.keys[j * m + i];
  }
}

void QueryFeatures(const Context& c, const float* q, int64_t rows, int64_t q_stride,
                   float* row_scale) {
  const int64_t m = c.features;
  LinearLogFeatures(c, c.head.query_transform, q, rows, q_stride, c.scratch.queries);
  for (int64_t t = 0; t < rows; ++t) {
    float* row = c.scratch.queries + t * m;
    c.kernel.add(row, c.scratch.new_scale, row, m);  // Features never held are -inf: weight 0.
    const float r = c.kernel.max(row, m);
    row_scale[t] = r;
    if (r == kNegInf) {
      std::memset(row, 0, static_cast<size_t>(m) * sizeof(float));
    } else {
      c.kernel.exp_shifted(row, r, row, m);
    }
  }
}

void Queries(const Context& c, const float* q, int64_t rows, int64_t q_stride, const float* values,
             int64_t v_stride, int64_t keys, int64_t visible_offset, float* numerator,
             float* denominator, float* row_scale) {
  const int64_t m = c.features, d = c.dim;
  QueryFeatures(c, q, rows, q_stride, row_scale);
  // The carried state at its own scales: exp(a + c - r) = exp(a + c^ - r) exp(c - c^).
  for (int64_t t = 0; t < rows; ++t) {
    c.kernel.mul(c.scratch.queries + t * m, c.scratch.rescale, c.scratch.carried + t * m, m);
  }
  c.kernel.gemm(rows, d, m, c.scratch.carried, m, c.state.s, d, numerator, d, false);
  for (int64_t t = 0; t < rows; ++t) {
    denominator[t] = c.kernel.dot(c.scratch.carried + t * m, c.state.z, m);
  }
  if (keys == 0) return;
  c.kernel.gemm(rows, keys, m, c.scratch.queries, m, c.scratch.keys_t, keys, c.scratch.products,
                keys, false);
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t visible = std::clamp<int64_t>(t + visible_offset, 0, keys);
    float* w = c.scratch.products + t * keys;
    float sum = 0.0f;
    for (int64_t j = 0; j < visible; ++j) sum += w[j];
    for (int64_t j = visible; j < keys; ++j) w[j] = 0.0f;
    denominator[t] += sum;
  }
  c.kernel.gemm(rows, d, keys, c.scratch.products, keys, values, v_stride, numerator, d, true);
}

void AddKeys(const Context& c, const float* values, int64_t v_stride, int64_t keys) {
  const int64_t m = c.features, d = c.dim;
  for (int64_t i = 0; i < m; ++i) c.kernel.scale(c.scratch.rescale[i], c.state.s + i * d, d);
  c.kernel.mul(c.state.z, c.scratch.rescale, c.state.z, m);
  c.kernel.gemm(m, d, keys, c.scratch.keys_t, keys, values, v_stride, c.state.s, d, true);
  for (int64_t j = 0; j < keys; ++j) c.kernel.axpy(1.0f, c.scratch.keys + j * m, c.state.z, m);
  std::memcpy(c.state.scale, c.scratch.new_scale, static_cast<size_t>(m) * sizeof(float));
}

void PrefetchDecode(const rf::HeadFeatures& head, const HeadState& state) {
  // The first 2 KB of each long stream: enough for the hardware prefetchers to take over. In
  // BM_HybridDecodeCold at M = 256 it lowered the tail's extra time per token by 4-8 % (two sets
  // of alternating runs: medians 700 -> 640 and 666 -> 634 us); 8 KB did no better.
  constexpr int64_t kStreamStartBytes = 2048, kLineBytes = 64;
  auto prefetch = [](const void* p, int64_t bytes) {
    for (int64_t i = 0; i < bytes; i += kLineBytes) {
      __builtin_prefetch(static_cast<const char*>(p) + i);
    }
  };
  const auto vector_bytes = static_cast<int64_t>(head.features * sizeof(float));
  prefetch(state.scale, vector_bytes);
  prefetch(state.z, vector_bytes);
  prefetch(head.bias.data(), vector_bytes);
  const auto matrix_bytes = static_cast<int64_t>(head.features * head.dim * sizeof(float));
  prefetch(state.s, std::min(kStreamStartBytes, matrix_bytes));
  prefetch(head.projection_t.data(), std::min(kStreamStartBytes, matrix_bytes));
}

void DecodeStep(const Context& c, const float* q, int64_t heads, const float* key,
                const float* value, float* numerator, float* denominator, float* row_scale) {
  const int64_t d = c.dim;
  float* queries = c.scratch.transformed;
  const float* transformed_key = nullptr;
  Transform(c, c.head.query_transform, q, heads, d, queries);
  if (key != nullptr) {
    transformed_key = Transform(c, c.head.key_transform, key, 1, d, queries + heads * d);
  }
  // The kernel's (heads + 4) x M floats of scratch: the sub-chunk rows from key_logs on
  // (5 x rows x M, rows >= heads).
  c.kernel.tail_decode(
      {.features = c.features,
       .dim = d,
       .heads = heads,
       .bias = c.head.bias.data(),
       .projection_t = c.head.projection_t.data(),
       .queries = queries,
       .key = transformed_key,
       .key_quadratic = key != nullptr ? Quadratic(c, c.head.key_quadratic, key) : 0.0f,
       .value = value,
       .s = c.state.s,
       .z = c.state.z,
       .scale = c.state.scale,
       .numerators = numerator,
       .denominators = denominator,
       .row_scales = row_scale,
       .scratch = c.scratch.key_logs});
}

}  // namespace favor::feature_tail
