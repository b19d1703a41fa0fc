#include "engine/ops/favor_attention.h"

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

// Smallest denominator accepted: positive features never sum to 0, but a sum can underflow.
constexpr float kDenominatorFloor = 1e-30f;

// Per key/value head: S (M x d), z (M) and the running log-scale.
class FavorState final : public OpState {
 public:
  FavorState(int64_t heads, int64_t feature_count, int64_t dim,
             std::shared_ptr<AlignedBuffer> buffer,
             std::vector<std::shared_ptr<const rf::HeadFeatures>> fixed)
      : heads_(heads),
        features_(feature_count),
        dim_(dim),
        buffer_(std::move(buffer)),
        fixed_(std::move(fixed)) {
    Reset();
  }

  float* s(int64_t head) const {
    return reinterpret_cast<float*>(buffer_->data()) + head * features_ * (dim_ + 1);
  }
  float* z(int64_t head) const { return s(head) + features_ * dim_; }
  float& log_scale(int64_t head) { return log_scale_[static_cast<size_t>(head)]; }
  int64_t length = 0;
  std::vector<std::shared_ptr<const rf::HeadFeatures>> features;

  int64_t NumBytes() const override { return static_cast<int64_t>(buffer_->size()); }
  void Reset() override {
    std::memset(buffer_->data(), 0, buffer_->size());
    log_scale_.assign(static_cast<size_t>(heads_), -std::numeric_limits<float>::infinity());
    length = 0;
    features = fixed_;  // Prompt-derived features are recomputed for the next sequence.
  }
  // The sums S and z of new_length / length copies of the sequence are the same sums scaled by
  // that ratio: a shift of the log-scale.
  absl::Status ExtendByRepeating(int64_t old_length, int64_t new_length) override {
    if (old_length != length || length <= 0 || new_length < length) {
      return absl::InvalidArgumentError(
          absl::StrCat("FavorAttention: cannot extend ", length, " tokens to ", new_length));
    }
    const float shift =
        static_cast<float>(std::log(static_cast<double>(new_length) / static_cast<double>(length)));
    for (float& scale : log_scale_) scale += shift;
    length = new_length;
    return absl::OkStatus();
  }

 private:
  int64_t heads_, features_, dim_;
  std::shared_ptr<AlignedBuffer> buffer_;
  std::vector<std::shared_ptr<const rf::HeadFeatures>> fixed_;
  std::vector<float> log_scale_;
};

// Per key/value head scratch for one chunk of C tokens.
struct Scratch {
  float* keys;         // C x M: normalised key features psi_j
  float* keys_t;       // M x C: the same, transposed (then scaled for the state update)
  float* queries;      // C x M: normalised query features phi_t of one head
  float* products;     // C x C: phi_t . psi_j
  float* numerator;    // C x d
  float* key_max;      // C: mu_j
  float* prefix;       // C: running maximum m_t
  float* denominator;  // C
  float* weights;      // C: exp(mu_j - a scale), one vectorised pass instead of a scalar exp each
};

}  // namespace

