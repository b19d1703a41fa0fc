#include "engine/ops/hybrid_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/ops/op_checks.h"

namespace favor {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Per key/value head: sink rows, a ring of the last W rows (keys and values), and the
// random-feature state of the tokens that left the window.
class HybridState final : public OpState {
 public:
  HybridState(const HybridAttentionOptions& o, std::shared_ptr<AlignedBuffer> buffer)
      : heads_(o.n_kv_heads),
        dim_(o.head_dim),
        sinks_(o.sinks),
        window_(o.window),
        features_(o.random_feature_tail ? o.features.features : 0),
        buffer_(std::move(buffer)) {
    Reset();
  }

  static int64_t FloatsPerHead(const HybridAttentionOptions& o) {
    const int64_t m = o.random_feature_tail ? o.features.features : 0;
    return 2 * (o.sinks + o.window) * o.head_dim + m * (o.head_dim + 1);
  }

  float* head(int64_t g) const {
    return reinterpret_cast<float*>(buffer_->data()) + g * FloatsPerHead();
  }
  float* sink_keys(int64_t g) const { return head(g); }
  float* sink_values(int64_t g) const { return head(g) + sinks_ * dim_; }
  float* ring_keys(int64_t g) const { return head(g) + 2 * sinks_ * dim_; }
  float* ring_values(int64_t g) const { return ring_keys(g) + window_ * dim_; }
  float* s(int64_t g) const { return ring_values(g) + window_ * dim_; }
  float* z(int64_t g) const { return s(g) + features_ * dim_; }
  float& log_scale(int64_t g) { return log_scale_[static_cast<size_t>(g)]; }
  int64_t length = 0;

  int64_t NumBytes() const override { return static_cast<int64_t>(buffer_->size()); }
  void Reset() override {
    std::memset(buffer_->data(), 0, buffer_->size());
    log_scale_.assign(static_cast<size_t>(heads_), kNegInf);
    length = 0;
  }
  // The sinks stay; the window's last W positions are the last W of the sequence so far (the
  // ring, indexed by position modulo W, is re-laid for the new positions); the tail's sums scale
  // with the number of tokens that left the window: a log-scale shift.
  absl::Status ExtendByRepeating(int64_t old_length, int64_t new_length) override {
    const int64_t tail = old_length - sinks_ - window_;
    if (old_length != length || new_length < old_length || tail <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("HybridAttention: cannot extend ", length, " tokens to ", new_length,
                       " (it needs more than sinks + window = ", sinks_ + window_, " tokens)"));
    }
    std::vector<float> old_rows;
    for (int64_t g = 0; g < heads_; ++g) {
      for (float* rows : {ring_keys(g), ring_values(g)}) {
        old_rows.assign(rows, rows + window_ * dim_);
        for (int64_t p = new_length - window_; p < new_length; ++p) {
          const int64_t source = p - new_length + old_length;
          std::memcpy(rows + (p % window_) * dim_, old_rows.data() + (source % window_) * dim_,
                      static_cast<size_t>(dim_) * sizeof(float));
        }
      }
    }
    if (features_ > 0) {
      const double ratio =
          static_cast<double>(new_length - sinks_ - window_) / static_cast<double>(tail);
      for (float& scale : log_scale_) {
        if (scale != kNegInf) scale += static_cast<float>(std::log(ratio));
      }
    }
    length = new_length;
    return absl::OkStatus();
  }

 private:
  int64_t FloatsPerHead() const { return 2 * (sinks_ + window_) * dim_ + features_ * (dim_ + 1); }

  int64_t heads_, dim_, sinks_, window_, features_;
  std::shared_ptr<AlignedBuffer> buffer_;
  std::vector<float> log_scale_;
};

// Per key/value head scratch for one chunk of C queries (and at most C keys leaving the window).
struct Scratch {
  float* keys;         // C x M: normalised features psi_j of the keys leaving the window
  float* keys_t;       // M x C: the same, transposed (then weighted for the state update)
  float* queries;      // C x M: normalised query features of one head
  float* products;     // C x C
  float* numerator;    // C x d: the tail's numerators, then the combined output
  float* key_rows;     // C x d: the leaving keys, gathered
  float* value_rows;   // C x d: their values
  float* key_max;      // C: mu_j
  float* prefix;       // C: running key scale after each leaving key
  float* weights;      // C
  float* denominator;  // C: the tail's denominators
  float* query_log;    // C: a query's full log-feature maximum
  float* scores;       // S + W: exact scores of one query
  float* exact;        // d: the exact part's numerator of one query
};

}  // namespace

