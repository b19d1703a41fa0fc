// Scoring a text: the model's next-token distribution at every position, perplexity, and how far
// one model's distributions are from another's (approximate attention against exact).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/runtime/session.h"

namespace favor::runtime {

// Natural-log probabilities of the next token, [positions, vocab] row-major: row i is the
// distribution after tokens[0..i].
struct NextTokenDistributions {
  int64_t positions = 0;
  int64_t vocab = 0;
  std::vector<float> log_probs;

  std::span<const float> row(int64_t position) const {
    return {log_probs.data() + position * vocab, static_cast<size_t>(vocab)};
  }
};

// Feeds `tokens` from the session's current position (a Logits::kAllPositions variant) and
// returns the distributions after each of them.
absl::StatusOr<NextTokenDistributions> ScoreTokens(Session& session,
                                                   std::span<const int32_t> tokens);

// Mean negative log-likelihood (nats) of tokens[i + 1] under row i, over the rows from `first`
// that have a next token (all but the last). Rows before `first` are context only (overlapping
// windows score each token once, as llama-perplexity does).
double MeanNegativeLogLikelihood(const NextTokenDistributions& distributions,
                                 std::span<const int32_t> tokens, int64_t first = 0);

struct DistributionComparison {
  std::vector<double> kl;  // Per position: KL(reference || other), nats.
  double mean_kl = 0;
  double p99_kl = 0;          // 99th percentile of the per-position KL.
  double top1_agreement = 0;  // Share of positions where both rank the same token first.
  int64_t top1_matches = 0;   // Their count.
};

double Mean(const std::vector<double>& values);
// Nearest-rank percentile, q in (0, 1]; 0 for no values.
double Percentile(std::vector<double> values, double q);

// Compares `other` with `reference` position by position (same shapes), from row `first`.
absl::StatusOr<DistributionComparison> CompareDistributions(const NextTokenDistributions& reference,
                                                            const NextTokenDistributions& other,
                                                            int64_t first = 0);

}  // namespace favor::runtime
