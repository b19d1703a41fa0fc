#include "engine/kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/core/half.h"

namespace favor::kernels::reference {

void Add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void Mul(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const double inv_rms = 1.0 / std::sqrt(sum / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] * inv_rms * weight[i]);
}

void LayerNorm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
               float eps) {
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double variance = 0.0;
  for (int64_t i = 0; i < n; ++i) variance += (x[i] - mean) * (x[i] - mean);
  variance /= static_cast<double>(n);
  const double inv_std = 1.0 / std::sqrt(variance + eps);
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>((x[i] - mean) * inv_std * weight[i] + bias[i]);
  }
}

void Silu(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(x[i] / (1.0 + std::exp(-double{x[i]})));
}

void SwiGlu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(gate[i] / (1.0 + std::exp(-double{gate[i]})) * up[i]);
  }
}

namespace {
double GeluOf(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
}  // namespace

void Gelu(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(GeluOf(x[i]));
}

void GeGlu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(GeluOf(gate[i]) * up[i]);
}

void SoftCap(const float* x, float* out, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(cap * std::tanh(double{x[i]} / cap));
}

void Softmax(const float* x, float* out, int64_t n) {
  double max_value = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) max_value = std::max(max_value, double{x[i]});
  if (std::isinf(max_value) && max_value < 0) {
    std::fill(out, out + n, 0.0f);
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max_value);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(std::exp(x[i] - max_value) / sum);
}

void Rope(float* x, int64_t position, double theta, int64_t n_heads, int64_t head_dim,
          RopeStyle style) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const double angle =
          static_cast<double>(position) *
          std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
      const int64_t ia = style == RopeStyle::kHalves ? i : 2 * i;
      const int64_t ib = style == RopeStyle::kHalves ? i + half : 2 * i + 1;
      const double a = head[ia], b = head[ib];
      head[ia] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
      head[ib] = static_cast<float>(b * std::cos(angle) + a * std::sin(angle));
    }
  }
}

double Dot(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

float ExpShifted(const float* x, float shift, float* out, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - shift));
    sum += out[i];
  }
  return static_cast<float>(sum);
}

float Max(const float* x, int64_t n) { return *std::max_element(x, x + n); }

void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(y[i] + static_cast<double>(a) * x[i]);
}

void Scale(float a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

void TailDecode(const TailDecodeStep& step) {
  const int64_t m = step.features, d = step.dim;
  const bool joins = step.key != nullptr;
  const double empty = -std::numeric_limits<double>::infinity();
  // Log-features of a row x: bias + W x.
  auto logs = [&](const float* x) {
    std::vector<double> out(static_cast<size_t>(m));
    for (int64_t f = 0; f < m; ++f) {
      double sum = step.bias[f];
      for (int64_t p = 0; p < d; ++p)
        sum += static_cast<double>(x[p]) * step.projection_t[p * m + f];
      out[static_cast<size_t>(f)] = sum;
    }
    return out;
  };
  std::vector<double> b, c_new(static_cast<size_t>(m)), rescale(static_cast<size_t>(m)),
      u(static_cast<size_t>(m), 0.0);
  if (joins) b = logs(step.key);
  for (int64_t f = 0; f < m; ++f) {
    const auto i = static_cast<size_t>(f);
    const double c = step.scale[f];
    c_new[i] = joins ? std::max(c, b[i] + step.key_quadratic) : c;
    rescale[i] = c == empty ? 0.0 : std::exp(c - c_new[i]);
    if (joins) u[i] = std::exp(b[i] + step.key_quadratic - c_new[i]);
  }
  for (int64_t h = 0; h < step.heads; ++h) {
    std::vector<double> a = logs(step.queries + h * d);
    double r = empty;
    for (int64_t f = 0; f < m; ++f) {
      a[static_cast<size_t>(f)] += c_new[static_cast<size_t>(f)];
      r = std::max(r, a[static_cast<size_t>(f)]);
    }
    step.row_scales[h] = static_cast<float>(r);
    double denominator = 0;
    std::vector<double> numerator(static_cast<size_t>(d), 0.0);
    if (r != empty) {
      for (int64_t f = 0; f < m; ++f) {
        const auto i = static_cast<size_t>(f);
        const double phi = std::exp(a[i] - r);
        // The key's term from its own weight; the state's through its rescale.
        const double carried = phi * rescale[i];
        denominator += carried * step.z[f] + phi * u[i];
        for (int64_t j = 0; j < d; ++j) {
          numerator[static_cast<size_t>(j)] +=
              carried * step.s[f * d + j] + (joins ? phi * u[i] * step.value[j] : 0.0);
        }
      }
    }
    step.denominators[h] = static_cast<float>(denominator);
    for (int64_t j = 0; j < d; ++j) {
      step.numerators[h * d + j] = static_cast<float>(numerator[static_cast<size_t>(j)]);
    }
  }
  if (!joins) return;
  for (int64_t f = 0; f < m; ++f) {
    const auto i = static_cast<size_t>(f);
    for (int64_t j = 0; j < d; ++j) {
      step.s[f * d + j] = static_cast<float>(rescale[i] * step.s[f * d + j] + u[i] * step.value[j]);
    }
    step.z[f] = static_cast<float>(rescale[i] * step.z[f] + u[i]);
    step.scale[f] = static_cast<float>(c_new[i]);
  }
}

void MatVecBf16(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t rows,
                float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const int64_t padded_k = (k + kMatVecBlock - 1) / kMatVecBlock * kMatVecBlock;
        const int64_t at = (i / kMatVecGroup) * kMatVecGroup * padded_k +
                           (p / kMatVecBlock) * kMatVecGroup * kMatVecBlock +
                           (i % kMatVecGroup) * kMatVecBlock + p % kMatVecBlock;
        const uint32_t bits = static_cast<uint32_t>(w[at]) << 16;
        float weight;
        std::memcpy(&weight, &bits, sizeof(weight));
        sum += static_cast<double>(weight) * x[r * ldx + p];
      }
      y[r * ldy + i] = static_cast<float>(sum);
    }
  }
}

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* c, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = accumulate ? c[i * ldc + j] : 0.0;
      for (int64_t p = 0; p < k; ++p) sum += static_cast<double>(a[i * lda + p]) * b[p * ldb + j];
      c[i * ldc + j] = static_cast<float>(sum);
    }
  }
}