absl::StatusOr<std::shared_ptr<HybridAttentionOp>> HybridAttentionOp::Create(
    HybridAttentionOptions o) {
  if (o.n_heads <= 0 || o.n_kv_heads <= 0 || o.head_dim <= 0 || o.n_heads % o.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("HybridAttention: invalid heads ", o.n_heads,
                                                   "/", o.n_kv_heads, " or head_dim ", o.head_dim));
  }
  if (o.window < 0 || o.sinks < 0 || o.window > (1 << 20) || o.sinks > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HybridAttention: window ", o.window, " and sinks ", o.sinks, " must be in [0, 1048576]"));
  }
  if (o.window == 0 && !o.random_feature_tail) {
    return absl::InvalidArgumentError(
        "HybridAttention: a window of 0 without a random-feature tail attends to no recent token");
  }
  if (o.chunk <= 0 || o.chunk > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("HybridAttention: chunk ", o.chunk, " outside [1, 4096]"));
  }
  std::shared_ptr<HybridAttentionOp> op(new HybridAttentionOp(std::move(o)));
  const HybridAttentionOptions& opt = op->options_;
  if (!opt.random_feature_tail) return op;
  if (!rf::IsPositive(opt.features.kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HybridAttention: ", rf::RfKindName(opt.features.kind), " features are not positive"));
  }
  const bool needs_statistics = opt.features.kind != rf::RfKind::kPos;
  if (needs_statistics && static_cast<int64_t>(opt.calibration.size()) != opt.n_kv_heads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HybridAttention layer ", opt.layer, ": ", opt.calibration.size(), " calibrated heads for ",
        opt.n_kv_heads, " key/value heads (the tail's features need calibrated statistics)"));
  }
  for (int64_t g = 0; g < opt.n_kv_heads; ++g) {
    const rf::PairStatistics stats = needs_statistics ? opt.calibration[static_cast<size_t>(g)]
                                                      : rf::PairStatistics(opt.head_dim);
    if (stats.dim() != opt.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat("HybridAttention layer ", opt.layer,
                                                     ": statistics of dimension ", stats.dim(),
                                                     " for head_dim ", opt.head_dim));
    }
    auto features = rf::MakeHeadFeatures(opt.features, stats, opt.layer, g);
    if (!features.ok()) {
      return WithContext(features.status(),
                         absl::StrCat("HybridAttention layer ", opt.layer, " head ", g));
    }
    op->features_.push_back(*std::move(features));
  }
  return op;
}

std::string HybridAttentionOp::Attributes() const {
  const auto& o = options_;
  return absl::StrCat("heads=", o.n_heads, " kv_heads=", o.n_kv_heads, " head_dim=", o.head_dim,
                      " window=", o.window, " sinks=", o.sinks,
                      o.random_feature_tail
                          ? absl::StrCat(" tail=", rf::RfKindName(o.features.kind),
                                         " M=", o.features.features, " chunk=", o.chunk)
                          : std::string(" tail=none"));
}

absl::StatusOr<std::vector<TensorSpec>> HybridAttentionOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  return InferAttentionOutputs(inputs, options_.n_heads, options_.n_kv_heads, options_.head_dim);
}

int64_t HybridAttentionOp::ScratchFloatsPerHead(int64_t chunk) const {
  const int64_t m = options_.random_feature_tail ? options_.features.features : 0;
  const int64_t d = options_.head_dim;
  const int64_t floats = 3 * chunk * m + chunk * chunk + 3 * chunk * d + 5 * chunk +
                         options_.sinks + options_.window + d;
  return (floats + 15) / 16 * 16;  // Every head's slice stays 64-byte aligned.
}

int64_t HybridAttentionOp::WorkspaceBytes(std::span<const TensorSpec> inputs) const {
  const int64_t chunk = std::min(options_.chunk, inputs[0].shape.dim(0));
  return options_.n_kv_heads * ScratchFloatsPerHead(chunk) * static_cast<int64_t>(sizeof(float));
}

