#include "engine/ops/favor_attention.h"

#include "engine/ops/feature_tail.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/core/checked_math.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/ops/op_checks.h"

namespace favor {
namespace {

using feature_tail::kDenominatorFloor;

// Per key/value head: S (M x d), z (M) and per-feature running key scales (feature_tail.h).
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

  feature_tail::HeadState head(int64_t g) const {
    return feature_tail::StateAt(
        reinterpret_cast<float*>(buffer_->data()) + g * feature_tail::StateFloats(features_, dim_),
        features_, dim_);
  }
  int64_t length = 0;
  std::vector<std::shared_ptr<const rf::HeadFeatures>> features;

  int64_t NumBytes() const override { return static_cast<int64_t>(buffer_->size()); }
  void Reset() override {
    for (int64_t g = 0; g < heads_; ++g) feature_tail::ResetState(head(g), features_, dim_);
    length = 0;
    features = fixed_;  // Prompt-derived features are recomputed for the next sequence.
  }
  // The sums S and z of new_length / length copies of the sequence are the same sums scaled by
  // that ratio: a shift of every scale.
  absl::Status ExtendByRepeating(int64_t old_length, int64_t new_length) override {
    if (old_length != length || length <= 0 || new_length < length) {
      return absl::InvalidArgumentError(
          absl::StrCat("FavorAttention: cannot extend ", length, " tokens to ", new_length));
    }
    const float shift =
        static_cast<float>(std::log(static_cast<double>(new_length) / static_cast<double>(length)));
    for (int64_t g = 0; g < heads_; ++g) feature_tail::ShiftScales(head(g), features_, shift);
    length = new_length;
    return absl::OkStatus();
  }

