#include "engine/ops/hybrid_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/core/checked_math.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/ops/feature_tail.h"
#include "engine/ops/op_checks.h"
#include "engine/rf/hybrid_plan.h"

namespace favor {
namespace {

using feature_tail::kDenominatorFloor;
using feature_tail::kNegInf;
// The features of a head without a random-feature tail (never read).
const rf::HeadFeatures kNoFeatures{};

// Per key/value head: sink rows, a ring of the last W rows (keys and values), the random-feature
// state of the tokens that left the window (feature_tail.h), and room for one query's exact
// scores. Heads may have different windows (a fully exact head's window is the whole context).
class HybridState final : public OpState {
 public:
  HybridState(const HybridAttentionOptions& o, std::vector<int64_t> windows,
              std::vector<int64_t> head_features, std::shared_ptr<AlignedBuffer> buffer,
              std::vector<std::shared_ptr<const rf::HeadFeatures>> fixed)
      : dim_(o.heads.head_dim),
        sinks_(o.sinks),
        features_(std::move(head_features)),
        windows_(std::move(windows)),
        buffer_(std::move(buffer)),
        fixed_(std::move(fixed)),
        feature_options_(o.features),
        input_scale_(o.heads.FeatureScale()),
        layer_(o.layer) {
    int64_t offset = 0;
    for (size_t g = 0; g < windows_.size(); ++g) {
      offsets_.push_back(offset);
      offset += HeadFloats(o, windows_[g], features_[g]);
    }
    Reset();
  }

  static int64_t HeadFloats(const HybridAttentionOptions& o, int64_t window, int64_t m) {
    return 2 * (o.sinks + window) * o.heads.head_dim +
           feature_tail::StateFloats(m, o.heads.head_dim) + o.sinks + window;
  }

  int64_t window(int64_t g) const { return windows_[static_cast<size_t>(g)]; }
  int64_t tail_features(int64_t g) const { return features_[static_cast<size_t>(g)]; }
  float* head(int64_t g) const {
    return reinterpret_cast<float*>(buffer_->data()) + offsets_[static_cast<size_t>(g)];
  }
  float* sink_keys(int64_t g) const { return head(g); }
  float* sink_values(int64_t g) const { return head(g) + sinks_ * dim_; }
  float* ring_keys(int64_t g) const { return head(g) + 2 * sinks_ * dim_; }
  float* ring_values(int64_t g) const { return ring_keys(g) + window(g) * dim_; }
  feature_tail::HeadState tail(int64_t g) const {
    return feature_tail::StateAt(ring_values(g) + window(g) * dim_, tail_features(g), dim_);
  }
  float* scores(int64_t g) const {
    return ring_values(g) + window(g) * dim_ + feature_tail::StateFloats(tail_features(g), dim_);
  }
  int64_t length = 0;
  // Per key/value head: the tail's features (null until the sequence's statistics fix them), and
  // the statistics gathered towards that.
  std::vector<std::shared_ptr<const rf::HeadFeatures>> features;
  std::vector<rf::PairStatistics> statistics;

  // Fixes head g's features from the statistics gathered so far.
  absl::Status FixFeatures(int64_t g) {
    const auto head = static_cast<size_t>(g);
    rf::FeatureOptions options = feature_options_;
    options.features = tail_features(g);
    FAVOR_ASSIGN_OR_RETURN(
        features[head], rf::MakeHeadFeatures(options, statistics[head], layer_, g, input_scale_));
    return absl::OkStatus();
  }