void AttentionRow(const float* q, const float* keys, const float* values, int64_t n_keys,
                  int64_t head_dim, float scale, float soft_cap, float* out, float* log_sum_exp) {
  std::vector<double> scores(static_cast<size_t>(n_keys));
  double max_score = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n_keys; ++j) {
    double s = scale * Dot(q, keys + j * head_dim, head_dim);
    if (soft_cap > 0.0f) s = soft_cap * std::tanh(s / soft_cap);
    scores[static_cast<size_t>(j)] = s;
    max_score = std::max(max_score, scores[static_cast<size_t>(j)]);
  }
  double sum = 0.0;
  for (double& s : scores) {
    s = std::exp(s - max_score);
    sum += s;
  }
  for (int64_t i = 0; i < head_dim; ++i) {
    double acc = 0.0;
    for (int64_t j = 0; j < n_keys; ++j)
      acc += scores[static_cast<size_t>(j)] * values[j * head_dim + i];
    out[i] = n_keys > 0 ? static_cast<float>(acc / sum) : 0.0f;
  }
  if (log_sum_exp != nullptr) {
    *log_sum_exp = n_keys > 0 ? static_cast<float>(max_score + std::log(sum))
                              : -std::numeric_limits<float>::infinity();
  }
}

void AttentionTile(const float* q, int64_t ldq, int64_t rows, int64_t first_position,
                   const float* keys, const float* values, int64_t head_dim, float scale,
                   float soft_cap, int64_t window, float* out, int64_t ldo) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t end = first_position + r + 1;
    const int64_t first = window > 0 && end > window ? end - window : 0;
    AttentionRow(q + r * ldq, keys + first * head_dim, values + first * head_dim, end - first,
                 head_dim, scale, soft_cap, out + r * ldo, nullptr);
  }
}

void QuantMatMul(const float* w, int64_t n, const Q8Rows& x, int64_t tokens, float* y,
                 int64_t ldy) {
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0.0;
      for (int64_t p = 0; p < x.k; ++p) {
        const double value = static_cast<double>(x.scales[t * (x.k / kQ8Block) + p / kQ8Block]) *
                             x.codes[t * x.k + p];
        sum += static_cast<double>(w[i * x.k + p]) * value;
      }
      y[t * ldy + i] = static_cast<float>(sum);
    }
  }
}

void HalfMatMul(const uint16_t* w, bool bf16, int64_t n, int64_t k, const float* x, int64_t ldx,
                int64_t tokens, float* y, int64_t ldy) {
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const uint16_t bits = w[i * k + p];
        sum += static_cast<double>(bf16 ? BF16ToF32(bits) : F16ToF32(bits)) * x[t * ldx + p];
      }
      y[t * ldy + i] = static_cast<float>(sum);
    }
  }
}

}  // namespace favor::kernels::reference
