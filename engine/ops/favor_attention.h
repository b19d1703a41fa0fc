// Random-feature (FAVOR) attention: softmax attention with exp(q.k / sqrt(d)) replaced by
// phi(q) . psi(k) for positive random features (engine/rf), in time linear in the sequence and
// with a per-head state of constant size.
//
// Causal attention keeps, per key/value head, S = sum_j psi_j v_j^T (M x d_v), z = sum_j psi_j (M)
// and per feature a running log-scale c_m (its largest key log-feature so far): row m of S and z
// holds the sums scaled by exp(-c_m). Prefill works in chunks of C tokens: the carried state serves
// the chunk's queries, a masked C x C product covers the pairs inside the chunk, then the chunk's
// keys join the state. Decode is a chunk of one token: constant time and memory at any position.
//
// Numerics (RANDOM_FEATURES.md section 8, and feature_tail.h): every exponent is taken in log
// space with log D folded into the per-feature bias; the state keeps a running key scale per
// feature, each query is scaled by its largest feature term, and keys arrive in sub-chunks whose
// scales grow by a bounded amount, so that nothing that matters leaves float's range even where
// log-features reach hundreds of nats (real models). The output at position t does not depend on
// later tokens beyond rounding. State in fp32.
//
// The feature parameters come from query/key statistics: `calibrated` (given at construction:
// gathered with exact attention on calibration text; strictly causal), or `prompt` (from the
// first run's queries and keys, i.e. the prompt, then frozen for the sequence). PosRF needs none.
// Grouped-query attention pools the statistics of the query heads sharing a key/value head.
#pragma once

#include <memory>
#include <vector>

#include "engine/ops/attention_op.h"
#include "engine/rf/head_features.h"
#include "engine/rf/statistics.h"
#include "favor/attention.hpp"

namespace favor {

// kPrompt: the first run's (the prompt's) queries and keys, frozen for the sequence.
// kCalibrated: statistics given at construction. kSequence: every run's own queries and keys, for
// bidirectional (encoder) use only, where the whole input is known before any output.
// kCausal: hybrid attention only: the sequence's positions before its first key leaves the exact
// window (HybridAttentionOp), so no query's features depend on its future.
enum class FavorStatsSource { kPrompt, kCalibrated, kSequence, kCausal };

struct FavorAttentionOptions {
  AttentionHeads heads;  // Its scale is the model's: the features follow it.
  int64_t layer = 0;     // Seeds the projections of this layer's heads.
  rf::FeatureOptions features;
  int64_t chunk = kDefaultChunk;
  bool causal = true;  // False: bidirectional, each run attends over its own tokens only.
  FavorStatsSource source = FavorStatsSource::kPrompt;
  std::vector<rf::PairStatistics> calibration;  // Per key/value head, for kCalibrated.
};

class FavorAttentionOp final : public AttentionOpBase {
 public:
  static absl::StatusOr<std::shared_ptr<FavorAttentionOp>> Create(FavorAttentionOptions options);
  const FavorAttentionOptions& options() const { return options_; }
  // Fixed features (calibrated statistics or PosRF); empty when they come from the prompt.
  const std::vector<std::shared_ptr<const rf::HeadFeatures>>& fixed_features() const {
    return fixed_features_;
  }

  absl::string_view type() const override { return "FavorAttention"; }
  std::string Attributes() const override;
  int64_t WorkspaceBytes(std::span<const TensorSpec> inputs) const override;
  absl::StatusOr<std::unique_ptr<OpState>> CreateState(const StateOptions& options) const override;
  int64_t StateBytes(const StateOptions& options) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  explicit FavorAttentionOp(FavorAttentionOptions options)
      : AttentionOpBase(options.heads), options_(std::move(options)) {}
  absl::Status FeaturesFromRun(const Tensor& q, const Tensor& k,
                               std::vector<std::shared_ptr<const rf::HeadFeatures>>& out) const;
  int64_t ScratchFloatsPerHead(int64_t chunk) const;

  FavorAttentionOptions options_;
  std::vector<std::shared_ptr<const rf::HeadFeatures>> fixed_features_;
};

}  // namespace favor