  int64_t NumBytes() const override { return static_cast<int64_t>(buffer_->size()); }
  void Reset() override {
    std::memset(buffer_->data(), 0, buffer_->size());
    for (size_t g = 0; g < windows_.size(); ++g) {
      feature_tail::ResetState(tail(static_cast<int64_t>(g)), features_[g], dim_);
    }
    length = 0;
    features = fixed_;  // Features from a sequence's statistics are that sequence's alone.
    statistics.assign(windows_.size(), rf::PairStatistics(dim_));
  }
  // The sinks stay; the window's last W positions are the last W of the sequence so far (the
  // ring, indexed by position modulo W, is re-laid for the new positions); the tail's sums scale
  // with the number of tokens that left the window: a shift of its scales. A head whose window
  // holds the whole new length repeats the sequence, like a KV cache.
  absl::Status ExtendByRepeating(int64_t old_length, int64_t new_length) override {
    if (old_length != length || new_length < old_length) {
      return absl::InvalidArgumentError(
          absl::StrCat("HybridAttention: cannot extend ", length, " tokens to ", new_length));
    }
    for (size_t h = 0; h < windows_.size(); ++h) {
      const int64_t w = windows_[h];
      if (w < new_length && old_length - sinks_ - w <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("HybridAttention: cannot extend ", length, " tokens to ", new_length,
                         " (it needs more than sinks + window = ", sinks_ + w, " tokens)"));
      }
    }
    std::vector<float> old_rows;
    for (int64_t g = 0; g < static_cast<int64_t>(windows_.size()); ++g) {
      const int64_t w = window(g);
      if (w >= new_length) {
        for (auto [rows, sinks] :
             {std::pair{ring_keys(g), sink_keys(g)}, std::pair{ring_values(g), sink_values(g)}}) {
          for (int64_t p = std::max(old_length, sinks_); p < new_length; ++p) {
            const int64_t source = p % old_length;
            const float* from = source < sinks_ ? sinks + source * dim_ : rows + source * dim_;
            std::memcpy(rows + p * dim_, from, static_cast<size_t>(dim_) * sizeof(float));
          }
        }
        continue;
      }
      for (float* rows : {ring_keys(g), ring_values(g)}) {
        old_rows.assign(rows, rows + w * dim_);
        for (int64_t p = new_length - w; p < new_length; ++p) {
          const int64_t source = p - new_length + old_length;
          std::memcpy(rows + (p % w) * dim_, old_rows.data() + (source % w) * dim_,
                      static_cast<size_t>(dim_) * sizeof(float));
        }
      }
      // A repeated sequence has the statistics it had: a head still gathering fixes them now.
      if (tail_features(g) > 0 && features[static_cast<size_t>(g)] == nullptr &&
          statistics[static_cast<size_t>(g)].key_count() > 0) {
        FAVOR_RETURN_IF_ERROR(FixFeatures(g));
      }
      const double ratio = static_cast<double>(new_length - sinks_ - w) /
                           static_cast<double>(old_length - sinks_ - w);
      feature_tail::ShiftScales(tail(g), tail_features(g), static_cast<float>(std::log(ratio)));
    }
    length = new_length;
    return absl::OkStatus();
  }

