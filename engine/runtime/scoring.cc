#include "engine/runtime/scoring.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::runtime {
namespace {

// log_softmax in double: a 32000-way sum in float loses the small probabilities that KL weighs.
void LogSoftmax(std::span<const float> logits, float* out) {
  double max = -INFINITY;
  for (float x : logits) max = std::max(max, static_cast<double>(x));
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  const double log_norm = max + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) {
    out[i] = static_cast<float>(static_cast<double>(logits[i]) - log_norm);
  }
}

int64_t ArgMax(std::span<const float> row) {
  return std::max_element(row.begin(), row.end()) - row.begin();
}

}  // namespace

absl::StatusOr<NextTokenDistributions> ScoreTokens(Session& session,
                                                   std::span<const int32_t> tokens) {
  NextTokenDistributions result;
  result.positions = static_cast<int64_t>(tokens.size());
  result.vocab = session.vocab_size();
  result.log_probs.resize(static_cast<size_t>(result.positions * result.vocab));
  const int64_t batch = session.executor().max_seq_len();
  for (int64_t start = 0; start < result.positions; start += batch) {
    const int64_t count = std::min(batch, result.positions - start);
    FAVOR_ASSIGN_OR_RETURN(
        const std::span<const float> logits,
        session.Feed(tokens.subspan(static_cast<size_t>(start), static_cast<size_t>(count))));
    if (static_cast<int64_t>(logits.size()) != count * result.vocab) {
      return absl::FailedPreconditionError(
          "scoring needs the logits of every position: use a Logits::kAllPositions variant");
    }
    for (int64_t t = 0; t < count; ++t) {
      LogSoftmax(
          logits.subspan(static_cast<size_t>(t * result.vocab), static_cast<size_t>(result.vocab)),
          result.log_probs.data() + (start + t) * result.vocab);
    }
  }
  return result;
}

double MeanNegativeLogLikelihood(const NextTokenDistributions& distributions,
                                 std::span<const int32_t> tokens, int64_t first) {
  double total = 0;
  int64_t count = 0;
  for (int64_t i = std::max<int64_t>(first, 0); i + 1 < distributions.positions; ++i) {
    total -= distributions.row(i)[static_cast<size_t>(tokens[static_cast<size_t>(i + 1)])];
    ++count;
  }
  return count > 0 ? total / static_cast<double>(count) : 0.0;
}

double Mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

absl::StatusOr<DistributionComparison> CompareDistributions(const NextTokenDistributions& reference,
                                                            const NextTokenDistributions& other,
                                                            int64_t first) {
  if (reference.positions != other.positions || reference.vocab != other.vocab) {
    return absl::InvalidArgumentError(absl::StrCat("cannot compare distributions of ",
                                                   reference.positions, "x", reference.vocab,
                                                   " with ", other.positions, "x", other.vocab));
  }
  DistributionComparison result;
  first = std::clamp<int64_t>(first, 0, reference.positions);
  if (reference.positions == first) return result;
  int64_t agree = 0;
  for (int64_t i = first; i < reference.positions; ++i) {
    const auto p = reference.row(i), q = other.row(i);
    double kl = 0;
    for (size_t v = 0; v < p.size(); ++v) {
      const double log_p = p[v];
      kl += std::exp(log_p) * (log_p - static_cast<double>(q[v]));
    }
    result.kl.push_back(std::max(kl, 0.0));  // Rounding can make a near-zero KL negative.
    agree += ArgMax(p) == ArgMax(q) ? 1 : 0;
  }
  result.mean_kl = Mean(result.kl);
  result.p99_kl = Percentile(result.kl, 0.99);
  result.top1_matches = agree;
  result.top1_agreement =
      static_cast<double>(agree) / static_cast<double>(reference.positions - first);
  return result;
}

}  // namespace favor::runtime