 private:
  int64_t heads_, features_, dim_;
  std::shared_ptr<AlignedBuffer> buffer_;
  std::vector<std::shared_ptr<const rf::HeadFeatures>> fixed_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<FavorAttentionOp>> FavorAttentionOp::Create(
    FavorAttentionOptions o) {
  FAVOR_RETURN_IF_ERROR(o.heads.Validate("FavorAttention"));
  if (o.chunk <= 0 || o.chunk > kMaxChunk) {
    return absl::InvalidArgumentError(
        absl::StrCat("FavorAttention: chunk ", o.chunk, " outside [1, ", kMaxChunk, "]"));
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
  if (opt.source == FavorStatsSource::kCalibrated || opt.features.kind == rf::RfKind::kPos) {
    FAVOR_ASSIGN_OR_RETURN(op->fixed_features_, feature_tail::CalibratedFeatures(
                                                    opt.features, opt.calibration, opt.layer,
                                                    opt.heads, "FavorAttention"));
  }
  return op;
}

std::string FavorAttentionOp::Attributes() const {
  const auto& o = options_;
  return absl::StrCat(o.heads.Attributes(), " rf=", rf::RfKindName(o.features.kind),
                      " M=", o.features.features,
                      o.features.projection == rf::ProjectionKind::kOrthogonal ? " orf" : " iid",
                      " chunk=", o.chunk, o.causal ? " causal" : " bidirectional", " stats=",
                      o.source == FavorStatsSource::kCalibrated ? "calibrated"
                      : o.source == FavorStatsSource::kSequence ? "sequence"
                                                                : "prompt");
}

int64_t FavorAttentionOp::ScratchFloatsPerHead(int64_t chunk) const {
  const int64_t m = options_.features.features, d = options_.heads.head_dim;
  // The query rows also hold a whole group of heads in the fused decode step.
  const int64_t rows = std::max(chunk, options_.heads.n_heads / options_.heads.n_kv_heads);
  // Tail scratch, then numerators (rows x d), denominators and row scales; 64-byte aligned.
  return feature_tail::ScratchFloats(rows, m, d) + (rows * d + 2 * rows + 15) / 16 * 16;
}

int64_t FavorAttentionOp::WorkspaceBytes(std::span<const TensorSpec> inputs) const {
  const int64_t tokens = inputs[0].shape.dim(0);
  const int64_t chunk = std::min(options_.chunk, tokens);
  return options_.heads.n_kv_heads * ScratchFloatsPerHead(chunk) *
         static_cast<int64_t>(sizeof(float));
}

int64_t FavorAttentionOp::StateBytes(const StateOptions&) const {
  // Constant in the context: that is the point of random-feature attention.
  const int64_t floats = SaturatingMul(
      options_.heads.n_kv_heads,
      SaturatingMul(options_.features.features, SaturatingAdd(options_.heads.head_dim, 2)));
  return SaturatingMul(floats, sizeof(float));
}

absl::StatusOr<std::unique_ptr<OpState>> FavorAttentionOp::CreateState(const StateOptions&) const {
  const int64_t m = options_.features.features, d = options_.heads.head_dim;
  FAVOR_ASSIGN_OR_RETURN(
      auto buffer, AlignedBuffer::Create(static_cast<size_t>(options_.heads.n_kv_heads *
                                                             feature_tail::StateFloats(m, d) *
                                                             static_cast<int64_t>(sizeof(float)))));
  return std::unique_ptr<OpState>(
      new FavorState(options_.heads.n_kv_heads, m, d, std::move(buffer), fixed_features_));
}

absl::Status FavorAttentionOp::FeaturesFromRun(
    const Tensor& q, const Tensor& k,
    std::vector<std::shared_ptr<const rf::HeadFeatures>>& out) const {
  const int64_t d = options_.heads.head_dim, tokens = q.dim(0);
  out.clear();
  for (int64_t g = 0; g < options_.heads.n_kv_heads; ++g) {
    rf::PairStatistics stats(d);
    feature_tail::AddHeadStatistics(stats, q.data<float>(), k.data<float>(), 0, tokens,
                                    options_.heads, g);
    FAVOR_ASSIGN_OR_RETURN(auto features,
                           rf::MakeHeadFeatures(options_.features, stats, options_.layer, g,
                                                options_.heads.FeatureScale()));
    out.push_back(std::move(features));
  }
  return absl::OkStatus();
}

absl::Status FavorAttentionOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                                   std::span<Tensor> outputs, OpState* op_state) const {
  FAVOR_ASSIGN_OR_RETURN(FavorState* const state, StateAs<FavorState>(op_state));
  const int64_t tokens = inputs[0].dim(0);
  if (options_.causal) FAVOR_RETURN_IF_ERROR(CheckContinues(state->length, ctx.start_pos));
  if (!options_.causal) state->Reset();  // Bidirectional: each run is its own sequence.
  if (state->features.empty()) {
    // Statistics from the prompt: this first run's queries and keys, frozen for the sequence.
    FAVOR_RETURN_IF_ERROR(FeaturesFromRun(inputs[0], inputs[1], state->features));
  }
  const kernels::KernelTable& kernel = *ctx.kernels;
  const int64_t d = options_.heads.head_dim, n_heads = options_.heads.n_heads,
                n_kv = options_.heads.n_kv_heads;
  const int64_t group = n_heads / n_kv;
  const int64_t m_features = options_.features.features;
  const int64_t chunk = std::min(options_.chunk, tokens);
  const float* q = inputs[0].data<float>();
  const float* k = inputs[1].data<float>();
  const float* v = inputs[2].data<float>();
  float* out = outputs[0].mutable_data<float>();
  auto* scratch_base = reinterpret_cast<float*>(ctx.workspace.data());
  const int64_t scratch_stride = ScratchFloatsPerHead(chunk);
  const int64_t rows = std::max(chunk, group);
  const int64_t q_stride = n_heads * d, kv_stride = n_kv * d;

  ParallelFor(n_kv, ctx.threads, 1, [&](int64_t g) {
    float* base = scratch_base + g * scratch_stride;
    const feature_tail::Context tail{.kernel = kernel,
                                     .head = *state->features[static_cast<size_t>(g)],
                                     .features = m_features,
                                     .dim = d,
                                     .state = state->head(g),
                                     .scratch = feature_tail::ScratchAt(base, rows, m_features)};
    float* numerator = base + feature_tail::ScratchFloats(rows, m_features, d);
    float* denominator = numerator + rows * d;
    float* row_scale = denominator + rows;
    auto write_rows = [&](int64_t chunk_start, int64_t count, int64_t h) {
      for (int64_t t = 0; t < count; ++t) {
        kernel.scale(1.0f / std::max(denominator[t], kDenominatorFloor), numerator + t * d, d);
        std::memcpy(out + (chunk_start + t) * q_stride + h * d, numerator + t * d,
                    static_cast<size_t>(d) * sizeof(float));
      }
    };

    if (options_.causal && tokens == 1) {
      // The thread's next head, most likely (contiguous runs per thread).
      if (g + 1 < n_kv && state->features[static_cast<size_t>(g + 1)] != nullptr) {
        feature_tail::PrefetchDecode(*state->features[static_cast<size_t>(g + 1)],
                                     state->head(g + 1));
      }
      // Decode: every query head of the group in one pass over S (read for the queries, the
      // updated state written in the same sweep).
      feature_tail::DecodeStep(tail, q + g * group * d, group, k + g * d, v + g * d, numerator,
                               denominator, row_scale);
      for (int64_t h = 0; h < group; ++h) {
        kernel.scale(1.0f / std::max(denominator[h], kDenominatorFloor), numerator + h * d, d);
        std::memcpy(out + (g * group + h) * d, numerator + h * d,
                    static_cast<size_t>(d) * sizeof(float));
      }
    } else if (options_.causal) {
      for (int64_t chunk_start = 0; chunk_start < tokens; chunk_start += chunk) {
        const int64_t chunk_tokens = std::min(chunk, tokens - chunk_start);
        feature_tail::KeyLogFeatures(tail, k + chunk_start * kv_stride + g * d, chunk_tokens,
                                     kv_stride, tail.scratch.key_logs);
        for (int64_t sub_start = 0; sub_start < chunk_tokens;) {
          const int64_t sub_end =
              feature_tail::PlanSubchunk(tail, tail.scratch.key_logs, sub_start, chunk_tokens);
          const int64_t n = sub_end - sub_start;
          // The sub-chunk's rows move to the front of the key logs, where PrepareKeys reads them.
          feature_tail::PrepareKeys(tail, tail.scratch.key_logs + sub_start * m_features, n);
          const float* values = v + (chunk_start + sub_start) * kv_stride + g * d;
          for (int64_t h = g * group; h < (g + 1) * group; ++h) {
            feature_tail::Queries(tail, q + (chunk_start + sub_start) * q_stride + h * d, n,
                                  q_stride, values, kv_stride, n, /*visible_offset=*/1, numerator,
                                  denominator, row_scale);
            write_rows(chunk_start + sub_start, n, h);
          }
          feature_tail::AddKeys(tail, values, kv_stride, n);
          sub_start = sub_end;
        }
      }
    } else {
      // Bidirectional: every key first, then every query reads the complete state.
      for (int64_t chunk_start = 0; chunk_start < tokens; chunk_start += chunk) {
        const int64_t chunk_tokens = std::min(chunk, tokens - chunk_start);
        feature_tail::KeyLogFeatures(tail, k + chunk_start * kv_stride + g * d, chunk_tokens,
                                     kv_stride, tail.scratch.key_logs);
        for (int64_t sub_start = 0; sub_start < chunk_tokens;) {
          const int64_t sub_end =
              feature_tail::PlanSubchunk(tail, tail.scratch.key_logs, sub_start, chunk_tokens);
          feature_tail::PrepareKeys(tail, tail.scratch.key_logs + sub_start * m_features,
                                    sub_end - sub_start);
          feature_tail::AddKeys(tail, v + (chunk_start + sub_start) * kv_stride + g * d, kv_stride,
                                sub_end - sub_start);
          sub_start = sub_end;
        }
      }
      std::memcpy(tail.scratch.new_scale, tail.state.scale,
                  static_cast<size_t>(m_features) * sizeof(float));
      feature_tail::PrepareKeys(tail, nullptr, 0);
      for (int64_t chunk_start = 0; chunk_start < tokens; chunk_start += chunk) {
        const int64_t chunk_tokens = std::min(chunk, tokens - chunk_start);
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          feature_tail::Queries(tail, q + chunk_start * q_stride + h * d, chunk_tokens, q_stride,
                                nullptr, 0, 0, 0, numerator, denominator, row_scale);
          write_rows(chunk_start, chunk_tokens, h);
        }
      }
    }
  });
  state->length += tokens;
  return absl::OkStatus();
}

}  // namespace favor