 private:
  int64_t dim_, sinks_;
  std::vector<int64_t> features_;  // Per key/value head: the tail's M (0: none).
  std::vector<int64_t> windows_;   // Per key/value head, exact heads resolved to the context.
  std::vector<int64_t> offsets_;   // Floats from the buffer's start to each head.
  std::shared_ptr<AlignedBuffer> buffer_;
  std::vector<std::shared_ptr<const rf::HeadFeatures>> fixed_;  // Null: from the sequence.
  rf::FeatureOptions feature_options_;
  double input_scale_;  // Of queries and keys before the features (the attention's scale).
  int64_t layer_;
};

// One decode step of key/value head g at `position`, fused: the key that leaves the window joins
// the tail as its query heads read it (one pass over the tail state, feature_tail::DecodeStep),
// the new key and value take its place in the ring, and each query head's softmax over the sinks
// and the ring (at most three contiguous runs of rows: softmax does not care about their order)
// merges with the tail's part on one log scale. `tail` is null when the head has no live tail;
// `scratch` holds group x (d + 2) floats.
void DecodeHead(HybridState& state, const AttentionHeads& heads, int64_t sinks, int64_t g,
                const feature_tail::Context* tail, float* scratch, const float* q, const float* k,
                const float* v, float* out, int64_t position, const kernels::KernelTable& kernel) {
  const int64_t d = heads.head_dim, group = heads.n_heads / heads.n_kv_heads;
  const int64_t W = state.window(g), S = sinks;
  float* tail_numerator = scratch;                       // group x d
  float* tail_denominator = tail_numerator + group * d;  // group
  float* tail_scale = tail_denominator + group;          // group
  if (tail != nullptr) {
    // Query t sees the tail's keys up to t - W: position - W joins now (from the ring, or the
    // new key itself without a window).
    const int64_t leaving = position - W;
    const float* key = nullptr;
    const float* value = nullptr;
    if (leaving >= S) {
      key = W == 0 ? k : state.ring_keys(g) + (leaving % W) * d;
      value = W == 0 ? v : state.ring_values(g) + (leaving % W) * d;
    }
    feature_tail::DecodeStep(*tail, q, group, key, value, tail_numerator, tail_denominator,
                             tail_scale);
  }
  // The new row after the leaving one was read (they share a ring slot).
  const size_t row_bytes = static_cast<size_t>(d) * sizeof(float);
  if (position < S) {
    std::memcpy(state.sink_keys(g) + position * d, k, row_bytes);
    std::memcpy(state.sink_values(g) + position * d, v, row_bytes);
  } else if (W > 0) {
    std::memcpy(state.ring_keys(g) + (position % W) * d, k, row_bytes);
    std::memcpy(state.ring_values(g) + (position % W) * d, v, row_bytes);
  }
  // The exact rows: sinks [0, min(S, position + 1)), then the window's positions
  // [max(S, position - W + 1), position] at ring slots p % W (contiguous modulo W).
  struct Rows {
    const float* keys;
    const float* values;
    int64_t count;
  };
  Rows runs[3];
  int64_t n_runs = 0;
  if (const int64_t n = std::min(S, position + 1); n > 0) {
    runs[n_runs++] = {state.sink_keys(g), state.sink_values(g), n};
  }
  if (W > 0 && position >= S) {
    const int64_t first = std::max(S, position - W + 1), n = position - first + 1;
    const int64_t slot = first % W, before_wrap = std::min(n, W - slot);
    runs[n_runs++] = {state.ring_keys(g) + slot * d, state.ring_values(g) + slot * d, before_wrap};
    if (n > before_wrap) {
      runs[n_runs++] = {state.ring_keys(g), state.ring_values(g), n - before_wrap};
    }
  }
  const float scale = heads.Scale();
  alignas(64) float parts[3][kernels::kMaxHeadDim];
  for (int64_t h = 0; h < group; ++h) {
    const float* query = q + h * d;
    float* result = out + h * d;
    float log_weights[4];
    for (int64_t r = 0; r < n_runs; ++r) {
      kernel.attention_row(query, runs[r].keys, runs[r].values, runs[r].count, d, scale, 0.0f,
                           parts[r], &log_weights[r]);
    }
    // The tail's weights are exp(r_t + the query's quadratic term) times its sums.
    float tail_log = kNegInf;
    if (tail != nullptr && tail_scale[h] != kNegInf) {
      tail_log = tail_scale[h] + feature_tail::QueryQuadratic(*tail, query) +
                 std::log(std::max(tail_denominator[h], kDenominatorFloor));
    }
    float common = tail_log;
    for (int64_t r = 0; r < n_runs; ++r) common = std::max(common, log_weights[r]);
    std::memset(result, 0, row_bytes);
    float denominator = 0.0f;
    for (int64_t r = 0; r < n_runs; ++r) {
      const float weight = std::exp(log_weights[r] - common);
      denominator += weight;
      kernel.axpy(weight, parts[r], result, d);
    }
    if (tail_log != kNegInf) {
      // The tail's sums are unnormalised: its weight is per unit of its denominator.
      const float weight = std::exp(tail_log - common);
      denominator += weight;
      kernel.axpy(weight / std::max(tail_denominator[h], kDenominatorFloor), tail_numerator + h * d,
                  result, d);
    }
    kernel.scale(1.0f / std::max(denominator, kDenominatorFloor), result, d);
  }
}

// A per-head list is empty (every head the same) or has one entry per key/value head.
absl::Status CheckOnePerHead(const std::vector<int64_t>& values, absl::string_view what,
                             const AttentionHeads& heads) {
  if (values.empty() || static_cast<int64_t>(values.size()) == heads.n_kv_heads) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("HybridAttention: ", values.size(), " ", what,
                                                 " for ", heads.n_kv_heads, " key/value heads"));
}

}  // namespace