absl::StatusOr<std::shared_ptr<FavorAttentionOp>> FavorAttentionOp::Create(
    FavorAttentionOptions o) {
  if (o.n_heads <= 0 || o.n_kv_heads <= 0 || o.head_dim <= 0 || o.n_heads % o.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("FavorAttention: invalid heads ", o.n_heads, "/",
                                                   o.n_kv_heads, " or head_dim ", o.head_dim));
  }
  if (o.chunk <= 0 || o.chunk > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("FavorAttention: chunk ", o.chunk, " outside [1, 4096]"));
  }
  if (!rf::IsPositive(o.features.kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FavorAttention: ", rf::RfKindName(o.features.kind), " features are not positive"));
  }
  if (o.source == FavorStatsSource::kSequence && o.causal) {
    return absl::InvalidArgumentError(
        "FavorAttention: sequence statistics use future tokens; they are for bidirectional "
        "attention only (causal attention takes prompt or calibrated statistics)");
  }
  std::shared_ptr<FavorAttentionOp> op(new FavorAttentionOp(std::move(o)));
  const FavorAttentionOptions& opt = op->options_;
  const bool needs_statistics = opt.features.kind != rf::RfKind::kPos;
  if (opt.source == FavorStatsSource::kCalibrated || !needs_statistics) {
    if (needs_statistics && static_cast<int64_t>(opt.calibration.size()) != opt.n_kv_heads) {
      return absl::InvalidArgumentError(
          absl::StrCat("FavorAttention layer ", opt.layer, ": ", opt.calibration.size(),
                       " calibrated heads for ", opt.n_kv_heads, " key/value heads"));
    }
    for (int64_t g = 0; g < opt.n_kv_heads; ++g) {
      const rf::PairStatistics stats = needs_statistics ? opt.calibration[static_cast<size_t>(g)]
                                                        : rf::PairStatistics(opt.head_dim);
      if (stats.dim() != opt.head_dim) {
        return absl::InvalidArgumentError(absl::StrCat("FavorAttention layer ", opt.layer,
                                                       ": statistics of dimension ", stats.dim(),
                                                       " for head_dim ", opt.head_dim));
      }
      auto features = rf::MakeHeadFeatures(opt.features, stats, opt.layer, g);
      if (!features.ok()) {
        return WithContext(features.status(),
                           absl::StrCat("FavorAttention layer ", opt.layer, " head ", g));
      }
      op->fixed_features_.push_back(*std::move(features));
    }
  }
  return op;
}

std::string FavorAttentionOp::Attributes() const {
  const auto& o = options_;
  return absl::StrCat("heads=", o.n_heads, " kv_heads=", o.n_kv_heads, " head_dim=", o.head_dim,
                      " rf=", rf::RfKindName(o.features.kind), " M=", o.features.features,
                      o.features.projection == rf::ProjectionKind::kOrthogonal ? " orf" : " iid",
                      " chunk=", o.chunk, o.causal ? " causal" : " bidirectional", " stats=",
                      o.source == FavorStatsSource::kCalibrated ? "calibrated"
                      : o.source == FavorStatsSource::kSequence ? "sequence"
                                                                : "prompt");
}

absl::StatusOr<std::vector<TensorSpec>> FavorAttentionOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  return InferAttentionOutputs(inputs, options_.n_heads, options_.n_kv_heads, options_.head_dim);
}

int64_t FavorAttentionOp::ScratchFloatsPerHead(int64_t chunk) const {
  const int64_t m = options_.features.features;
  // Rounded to 16 floats so every head's slice stays 64-byte aligned.
  // The query rows also hold a whole group of heads in the fused decode step.
  const int64_t rows = std::max(chunk, options_.n_heads / options_.n_kv_heads);
  return (3 * rows * m + rows * rows + rows * options_.head_dim + 4 * rows + 15) / 16 * 16;
}

int64_t FavorAttentionOp::WorkspaceBytes(std::span<const TensorSpec> inputs) const {
  const int64_t tokens = inputs[0].shape.dim(0);
  const int64_t chunk = std::min(options_.chunk, tokens);
  return options_.n_kv_heads * ScratchFloatsPerHead(chunk) * static_cast<int64_t>(sizeof(float));
}

absl::StatusOr<std::unique_ptr<OpState>> FavorAttentionOp::CreateState(const StateOptions&) const {
  const int64_t m = options_.features.features, d = options_.head_dim;
  FAVOR_ASSIGN_OR_RETURN(
      auto buffer, AlignedBuffer::Create(static_cast<size_t>(options_.n_kv_heads * m * (d + 1) *
                                                             static_cast<int64_t>(sizeof(float)))));
  return std::unique_ptr<OpState>(
      new FavorState(options_.n_kv_heads, m, d, std::move(buffer), fixed_features_));
}

