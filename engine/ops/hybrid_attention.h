// Hybrid attention: exact softmax over S sink tokens (the first of the sequence) and a sliding
// window of the W most recent tokens (the current one included), plus positive random-feature
// attention over every token that has left the window, all in one normalisation:
//
//   out_t = (sum_{j in E_t} e^{s_tj} v_j + sum_{j in R_t} phi(q_t).psi(k_j) v_j)
//         / (sum_{j in E_t} e^{s_tj}     + sum_{j in R_t} phi(q_t).psi(k_j)),
//   E_t = {j < S} u {t - W < j <= t},  R_t = {S <= j <= t - W},  s_tj = q_t.k_j / sqrt(d).
//
// W >= the sequence length is exact attention; W = 0 and S = 0 is pure random-feature attention
// (FavorAttentionOp); without the random-feature tail, tokens that left the window are dropped
// (the window-only baseline). Both parts are kept in log space: the exact part relative to its row
// maximum, the random-feature part relative to the query's full log-feature maximum (bias, linear
// and quadratic terms: nothing cancels here) plus the running key scale of the tail, and the two
// are put on one scale before they are added.
//
// State per key/value head, constant in the position: the sink keys and values (S rows), a ring
// buffer of the last W keys and values, and the random-feature state S (M x d), z (M) and its
// log-scale. A key joins the random-feature state when it leaves the window. Prefill runs in
// chunks of C queries: the keys that leave the window during the chunk get their features once,
// serve the chunk's queries through a masked product, then join the state; the exact part is a
// band of W keys (plus the sinks) per query. Decode is fused: per key/value head one pass over the
// tail state (the leaving key joins as the group's queries read it) and one softmax over the
// sinks and the ring, merged with the tail on one log scale.
//
// Each key/value head may have its own window (a per-head plan); the state is laid out per head.
//
// Features come from calibrated statistics (PosRF needs none) or, without them, from the
// sequence's own statistics taken causally: a key reaches the random-feature tail only when it
// leaves the window, so the first one does so at position S + W, and the queries and keys of
// positions [0, S + W) (all in the past of every query that reads the tail) fix the head's
// features for the rest of the sequence. Nothing is looked ahead at; positions before S + W are
// exact attention anyway.
#pragma once

#include <memory>
#include <vector>

#include "engine/ops/attention_op.h"
#include "engine/rf/head_features.h"
#include "engine/rf/statistics.h"
#include "favor/attention.hpp"

namespace favor {

struct HybridAttentionOptions {
  AttentionHeads heads;             // Its scale is the model's: the features follow it.
  int64_t layer = 0;                // Seeds the projections of this layer's heads.
  int64_t window = kDefaultWindow;  // W
  // Per key/value head windows (a plan from calibration, rf/hybrid_plan.h), overriding `window`;
  // rf::kExactHead keeps that head fully exact (its window is the whole context: its memory
  // grows like a KV cache). Empty: every head takes `window`.
  std::vector<int64_t> head_windows;
  // Per key/value head random features M of the tail (a plan's), overriding features.features;
  // 0: no tail for that head (window-only). Empty: every head takes features.features.
  std::vector<int64_t> head_features;
  int64_t sinks = kDefaultSinks;    // S
  bool random_feature_tail = true;  // False: tokens that left the window are dropped.
  rf::FeatureOptions features;
  int64_t chunk = kDefaultChunk;
  std::vector<rf::PairStatistics> calibration;  // Per key/value head (not for PosRF or no tail).
  // No calibration: each sequence's first S + W positions give the features (above).
  bool sequence_statistics = false;
};

class HybridAttentionOp final : public AttentionOpBase {
 public:
  static absl::StatusOr<std::shared_ptr<HybridAttentionOp>> Create(HybridAttentionOptions options);
  const HybridAttentionOptions& options() const { return options_; }

  absl::string_view type() const override { return "HybridAttention"; }
  std::string Attributes() const override;
  int64_t WorkspaceBytes(std::span<const TensorSpec> inputs) const override;
  absl::StatusOr<std::unique_ptr<OpState>> CreateState(const StateOptions& options) const override;
  int64_t StateBytes(const StateOptions& options) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  explicit HybridAttentionOp(HybridAttentionOptions options)
      : AttentionOpBase(options.heads), options_(std::move(options)) {}
  int64_t ScratchFloatsPerHead(int64_t chunk) const;
  int64_t WindowOf(int64_t kv_head) const;    // kExactHead for a fully exact head.
  int64_t FeaturesOf(int64_t kv_head) const;  // 0: no random-feature tail.
  int64_t MaxFeatures() const;
  bool NeedsSequenceStatistics() const;

  HybridAttentionOptions options_;
  std::vector<std::shared_ptr<const rf::HeadFeatures>> features_;  // Per kv head (tail only).
};

}  // namespace favor