absl::StatusOr<std::shared_ptr<HybridAttentionOp>> HybridAttentionOp::Create(
    HybridAttentionOptions o) {
  FAVOR_RETURN_IF_ERROR(o.heads.Validate("HybridAttention"));
  if (o.window < 0 || o.sinks < 0 || o.window > kMaxWindow || o.sinks > kMaxWindow) {
    return absl::InvalidArgumentError(absl::StrCat("HybridAttention: window ", o.window,
                                                   " and sinks ", o.sinks, " must be in [0, ",
                                                   kMaxWindow, "]"));
  }
  FAVOR_RETURN_IF_ERROR(CheckOnePerHead(o.head_windows, "head windows", o.heads));
  for (int64_t window : o.head_windows) {
    if (window != rf::kExactHead && (window < 0 || window > kMaxWindow)) {
      return absl::InvalidArgumentError(absl::StrCat("HybridAttention: head window ", window,
                                                     " must be in [0, ", kMaxWindow, "] or exact"));
    }
  }
  FAVOR_RETURN_IF_ERROR(CheckOnePerHead(o.head_features, "head feature counts", o.heads));
  for (int64_t m : o.head_features) {
    if (m < 0 || m > kMaxFeatures) {
      return absl::InvalidArgumentError(absl::StrCat("HybridAttention: head feature count ", m,
                                                     " outside [0, ", kMaxFeatures, "]"));
    }
  }
  if (o.chunk <= 0 || o.chunk > kMaxChunk) {
    return absl::InvalidArgumentError(
        absl::StrCat("HybridAttention: chunk ", o.chunk, " outside [1, ", kMaxChunk, "]"));
  }
  std::shared_ptr<HybridAttentionOp> op(new HybridAttentionOp(std::move(o)));
  const HybridAttentionOptions& opt = op->options_;
  for (int64_t g = 0; g < opt.heads.n_kv_heads; ++g) {
    if (op->WindowOf(g) == 0 && op->FeaturesOf(g) == 0) {
      return absl::InvalidArgumentError(
          "HybridAttention: a window of 0 without a random-feature tail attends to no recent "
          "token");
    }
  }
  op->features_.assign(static_cast<size_t>(opt.heads.n_kv_heads), nullptr);
  if (op->MaxFeatures() == 0) return op;
  if (!rf::IsPositive(opt.features.kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HybridAttention: ", rf::RfKindName(opt.features.kind), " features are not positive"));
  }
  if (op->NeedsSequenceStatistics()) return op;
  // Per distinct feature count, the features of the heads that have it.
  std::vector<int64_t> counts;
  for (int64_t g = 0; g < opt.heads.n_kv_heads; ++g) {
    const int64_t m = op->FeaturesOf(g);
    if (m > 0 && std::find(counts.begin(), counts.end(), m) == counts.end()) counts.push_back(m);
  }
  for (int64_t m : counts) {
    rf::FeatureOptions features = opt.features;
    features.features = m;
    FAVOR_ASSIGN_OR_RETURN(
        auto made, feature_tail::CalibratedFeatures(features, opt.calibration, opt.layer, opt.heads,
                                                    "HybridAttention"));
    for (int64_t g = 0; g < opt.heads.n_kv_heads; ++g) {
      if (op->FeaturesOf(g) == m)
        op->features_[static_cast<size_t>(g)] = made[static_cast<size_t>(g)];
    }
  }
  return op;
}

int64_t HybridAttentionOp::FeaturesOf(int64_t kv_head) const {
  if (!options_.random_feature_tail) return 0;
  return options_.head_features.empty() ? options_.features.features
                                        : options_.head_features[static_cast<size_t>(kv_head)];
}

int64_t HybridAttentionOp::MaxFeatures() const {
  int64_t most = 0;
  for (int64_t g = 0; g < options_.heads.n_kv_heads; ++g) most = std::max(most, FeaturesOf(g));
  return most;
}

bool HybridAttentionOp::NeedsSequenceStatistics() const {
  return MaxFeatures() > 0 && options_.sequence_statistics &&
         options_.features.kind != rf::RfKind::kPos;
}

int64_t HybridAttentionOp::WindowOf(int64_t kv_head) const {
  return options_.head_windows.empty() ? options_.window
                                       : options_.head_windows[static_cast<size_t>(kv_head)];
}

std::string HybridAttentionOp::Attributes() const {
  const auto& o = options_;
  std::string windows = absl::StrCat(o.window);
  if (!o.head_windows.empty()) {
    windows.clear();
    for (int64_t g = 0; g < o.heads.n_kv_heads; ++g) {
      absl::StrAppend(&windows, g > 0 ? "," : "", rf::WindowName(WindowOf(g)));
    }
  }
  std::string features = absl::StrCat(FeaturesOf(0));
  if (!o.head_features.empty()) {
    for (int64_t g = 1; g < o.heads.n_kv_heads; ++g) absl::StrAppend(&features, ",", FeaturesOf(g));
  }
  return absl::StrCat(o.heads.Attributes(), " window=", windows, " sinks=", o.sinks,
                      MaxFeatures() > 0 ? absl::StrCat(" tail=", rf::RfKindName(o.features.kind),
                                                       " M=", features, " chunk=", o.chunk)
                                        : std::string(" tail=none"));
}

int64_t HybridAttentionOp::ScratchFloatsPerHead(int64_t chunk) const {
  const int64_t m = MaxFeatures();  // Each head lays out its scratch for its own M within it.
  const int64_t d = options_.heads.head_dim,
                group = options_.heads.n_heads / options_.heads.n_kv_heads;
  // Tail scratch; the leaving keys and values (C x d each); the tail's numerators, denominators
  // and row scales of every query head of the group (the exact scores live in the state: their
  // size depends on the head's window).
  const int64_t floats = 2 * chunk * d + group * chunk * (d + 2);
  return feature_tail::ScratchFloats(std::max(chunk, group), m, d) + (floats + 15) / 16 * 16;
}

int64_t HybridAttentionOp::WorkspaceBytes(std::span<const TensorSpec> inputs) const {
  const int64_t chunk = std::min(options_.chunk, inputs[0].shape.dim(0));
  return options_.heads.n_kv_heads * ScratchFloatsPerHead(chunk) *
         static_cast<int64_t>(sizeof(float));
}

int64_t HybridAttentionOp::StateBytes(const StateOptions& state_options) const {
  // HybridState::HeadFloats per head, saturating: an exact head holds the whole context.
  int64_t floats = 0;
  for (int64_t g = 0; g < options_.heads.n_kv_heads; ++g) {
    const int64_t m = FeaturesOf(g);
    const int64_t window = WindowOf(g) == rf::kExactHead
                               ? std::max<int64_t>(state_options.max_context, 1)
                               : WindowOf(g);
    const int64_t held = SaturatingAdd(options_.sinks, window);
    const int64_t head =
        SaturatingAdd(SaturatingMul(held, SaturatingAdd(2 * options_.heads.head_dim, 1)),
                      SaturatingMul(m, options_.heads.head_dim + 2));
    floats = SaturatingAdd(floats, head);
  }
  return SaturatingMul(floats, sizeof(float));
}

absl::StatusOr<std::unique_ptr<OpState>> HybridAttentionOp::CreateState(
    const StateOptions& state_options) const {
  std::vector<int64_t> windows, head_features;
  int64_t floats = 0;
  for (int64_t g = 0; g < options_.heads.n_kv_heads; ++g) {
    const int64_t window = WindowOf(g);
    windows.push_back(window == rf::kExactHead ? std::max<int64_t>(state_options.max_context, 1)
                                               : window);
    head_features.push_back(FeaturesOf(g));
    floats += HybridState::HeadFloats(options_, windows.back(), head_features.back());
  }
  FAVOR_ASSIGN_OR_RETURN(auto buffer,
                         AlignedBuffer::Create(static_cast<size_t>(floats) * sizeof(float)));
  return std::unique_ptr<OpState>(new HybridState(
      options_, std::move(windows), std::move(head_features), std::move(buffer), features_));
}

absl::Status HybridAttentionOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                                    std::span<Tensor> outputs, OpState* op_state) const {
  FAVOR_ASSIGN_OR_RETURN(HybridState* const state, StateAs<HybridState>(op_state));
  FAVOR_RETURN_IF_ERROR(CheckContinues(state->length, ctx.start_pos));
  const kernels::KernelTable& kernel = *ctx.kernels;
  const HybridAttentionOptions& o = options_;
  const int64_t d = o.heads.head_dim, n_heads = o.heads.n_heads, n_kv = o.heads.n_kv_heads;
  const int64_t group = n_heads / n_kv, S = o.sinks;
  const int64_t tokens = inputs[0].dim(0), first_position = ctx.start_pos;
  const int64_t chunk = std::min(o.chunk, tokens);
  const float* q = inputs[0].data<float>();
  const float* k = inputs[1].data<float>();
  const float* v = inputs[2].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const int64_t q_stride = n_heads * d, kv_stride = n_kv * d;
  const float scale = o.heads.Scale();
  auto* scratch_base = reinterpret_cast<float*>(ctx.workspace.data());
  const int64_t scratch_stride = ScratchFloatsPerHead(chunk);

  if (NeedsSequenceStatistics()) {
    // Positions before S + W feed the statistics; the features are fixed before the first query
    // that reads the tail (position S + W) runs.
    for (int64_t g = 0; g < n_kv; ++g) {
      // A fully exact head never has a tail: nothing to gather, on every step of the sequence.
      if (state->features[static_cast<size_t>(g)] != nullptr || WindowOf(g) == rf::kExactHead ||
          FeaturesOf(g) == 0) {
        continue;
      }
      const int64_t fix_at = S + state->window(g);
      feature_tail::AddHeadStatistics(state->statistics[static_cast<size_t>(g)], q, k, 0,
                                      std::clamp<int64_t>(fix_at - first_position, 0, tokens),
                                      o.heads, g);
      if (first_position + tokens > fix_at) {
        if (auto status = state->FixFeatures(g); !status.ok()) {
          return WithContext(status, absl::StrCat("HybridAttention layer ", o.layer, " head ", g));
        }
      }
    }
  }

  if (tokens == 1) {
    ParallelFor(n_kv, ctx.threads, 1, [&](int64_t g) {
      // Heads are split into contiguous runs per thread: the next head is most likely this
      // thread's next.
      if (g + 1 < n_kv && state->features[static_cast<size_t>(g + 1)] != nullptr) {
        feature_tail::PrefetchDecode(*state->features[static_cast<size_t>(g + 1)],
                                     state->tail(g + 1));
      }
      const int64_t m_features = FeaturesOf(g);
      const rf::HeadFeatures* head_features = state->features[static_cast<size_t>(g)].get();
      float* base = scratch_base + g * scratch_stride;
      const feature_tail::Context tail{
          .kernel = kernel,
          .head = head_features != nullptr ? *head_features : kNoFeatures,
          .features = m_features,
          .dim = d,
          .state = state->tail(g),
          .scratch = feature_tail::ScratchAt(base, group, m_features)};
      DecodeHead(*state, o.heads, S, g, head_features != nullptr ? &tail : nullptr,
                 base + feature_tail::ScratchFloats(group, m_features, d), q + g * group * d,
                 k + g * d, v + g * d, out + g * group * d, first_position, kernel);
    });
    state->length += tokens;
    return absl::OkStatus();
  }

  ParallelFor(n_kv, ctx.threads, 1, [&](int64_t g) {
    const int64_t W = state->window(g);
    const int64_t m_features = FeaturesOf(g);
    float* base = scratch_base + g * scratch_stride;
    const rf::HeadFeatures* head_features = state->features[static_cast<size_t>(g)].get();
    // A tail whose features the sequence has not fixed yet holds nothing and receives nothing
    // in this run (no key leaves the window before they are fixed).
    const bool tail_live = head_features != nullptr;
    const feature_tail::Context tail{.kernel = kernel,
                                     .head = tail_live ? *head_features : kNoFeatures,
                                     .features = m_features,
                                     .dim = d,
                                     .state = state->tail(g),
                                     .scratch = feature_tail::ScratchAt(base, chunk, m_features)};
    float* key_rows = base + feature_tail::ScratchFloats(chunk, m_features, d);
    float* value_rows = key_rows + chunk * d;
    float* tail_numerator = value_rows + chunk * d;                // group x C x d
    float* tail_denominator = tail_numerator + group * chunk * d;  // group x C
    float* tail_scale = tail_denominator + group * chunk;          // group x C
    float* scores = state->scores(g);                              // S + W

    // Key or value row of position j: this run's input, a sink, or the ring (j >= first_position -
    // W).
    auto row = [&](const float* input, const float* sinks, const float* ring, int64_t j) {
      if (j >= first_position) return input + (j - first_position) * kv_stride + g * d;
      if (j < S) return sinks + j * d;
      return ring + (j % W) * d;
    };
    auto key = [&](int64_t j) { return row(k, state->sink_keys(g), state->ring_keys(g), j); };
    auto value = [&](int64_t j) { return row(v, state->sink_values(g), state->ring_values(g), j); };

    for (int64_t chunk_start = first_position; chunk_start < first_position + tokens;
         chunk_start += chunk) {
      const int64_t chunk_tokens = std::min(chunk, first_position + tokens - chunk_start);
      // The tail: keys that leave the window while this chunk's queries run, [leaving_start,
      // leaving_start + leaving_count); query t sees those up to t - W.
      const int64_t leaving_start = std::max(S, chunk_start - W);
      const int64_t leaving_count =
          tail_live ? std::max(S, chunk_start + chunk_tokens - W) - leaving_start : 0;
      if (tail_live) {
        for (int64_t j = 0; j < leaving_count; ++j) {
          std::memcpy(key_rows + j * d, key(leaving_start + j),
                      static_cast<size_t>(d) * sizeof(float));
          std::memcpy(value_rows + j * d, value(leaving_start + j),
                      static_cast<size_t>(d) * sizeof(float));
        }
        if (leaving_count > 0)
          feature_tail::KeyLogFeatures(tail, key_rows, leaving_count, d, tail.scratch.key_logs);
        // Queries [query_begin, query_end) (chunk rows) whose last visible leaving key is in
        // [sub_start, sub_start + n).
        auto run_queries = [&](int64_t query_begin, int64_t query_end, int64_t sub_start,
                               int64_t n) {
          if (query_end <= query_begin) return;
          for (int64_t h = 0; h < group; ++h) {
            const int64_t head = g * group + h;
            feature_tail::Queries(
                tail, q + (chunk_start + query_begin - first_position) * q_stride + head * d,
                query_end - query_begin, q_stride, value_rows + sub_start * d, d, n,
                /*visible_offset=*/chunk_start + query_begin - W + 1 - leaving_start - sub_start,
                tail_numerator + (h * chunk + query_begin) * d,
                tail_denominator + h * chunk + query_begin, tail_scale + h * chunk + query_begin);
          }
        };
        // Queries that see no leaving key of this chunk read the state as it is.
        const int64_t unseen =
            std::clamp<int64_t>(leaving_start + W - chunk_start, 0, chunk_tokens);
        std::memcpy(tail.scratch.new_scale, tail.state.scale,
                    static_cast<size_t>(m_features) * sizeof(float));
        feature_tail::PrepareKeys(tail, nullptr, 0);
        run_queries(0, leaving_count > 0 ? unseen : chunk_tokens, 0, 0);
        for (int64_t sub_start = 0; sub_start < leaving_count;) {
          const int64_t sub_end =
              feature_tail::PlanSubchunk(tail, tail.scratch.key_logs, sub_start, leaving_count);
          feature_tail::PrepareKeys(tail, tail.scratch.key_logs + sub_start * m_features,
                                    sub_end - sub_start);
          run_queries(
              std::clamp<int64_t>(leaving_start + W + sub_start - chunk_start, 0, chunk_tokens),
              std::clamp<int64_t>(leaving_start + W + sub_end - chunk_start, 0, chunk_tokens),
              sub_start, sub_end - sub_start);
          feature_tail::AddKeys(tail, value_rows + sub_start * d, d, sub_end - sub_start);
          sub_start = sub_end;
        }
      }

      // The exact part (sinks and window), then both parts on one scale.
      for (int64_t h = 0; h < group; ++h) {
        const int64_t head = g * group + h;
        for (int64_t t = 0; t < chunk_tokens; ++t) {
          const int64_t position = chunk_start + t;
          const float* query_row = q + (position - first_position) * q_stride + head * d;
          int64_t count = 0;
          const int64_t sink_end = std::min(S, position + 1);
          const int64_t window_begin = std::max(S, position - W + 1);
          for (int64_t j = 0; j < sink_end; ++j) {
            scores[count++] = kernel.dot(query_row, key(j), d) * scale;
          }
          for (int64_t j = window_begin; j <= position; ++j) {
            scores[count++] = kernel.dot(query_row, key(j), d) * scale;
          }
          const float exact_max = count > 0 ? kernel.max(scores, count) : kNegInf;
          float tail_log = kNegInf;
          if (tail_live && tail_scale[h * chunk + t] != kNegInf) {
            tail_log = tail_scale[h * chunk + t] + feature_tail::QueryQuadratic(tail, query_row);
          }
          const float common = std::max(exact_max, tail_log);
          float* result = out + (position - first_position) * q_stride + head * d;
          std::memset(result, 0, static_cast<size_t>(d) * sizeof(float));
          float denominator = 0.0f;
          if (count > 0) {
            const float exact_weight = std::exp(exact_max - common);
            const float sum = kernel.exp_shifted(scores, exact_max, scores, count);
            denominator += exact_weight * sum;
            int64_t at = 0;
            for (int64_t j = 0; j < sink_end; ++j) {
              kernel.axpy(exact_weight * scores[at++], value(j), result, d);
            }
            for (int64_t j = window_begin; j <= position; ++j) {
              kernel.axpy(exact_weight * scores[at++], value(j), result, d);
            }
          }
          if (tail_log != kNegInf) {
            const float tail_weight = std::exp(tail_log - common);
            denominator += tail_weight * tail_denominator[h * chunk + t];
            kernel.axpy(tail_weight, tail_numerator + (h * chunk + t) * d, result, d);
          }
          kernel.scale(1.0f / std::max(denominator, kDenominatorFloor), result, d);
        }
      }
    }

    // Sinks and the ring take this run's rows (after every query has read the old ones).
    for (int64_t j = first_position; j < std::min(S, first_position + tokens); ++j) {
      std::memcpy(state->sink_keys(g) + j * d, key(j), static_cast<size_t>(d) * sizeof(float));
      std::memcpy(state->sink_values(g) + j * d, value(j), static_cast<size_t>(d) * sizeof(float));
    }
    for (int64_t j = std::max({first_position, first_position + tokens - W, S});
         j < first_position + tokens; ++j) {
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