absl::Status FavorAttentionOp::FeaturesFromRun(
    const Tensor& q, const Tensor& k,
    std::vector<std::shared_ptr<const rf::HeadFeatures>>& out) const {
  const int64_t d = options_.head_dim, tokens = q.dim(0);
  const int64_t group = options_.n_heads / options_.n_kv_heads;
  const float scale = static_cast<float>(std::pow(static_cast<double>(d), -0.25));
  std::vector<float> scaled(static_cast<size_t>(d));
  out.clear();
  for (int64_t g = 0; g < options_.n_kv_heads; ++g) {
    rf::PairStatistics stats(d);
    for (int64_t t = 0; t < tokens; ++t) {
      const float* key = k.data<float>() + (t * options_.n_kv_heads + g) * d;
      for (int64_t i = 0; i < d; ++i) scaled[static_cast<size_t>(i)] = key[i] * scale;
      stats.AddKey(scaled.data());
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const float* query = q.data<float>() + (t * options_.n_heads + h) * d;
        for (int64_t i = 0; i < d; ++i) scaled[static_cast<size_t>(i)] = query[i] * scale;
        stats.AddQuery(scaled.data());
      }
    }
    FAVOR_ASSIGN_OR_RETURN(auto features,
                           rf::MakeHeadFeatures(options_.features, stats, options_.layer, g));
    out.push_back(std::move(features));
  }
  return absl::OkStatus();
}

