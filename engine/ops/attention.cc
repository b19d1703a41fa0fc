#include "engine/ops/attention.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/kv_cache.h"
#include "engine/ops/op_checks.h"

namespace favor {

absl::StatusOr<std::shared_ptr<AttentionOp>> AttentionOp::Create(const AttentionOptions& options) {
  AttentionOptions resolved = options;
  if (options.n_heads <= 0 || options.n_kv_heads <= 0 || options.head_dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Attention: heads, kv heads and head_dim must be positive, got ",
                     options.n_heads, ", ", options.n_kv_heads, ", ", options.head_dim));
  }
  if (options.n_heads % options.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("Attention: ", options.n_heads,
                                                   " query heads are not a multiple of ",
                                                   options.n_kv_heads, " key/value heads"));
  }
  if (options.head_dim > kernels::kMaxHeadDim) {
    return absl::InvalidArgumentError(absl::StrCat("Attention: head_dim ", options.head_dim,
                                                   " exceeds the maximum ", kernels::kMaxHeadDim));
  }
  if (resolved.scale == 0.0f) {
    resolved.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(options.head_dim)));
  }
  return std::shared_ptr<AttentionOp>(new AttentionOp(resolved));
}

std::string AttentionOp::Attributes() const {
  return absl::StrCat("heads=", options_.n_heads, " kv_heads=", options_.n_kv_heads,
                      " head_dim=", options_.head_dim, " scale=", options_.scale, " causal");
}

absl::StatusOr<std::vector<TensorSpec>> AttentionOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  return InferAttentionOutputs(inputs, options_.n_heads, options_.n_kv_heads, options_.head_dim);
}

absl::StatusOr<std::unique_ptr<OpState>> AttentionOp::CreateState(
    const StateOptions& options) const {
  FAVOR_ASSIGN_OR_RETURN(
      auto cache, KvCache::Create(options_.n_kv_heads, options_.head_dim, options.max_context));
  return std::unique_ptr<OpState>(std::move(cache));
}

int64_t AttentionOp::StateBytes(const StateOptions& options) const {
  return KvCache::BytesFor(options_.n_kv_heads, options_.head_dim, options.max_context);
}

absl::Status AttentionOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                              std::span<Tensor> outputs, OpState* state) const {
  auto* cache = dynamic_cast<KvCache*>(state);
  if (cache == nullptr) return absl::FailedPreconditionError("Attention: no KV cache state");
  const int64_t tokens = inputs[0].dim(0);
  if (cache->length() != ctx.start_pos) {
    return absl::FailedPreconditionError(absl::StrCat("Attention: KV cache holds ", cache->length(),
                                                      " tokens but the step starts at position ",
                                                      ctx.start_pos));
  }
  if (tokens > cache->max_context() - cache->length()) {
    return absl::OutOfRangeError(absl::StrCat("context full: ", cache->length(), " + ", tokens,
                                              " tokens exceed the context of ",
                                              cache->max_context()));
  }
  const int64_t start = cache->length();
  cache->Append(inputs[1].data<float>(), inputs[2].data<float>(), tokens);

  const int64_t head_dim = options_.head_dim;
  const int64_t n_heads = options_.n_heads;
  const int64_t group = n_heads / options_.n_kv_heads;
  const float scale = options_.scale;
  const float* q = inputs[0].data<float>();
  float* out = outputs[0].mutable_data<float>();
  const auto attention_row = ctx.kernels->attention_row;
  ParallelFor(
      n_heads * tokens, ctx.threads, 1,
      [&](int64_t item) {
        const int64_t t = item / n_heads;
        const int64_t h = item % n_heads;
        const int64_t g = h / group;
        const int64_t offset = t * n_heads * head_dim + h * head_dim;
        attention_row(q + offset, cache->keys(g), cache->values(g), start + t + 1, head_dim, scale,
                      out + offset);
      },
      Schedule::kDynamic);
  return absl::OkStatus();
}

}  // namespace favor
