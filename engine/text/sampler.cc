#include "engine/text/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "absl/strings/str_cat.h"

namespace favor::text {

absl::Status SamplerOptions::Validate() const {
  if (!std::isfinite(temperature) || temperature < 0) {
    return absl::InvalidArgumentError(absl::StrCat("temperature must be >= 0, got ", temperature));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("top-p must be in (0, 1], got ", top_p));
  }
  if (!(min_p >= 0.0f && min_p <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("min-p must be in [0, 1], got ", min_p));
  }
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty)) {
    return absl::InvalidArgumentError(
        absl::StrCat("repeat penalty must be > 0, got ", repeat_penalty));
  }
  if (repeat_last_n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("repeat-last-n must be >= 0, got ", repeat_last_n));
  }
  return absl::OkStatus();
}

Sampler::Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history) {
  const auto n = static_cast<int32_t>(logits.size());
  adjusted_.assign(logits.begin(), logits.end());
  if (options_.repeat_penalty != 1.0f && options_.repeat_last_n > 0) {
    const size_t window = std::min(history.size(), static_cast<size_t>(options_.repeat_last_n));
    std::unordered_set<int32_t> recent(history.end() - static_cast<std::ptrdiff_t>(window),
                                       history.end());
    for (int32_t id : recent) {
      if (id < 0 || id >= n) continue;
      float& logit = adjusted_[static_cast<size_t>(id)];
      logit = logit > 0 ? logit / options_.repeat_penalty : logit * options_.repeat_penalty;
    }
  }
  if (options_.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(adjusted_.begin(), adjusted_.end()) -
                                adjusted_.begin());
  }
  candidates_.clear();
  for (int32_t i = 0; i < n; ++i) candidates_.emplace_back(adjusted_[static_cast<size_t>(i)], i);
  // Sort by logit, descending; ties by id so the order never depends on the sort's stability.
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = candidates_.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < keep) {
    keep = static_cast<size_t>(options_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep),
                      candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  candidates_.resize(keep);
  // Probabilities at temperature 1 for the top-p and min-p cuts, as llama.cpp does.
  const float max_logit = candidates_.front().first;
  std::vector<double> probs(keep);
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i)
    total += (probs[i] = std::exp(double{candidates_[i].first} - max_logit));
  if (options_.top_p < 1.0f) {
    double cumulative = 0.0;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= options_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (options_.min_p > 0.0f) {
    size_t i = 1;
    while (i < keep && probs[i] >= options_.min_p * probs[0]) ++i;
    keep = i;
  }
  // Temperature, then draw.
  double sum = 0.0;
  std::vector<double> weights(keep);
  for (size_t i = 0; i < keep; ++i) {
    sum +=
        (weights[i] = std::exp((double{candidates_[i].first} - max_logit) / options_.temperature));
  }
  std::uniform_real_distribution<double> uniform(0.0, sum);
  double r = uniform(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= weights[i];
    if (r <= 0.0) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace favor::text
