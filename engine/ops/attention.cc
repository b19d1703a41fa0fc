#include "engine/ops/attention.h"

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
  const auto attention_row = ctx.kernels->attention_row;
  const int64_t window = traits_.window;
  const float soft_cap = traits_.soft_cap;
  ParallelFor(
      n_heads * tokens, ctx.threads, 1,
      [&](int64_t item) {
        const int64_t t = item / n_heads;
        const int64_t h = item % n_heads;
        const int64_t g = h / group;
        const int64_t offset = t * n_heads * head_dim + h * head_dim;
        const int64_t end = start + t + 1;  // Keys [first, end) are visible to this query.
        const int64_t first = window > 0 && end > window ? end - window : 0;
        attention_row(q + offset, cache->keys(g) + first * head_dim,
                      cache->values(g) + first * head_dim, end - first, head_dim, scale, soft_cap,
                      out + offset, nullptr);
      },
      Schedule::kDynamic);
  return absl::OkStatus();
}

}  // namespace favor
