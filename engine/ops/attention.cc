#include "engine/ops/attention.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/kv_cache.h"

namespace favor {

absl::StatusOr<std::shared_ptr<AttentionOp>> AttentionOp::Create(
    const AttentionOptions& options, const ExactAttentionTraits& traits) {
  FAVOR_RETURN_IF_ERROR(options.Validate("Attention"));
  if (traits.window < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Attention: the sliding window must be positive, got ", traits.window));
  }
  if (!std::isfinite(traits.soft_cap) || traits.soft_cap < 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Attention: the score soft-cap must be positive and finite, got ", traits.soft_cap));
  }
  return std::shared_ptr<AttentionOp>(new AttentionOp(options, traits));
}

std::string AttentionOp::Attributes() const {
  std::string attributes = heads().Attributes() + " causal";
  if (traits_.window > 0) absl::StrAppend(&attributes, " window=", traits_.window);
  if (traits_.soft_cap > 0.0f) absl::StrAppend(&attributes, " soft_cap=", traits_.soft_cap);
  return attributes;
}

absl::StatusOr<std::unique_ptr<OpState>> AttentionOp::CreateState(
    const StateOptions& options) const {
  FAVOR_ASSIGN_OR_RETURN(
      auto cache, KvCache::Create(heads().n_kv_heads, heads().head_dim, options.max_context));
  return std::unique_ptr<OpState>(std::move(cache));
}

int64_t AttentionOp::StateBytes(const StateOptions& options) const {
  return KvCache::BytesFor(heads().n_kv_heads, heads().head_dim, options.max_context);
}

absl::Status AttentionOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                              std::span<Tensor> outputs, OpState* state) const {
  FAVOR_ASSIGN_OR_RETURN(KvCache* const cache, StateAs<KvCache>(state));
  const int64_t tokens = inputs[0].dim(0);
  FAVOR_RETURN_IF_ERROR(CheckContinues(cache->length(), ctx.start_pos));
  if (tokens > cache->max_context() - cache->length()) {
    return absl::OutOfRangeError(absl::StrCat("context full: ", cache->length(), " + ", tokens,
                                              " tokens exceed the context of ",
                                              cache->max_context()));
  }
  const int64_t start = cache->length();
  cache->Append(inputs[1].data<float>(), inputs[2].data<float>(), tokens);

  const int64_t head_dim = heads().head_dim;
  const int64_t n_heads = heads().n_heads;
  const int64_t group = n_heads / heads().n_kv_heads;
  const float scale = heads().Scale();
  const float* q = inputs[0].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const int64_t window = traits_.window;
  const float soft_cap = traits_.soft_cap;
  const int64_t q_stride = n_heads * head_dim;
  if (tokens == 1) {
    const auto attention_row = ctx.kernels->attention_row;
    ParallelFor(n_heads, ctx.threads, 1, [&](int64_t h) {
      const int64_t end = start + 1;  // Keys [first, end) are visible.
      const int64_t first = window > 0 && end > window ? end - window : 0;
      const int64_t g = h / group;
      attention_row(q + h * head_dim, cache->keys(g) + first * head_dim,
                    cache->values(g) + first * head_dim, end - first, head_dim, scale, soft_cap,
                    out + h * head_dim, nullptr);
    });
    return absl::OkStatus();
  }
  // Prefill: tiles of consecutive queries of one head, each reading a block of keys and values
  // once for all its rows; heads outermost so that neighbouring items share one head's cache.
  const auto attention_tile = ctx.kernels->attention_tile;
  constexpr int64_t kTile = kernels::kAttentionTileRows;
  const int64_t tiles = (tokens + kTile - 1) / kTile;
  ParallelFor(
      n_heads * tiles, ctx.threads, 1,
      [&](int64_t item) {
        const int64_t h = item / tiles, tile = item % tiles;
        const int64_t first_row = tile * kTile, rows = std::min(kTile, tokens - first_row);
        const int64_t g = h / group;
        const int64_t offset = first_row * q_stride + h * head_dim;
        attention_tile(q + offset, q_stride, rows, start + first_row, cache->keys(g),
                       cache->values(g), head_dim, scale, soft_cap, window, out + offset, q_stride);
      },
      Schedule::kDynamic);
  return absl::OkStatus();
}

}  // namespace favor