absl::StatusOr<std::unique_ptr<OpState>> HybridAttentionOp::CreateState(const StateOptions&) const {
  FAVOR_ASSIGN_OR_RETURN(
      auto buffer, AlignedBuffer::Create(static_cast<size_t>(options_.n_kv_heads *
                                                             HybridState::FloatsPerHead(options_) *
                                                             static_cast<int64_t>(sizeof(float)))));
  return std::unique_ptr<OpState>(new HybridState(options_, std::move(buffer)));
}

absl::Status HybridAttentionOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                                    std::span<Tensor> outputs, OpState* op_state) const {
  auto* state = dynamic_cast<HybridState*>(op_state);
  if (state == nullptr) return absl::FailedPreconditionError("HybridAttention: no state");
  if (state->length != ctx.start_pos) {
    return absl::FailedPreconditionError(
        absl::StrCat("HybridAttention: state holds ", state->length,
                     " tokens but the step starts at ", ctx.start_pos));
  }
  const kernels::KernelTable& kt = *ctx.kernels;
  const HybridAttentionOptions& o = options_;
  const int64_t d = o.head_dim, n_heads = o.n_heads, n_kv = o.n_kv_heads;
  const int64_t group = n_heads / n_kv, W = o.window, S = o.sinks;
  const bool tail = o.random_feature_tail;
  const int64_t m_features = tail ? o.features.features : 0;
  const int64_t tokens = inputs[0].dim(0), p0 = ctx.start_pos;
  const int64_t chunk = std::min(o.chunk, tokens);
  const float* q = inputs[0].data<float>();
  const float* k = inputs[1].data<float>();
  const float* v = inputs[2].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const int64_t q_stride = n_heads * d, kv_stride = n_kv * d;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  auto* scratch_base = reinterpret_cast<float*>(ctx.workspace.data());
  const int64_t scratch_stride = ScratchFloatsPerHead(chunk);

  ParallelFor(n_kv, ctx.threads, 1, [&](int64_t g) {
    float* base = scratch_base + g * scratch_stride;
    const int64_t cm = chunk * m_features, cd = chunk * d;
    Scratch sc;
    sc.keys = base;
    sc.keys_t = sc.keys + cm;
    sc.queries = sc.keys_t + cm;
    sc.products = sc.queries + cm;
    sc.numerator = sc.products + chunk * chunk;
    sc.key_rows = sc.numerator + cd;
    sc.value_rows = sc.key_rows + cd;
    sc.key_max = sc.value_rows + cd;
    sc.prefix = sc.key_max + chunk;
    sc.weights = sc.prefix + chunk;
    sc.denominator = sc.weights + chunk;
    sc.query_log = sc.denominator + chunk;
    sc.scores = sc.query_log + chunk;
    sc.exact = sc.scores + S + W;
    float* s_state = tail ? state->s(g) : nullptr;
    float* z_state = tail ? state->z(g) : nullptr;
    float& log_scale = state->log_scale(g);

    // Key or value row of position j: this run's input, a sink, or the ring (j >= p0 - W).
    auto row = [&](const float* input, const float* sinks, const float* ring, int64_t j) {
      if (j >= p0) return input + (j - p0) * kv_stride + g * d;
      if (j < S) return sinks + j * d;
      return ring + (j % W) * d;
    };
    auto key = [&](int64_t j) { return row(k, state->sink_keys(g), state->ring_keys(g), j); };
    auto value = [&](int64_t j) { return row(v, state->sink_values(g), state->ring_values(g), j); };
    auto quadratic = [&](const std::vector<float>& full, const std::vector<float>& diagonal,
                         const float* x) {
      float sum = 0.0f;
      if (!diagonal.empty()) {
        for (int64_t i = 0; i < d; ++i) sum += diagonal[static_cast<size_t>(i)] * x[i] * x[i];
      } else {
        for (int64_t i = 0; i < d; ++i) sum += x[i] * kt.dot(full.data() + i * d, x, d);
      }
      return sum;
    };
    // Normalised features of `rows` vectors (stride `stride`); row maxima (without the quadratic
    // term) in row_max.
    auto features = [&](const float* x, int64_t rows, int64_t stride,
                        const std::vector<float>& projection_t, const std::vector<float>& bias,
                        float* logs, float* row_max) {
      for (int64_t t = 0; t < rows; ++t) {
        std::memcpy(logs + t * m_features, bias.data(),
                    static_cast<size_t>(m_features) * sizeof(float));
      }
      kt.gemm(rows, m_features, d, x, stride, projection_t.data(), m_features, logs, m_features,
              true);
      for (int64_t t = 0; t < rows; ++t) {
        float* r = logs + t * m_features;
        row_max[t] = kt.max(r, m_features);
        kt.exp_shifted(r, row_max[t], r, m_features);
      }
    };

    for (int64_t t0 = p0; t0 < p0 + tokens; t0 += chunk) {
      const int64_t tc = std::min(chunk, p0 + tokens - t0);
      // Keys that leave the window while this chunk's queries run: [k0, k1).
      const int64_t k0 = std::max(S, t0 - W), k1 = std::max(S, t0 + tc - W);
      const int64_t nk = tail ? k1 - k0 : 0;
      const rf::HeadFeatures* f = tail ? features_[static_cast<size_t>(g)].get() : nullptr;
      if (nk > 0) {
        for (int64_t j = 0; j < nk; ++j) {
          std::memcpy(sc.key_rows + j * d, key(k0 + j), static_cast<size_t>(d) * sizeof(float));
          std::memcpy(sc.value_rows + j * d, value(k0 + j), static_cast<size_t>(d) * sizeof(float));
        }
        features(sc.key_rows, nk, d, f->key_projection_t, f->bias, sc.keys, sc.key_max);
        float running = log_scale;
        for (int64_t j = 0; j < nk; ++j) {
          sc.key_max[j] +=
              quadratic(f->key_quadratic, f->key_quadratic_diagonal, sc.key_rows + j * d);
          running = std::max(running, sc.key_max[j]);
          sc.prefix[j] = running;
        }
        for (int64_t j = 0; j < nk; ++j) {
          for (int64_t mm = 0; mm < m_features; ++mm)
            sc.keys_t[mm * nk + j] = sc.keys[j * m_features + mm];
        }
      }

      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const float* q_chunk = q + (t0 - p0) * q_stride + h * d;
        // The tail: numerators and denominators at scale exp(query_log[t]).
        if (tail) {
          features(q_chunk, tc, q_stride, f->query_projection_t, f->bias, sc.queries, sc.query_log);
          std::memset(sc.numerator, 0, static_cast<size_t>(tc * d) * sizeof(float));
          if (log_scale != kNegInf) {
            kt.gemm(tc, d, m_features, sc.queries, m_features, s_state, d, sc.numerator, d, false);
          }
          if (nk > 0) {
            kt.gemm(tc, nk, m_features, sc.queries, m_features, sc.keys_t, nk, sc.products, nk,
                    false);
          }
          for (int64_t t = 0; t < tc; ++t) {
            const int64_t position = t0 + t;
            // Leaving keys this query sees: j <= position - W.
            const int64_t seen = std::clamp<int64_t>(position - W + 1 - k0, 0, nk);
            const float scale = seen > 0 ? sc.prefix[seen - 1] : log_scale;
            float denominator = 0.0f;
            if (log_scale != kNegInf) {
              const float carry = std::exp(log_scale - scale);
              kt.scale(carry, sc.numerator + t * d, d);
              denominator = carry * kt.dot(sc.queries + t * m_features, z_state, m_features);
            }
            float* w = sc.products + t * nk;
            if (seen > 0) {
              kt.exp_shifted(sc.key_max, scale, sc.weights, seen);
              kt.mul(w, sc.weights, w, seen);
              for (int64_t j = 0; j < seen; ++j) denominator += w[j];
            }
            for (int64_t j = seen; j < nk; ++j) w[j] = 0.0f;
            sc.denominator[t] = denominator;
            const float* qt = q_chunk + t * q_stride;
            sc.query_log[t] = scale == kNegInf ? kNegInf
                                               : sc.query_log[t] + scale +
                                                     quadratic(f->query_quadratic,
                                                               f->query_quadratic_diagonal, qt);
          }
          if (nk > 0) {
            kt.gemm(tc, d, nk, sc.products, nk, sc.value_rows, d, sc.numerator, d, true);
          }
        }

        // The exact part (sinks and window), then both parts on one scale.
        for (int64_t t = 0; t < tc; ++t) {
          const int64_t position = t0 + t;
          const float* qt = q_chunk + t * q_stride;
          int64_t count = 0;
          const int64_t sink_end = std::min(S, position + 1);
          const int64_t window_begin = std::max(S, position - W + 1);
          for (int64_t j = 0; j < sink_end; ++j) {
            sc.scores[count++] = kt.dot(qt, key(j), d) * inv_sqrt_d;
          }
          for (int64_t j = window_begin; j <= position; ++j) {
            sc.scores[count++] = kt.dot(qt, key(j), d) * inv_sqrt_d;
          }
          const float exact_max = count > 0 ? kt.max(sc.scores, count) : kNegInf;
          const float tail_log = tail ? sc.query_log[t] : kNegInf;
          const float common = std::max(exact_max, tail_log);
          float* result = out + (position - p0) * q_stride + h * d;
          std::memset(result, 0, static_cast<size_t>(d) * sizeof(float));
          float denominator = 0.0f;
          if (count > 0) {
            const float exact_weight = std::exp(exact_max - common);
            const float sum = kt.exp_shifted(sc.scores, exact_max, sc.scores, count);
            denominator += exact_weight * sum;
            int64_t at = 0;
            for (int64_t j = 0; j < sink_end; ++j) {
              kt.axpy(exact_weight * sc.scores[at++], value(j), result, d);
            }
            for (int64_t j = window_begin; j <= position; ++j) {
              kt.axpy(exact_weight * sc.scores[at++], value(j), result, d);
            }
          }
          if (tail_log != kNegInf) {
            const float tail_weight = std::exp(tail_log - common);
            denominator += tail_weight * sc.denominator[t];
            kt.axpy(tail_weight, sc.numerator + t * d, result, d);
          }
          // A row's denominator is at least its largest term's share (>= e^0 for one of the
          // parts, up to the tail's estimate), so the floor only guards an empty tail estimate.
          kt.scale(1.0f / std::max(denominator, 1e-30f), result, d);
        }
      }

      // The leaving keys join the tail at the new running scale.
      if (nk > 0) {
        const float new_scale = sc.prefix[nk - 1];
        if (log_scale != kNegInf && new_scale > log_scale) {
          const float rescale = std::exp(log_scale - new_scale);
          kt.scale(rescale, s_state, m_features * d);
          kt.scale(rescale, z_state, m_features);
        }
        kt.exp_shifted(sc.key_max, new_scale, sc.weights, nk);
        for (int64_t mm = 0; mm < m_features; ++mm) {
          kt.mul(sc.keys_t + mm * nk, sc.weights, sc.keys_t + mm * nk, nk);
        }
        for (int64_t j = 0; j < nk; ++j) {
          kt.axpy(sc.weights[j], sc.keys + j * m_features, z_state, m_features);
        }
        kt.gemm(m_features, d, nk, sc.keys_t, nk, sc.value_rows, d, s_state, d, true);
        log_scale = new_scale;
      }
    }

    // Sinks and the ring take this run's rows (after every query has read the old ones).
    for (int64_t j = p0; j < std::min(S, p0 + tokens); ++j) {
      std::memcpy(state->sink_keys(g) + j * d, key(j), static_cast<size_t>(d) * sizeof(float));
      std::memcpy(state->sink_values(g) + j * d, value(j), static_cast<size_t>(d) * sizeof(float));
    }
    for (int64_t j = std::max({p0, p0 + tokens - W, S}); j < p0 + tokens; ++j) {
      std::memcpy(state->ring_keys(g) + (j % W) * d, key(j),
                  static_cast<size_t>(d) * sizeof(float));
      std::memcpy(state->ring_values(g) + (j % W) * d, value(j),
                  static_cast<size_t>(d) * sizeof(float));
    }
  });
  state->length += tokens;
  return absl::OkStatus();
}

}  // namespace favor