absl::Status FavorAttentionOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                                   std::span<Tensor> outputs, OpState* op_state) const {
  auto* state = dynamic_cast<FavorState*>(op_state);
  if (state == nullptr) return absl::FailedPreconditionError("FavorAttention: no state");
  const int64_t tokens = inputs[0].dim(0);
  if (options_.causal && state->length != ctx.start_pos) {
    return absl::FailedPreconditionError(absl::StrCat("FavorAttention: state holds ", state->length,
                                                      " tokens but the step starts at ",
                                                      ctx.start_pos));
  }
  if (!options_.causal) state->Reset();  // Bidirectional: each run is its own sequence.
  if (state->features.empty()) {
    // Statistics from the prompt: this first run's queries and keys, frozen for the sequence.
    FAVOR_RETURN_IF_ERROR(FeaturesFromRun(inputs[0], inputs[1], state->features));
  }
  const kernels::KernelTable& kt = *ctx.kernels;
  const int64_t d = options_.head_dim, n_heads = options_.n_heads, n_kv = options_.n_kv_heads;
  const int64_t group = n_heads / n_kv;
  const int64_t m_features = options_.features.features;
  const int64_t chunk = std::min(options_.chunk, tokens);
  const float* q = inputs[0].data<float>();
  const float* k = inputs[1].data<float>();
  const float* v = inputs[2].data<float>();
  float* out = outputs[0].mutable_data<float>();
  auto* scratch_base = reinterpret_cast<float*>(ctx.workspace.data());
  const int64_t scratch_stride = ScratchFloatsPerHead(chunk);
  const int64_t q_stride = n_heads * d, kv_stride = n_kv * d;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  ParallelFor(n_kv, ctx.threads, 1, [&](int64_t g) {
    const rf::HeadFeatures& f = *state->features[static_cast<size_t>(g)];
    float* s_state = state->s(g);
    float* z_state = state->z(g);
    float& log_scale = state->log_scale(g);
    float* base = scratch_base + g * scratch_stride;
    const int64_t capacity = std::max(chunk, group);  // Rows of every scratch matrix.
    const int64_t cm = capacity * m_features;
    const Scratch sc{base,
                     base + cm,
                     base + 2 * cm,
                     base + 3 * cm,
                     base + 3 * cm + capacity * capacity,
                     base + 3 * cm + capacity * capacity + capacity * d,
                     base + 3 * cm + capacity * capacity + capacity * d + capacity,
                     base + 3 * cm + capacity * capacity + capacity * d + 2 * capacity,
                     base + 3 * cm + capacity * capacity + capacity * d + 3 * capacity};

    // Log-features of `rows` vectors (stride `stride`) by one GEMM with the transposed projection,
    // plus the per-feature bias; each row is then normalised by its own maximum (returned).
    auto features = [&](const float* x, int64_t rows, int64_t stride,
                        const std::vector<float>& projection_t, float* logs, float* row_max) {
      // The bias seeds the accumulators (one pass over the rows fewer than adding it after).
      for (int64_t t = 0; t < rows; ++t) {
        std::memcpy(logs + t * m_features, f.bias.data(),
                    static_cast<size_t>(m_features) * sizeof(float));
      }
      kt.gemm(rows, m_features, d, x, stride, projection_t.data(), m_features, logs, m_features,
              true);
      for (int64_t t = 0; t < rows; ++t) {
        float* row = logs + t * m_features;
        row_max[t] = kt.max(row, m_features);
        kt.exp_shifted(row, row_max[t], row, m_features);
      }
    };

    // Keys of tokens [t0, t0 + tc): normalised features, maxima mu_j (the key's quadratic term is
    // the same for all its features: it cancels in psi and enters mu_j only), running maxima.
    auto key_features = [&](int64_t t0, int64_t tc) {
      const float* keys = k + t0 * kv_stride + g * d;
      features(keys, tc, kv_stride, f.key_projection_t, sc.keys, sc.key_max);
      float running = log_scale;
      for (int64_t t = 0; t < tc; ++t) {
        const float* key = keys + t * kv_stride;
        float quadratic = 0.0f;
        if (!f.key_quadratic_diagonal.empty()) {
          for (int64_t i = 0; i < d; ++i)
            quadratic += f.key_quadratic_diagonal[static_cast<size_t>(i)] * key[i] * key[i];
        } else {
          for (int64_t i = 0; i < d; ++i)
            quadratic += key[i] * kt.dot(f.key_quadratic.data() + i * d, key, d);
        }
        sc.key_max[t] += quadratic;
        running = std::max(running, sc.key_max[t]);
        sc.prefix[t] = running;
      }
      for (int64_t t = 0; t < tc; ++t) {
        for (int64_t m = 0; m < m_features; ++m)
          sc.keys_t[m * tc + t] = sc.keys[t * m_features + m];
      }
    };

    // The keys of [t0, t0 + tc) join the state at the new running scale.
    auto add_keys = [&](int64_t t0, int64_t tc) {
      const float new_scale = sc.prefix[tc - 1];
      if (log_scale != kNegInf && new_scale > log_scale) {
        const float rescale = std::exp(log_scale - new_scale);
        kt.scale(rescale, s_state, m_features * d);
        kt.scale(rescale, z_state, m_features);
      }
      kt.exp_shifted(sc.key_max, new_scale, sc.weights, tc);
      for (int64_t m = 0; m < m_features; ++m) {
        float* row = sc.keys_t + m * tc;
        kt.mul(row, sc.weights, row, tc);
      }
      // z += sum_j w_j psi_j, over the rows of the untransposed features (vectorised along M).
      for (int64_t j = 0; j < tc; ++j) {
        kt.axpy(sc.weights[j], sc.keys + j * m_features, z_state, m_features);
      }
      kt.gemm(m_features, d, tc, sc.keys_t, tc, v + t0 * kv_stride + g * d, kv_stride, s_state, d,
              true);
      log_scale = new_scale;
    };

    // Queries of head h in [t0, t0 + tc): the carried state at each row's scale, then (causal) the
    // masked in-chunk products; outputs = numerators / denominators.
    auto queries = [&](int64_t h, int64_t t0, int64_t tc, bool in_chunk) {
      features(q + t0 * q_stride + h * d, tc, q_stride, f.query_projection_t, sc.queries,
               sc.denominator);
      std::memset(sc.numerator, 0, static_cast<size_t>(tc * d) * sizeof(float));
      for (int64_t t = 0; t < tc; ++t) sc.denominator[t] = 0.0f;
      if (log_scale != kNegInf) {
        kt.gemm(tc, d, m_features, sc.queries, m_features, s_state, d, sc.numerator, d, false);
        for (int64_t t = 0; t < tc; ++t) {
          const float carry = std::exp(log_scale - (in_chunk ? sc.prefix[t] : log_scale));
          kt.scale(carry, sc.numerator + t * d, d);
          sc.denominator[t] = carry * kt.dot(sc.queries + t * m_features, z_state, m_features);
        }
      }
      if (in_chunk) {
        kt.gemm(tc, tc, m_features, sc.queries, m_features, sc.keys_t, tc, sc.products, tc, false);
        for (int64_t t = 0; t < tc; ++t) {
          float* w = sc.products + t * tc;
          kt.exp_shifted(sc.key_max, sc.prefix[t], sc.weights, t + 1);  // Keys j <= t only.
          kt.mul(w, sc.weights, w, t + 1);
          float sum = 0.0f;
          for (int64_t j = 0; j <= t; ++j) sum += w[j];
          for (int64_t j = t + 1; j < tc; ++j) w[j] = 0.0f;
          sc.denominator[t] += sum;
        }
        kt.gemm(tc, d, tc, sc.products, tc, v + t0 * kv_stride + g * d, kv_stride, sc.numerator, d,
                true);
      }
      for (int64_t t = 0; t < tc; ++t) {
        kt.scale(1.0f / std::max(sc.denominator[t], kDenominatorFloor), sc.numerator + t * d, d);
        std::memcpy(out + (t0 + t) * q_stride + h * d, sc.numerator + t * d,
                    static_cast<size_t>(d) * sizeof(float));
      }
    };

    // Decode: one token, every query head of the group, one pass over S (reading it for the
    // queries and writing the updated state in the same sweep).
    auto decode_step = [&]() {
      key_features(0, 1);
      const float new_scale = sc.prefix[0];
      const bool empty = log_scale == kNegInf;
      const float carry = empty ? 0.0f : std::exp(log_scale - new_scale);
      float* w = sc.keys;  // psi of the new key at the new scale: its weight in S and z.
      kt.scale(std::exp(sc.key_max[0] - new_scale), w, m_features);
      for (int64_t h = 0; h < group; ++h) {
        const int64_t head = g * group + h;
        float* phi = sc.queries + h * m_features;
        float phi_max;  // Cancels between numerator and denominator.
        features(q + head * d, 1, q_stride, f.query_projection_t, phi, &phi_max);
        const float self = kt.dot(phi, w, m_features);
        sc.denominator[h] = carry * kt.dot(phi, z_state, m_features) + self;
        kt.scale(carry, phi, m_features);  // The carried state enters at this row's scale.
        float* numerator = sc.numerator + h * d;
        for (int64_t i = 0; i < d; ++i) numerator[i] = self * v[g * d + i];
      }
      kt.favor_decode(sc.queries, group, sc.numerator, s_state, w, v + g * d, empty ? 0.0f : carry,
                      m_features, d);
      kt.scale(empty ? 0.0f : carry, z_state, m_features);
      kt.add(z_state, w, z_state, m_features);
      log_scale = new_scale;
      for (int64_t h = 0; h < group; ++h) {
        float* numerator = sc.numerator + h * d;
        kt.scale(1.0f / std::max(sc.denominator[h], kDenominatorFloor), numerator, d);
        std::memcpy(out + (g * group + h) * d, numerator, static_cast<size_t>(d) * sizeof(float));
      }
    };

    if (options_.causal && tokens == 1) {
      decode_step();
    } else if (options_.causal) {
      for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        const int64_t tc = std::min(chunk, tokens - t0);
        key_features(t0, tc);
        for (int64_t h = g * group; h < (g + 1) * group; ++h) queries(h, t0, tc, /*in_chunk=*/true);
        add_keys(t0, tc);
      }
    } else {
      // Bidirectional: every key first, then every query reads the complete state.
      for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        const int64_t tc = std::min(chunk, tokens - t0);
        key_features(t0, tc);
        add_keys(t0, tc);
      }
      for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        const int64_t tc = std::min(chunk, tokens - t0);
        for (int64_t h = g * group; h < (g + 1) * group; ++h)
          queries(h, t0, tc, /*in_chunk=*/false);
      }
    }
  });
  state->length += tokens;
  return absl::OkStatus();
}

}  // namespace favor
