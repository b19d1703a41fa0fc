// Samplers, tested statistically with fixed seeds.
#include "engine/text/sampler.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "gtest/gtest.h"

namespace favor::text {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 2.9f};

SamplerOptions Plain(uint64_t seed) {
  return {.temperature = 1.0f,
          .top_k = 0,
          .top_p = 1.0f,
          .min_p = 0.0f,
          .repeat_penalty = 1.0f,
          .repeat_last_n = 64,
          .seed = seed};
}

std::map<int32_t, int> Histogram(const SamplerOptions& options, int draws) {
  Sampler sampler(options);
  std::map<int32_t, int> counts;
  for (int i = 0; i < draws; ++i) ++counts[sampler.Sample(kLogits, {})];
  return counts;
}

TEST(Sampler, GreedyPicksTheArgmax) {
  Sampler sampler({.temperature = 0.0f});
  EXPECT_EQ(sampler.Sample(kLogits, {}), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  Sampler a(Plain(11)), b(Plain(11)), c(Plain(12));
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.Sample(kLogits, {}));
    tb.push_back(b.Sample(kLogits, {}));
    tc.push_back(c.Sample(kLogits, {}));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(Sampler, TemperatureOneDrawsFromTheSoftmax) {
  const int draws = 200000;
  const auto counts = Histogram(Plain(1), draws);
  double total = 0.0;
  for (float l : kLogits) total += std::exp(double{l});
  for (size_t i = 0; i < kLogits.size(); ++i) {
    const double p = std::exp(double{kLogits[i]}) / total;
    const double expected = p * draws;
    const double sigma = std::sqrt(draws * p * (1 - p));
    const int got = counts.count(static_cast<int32_t>(i)) ? counts.at(static_cast<int32_t>(i)) : 0;
    EXPECT_NEAR(got, expected, 5 * sigma) << "token " << i;  // 5 sigma: stable for a fixed seed.
  }
}

TEST(Sampler, LowTemperatureSharpens) {
  SamplerOptions cold = Plain(2);
  cold.temperature = 0.1f;
  const auto counts = Histogram(cold, 10000);
  EXPECT_GT(counts.at(1), 7000);  // exp(10 * 0.1) = 2.7x more likely than token 5 alone.
}

TEST(Sampler, TopKTopPAndMinPCut) {
  SamplerOptions k2 = Plain(3);
  k2.top_k = 2;
  for (const auto& [token, count] : Histogram(k2, 5000))
    EXPECT_TRUE(token == 1 || token == 5) << token;
  // Probabilities: 3.0 -> 0.35, 2.9 -> 0.32, 2.5 -> 0.21, 1.0 -> 0.05, 0.0 -> 0.02, -1 -> 0.006.
  SamplerOptions p = Plain(4);
  p.top_p = 0.6f;  // 0.35 + 0.32 >= 0.6: two tokens.
  for (const auto& [token, count] : Histogram(p, 5000))
    EXPECT_TRUE(token == 1 || token == 5) << token;
  SamplerOptions m = Plain(5);
  m.min_p = 0.5f;  // Keeps tokens with p >= 0.5 * p(max): 3.0, 2.9, 2.5.
  const auto counts = Histogram(m, 5000);
  for (const auto& [token, count] : counts)
    EXPECT_TRUE(token == 1 || token == 5 || token == 2) << token;
  EXPECT_EQ(counts.size(), 3u);
  SamplerOptions one = Plain(6);
  one.top_k = 1;
  EXPECT_EQ(Histogram(one, 100).size(), 1u);
}

// Draws `draws` tokens and checks each token's frequency against exp(logit / T) renormalised over
// `kept` (zero elsewhere), within 5 sigma of the binomial count: what a cut must leave is not only
// which tokens can appear but how often.
void ExpectFrequencies(const SamplerOptions& options, const std::vector<float>& logits,
                       const std::vector<int32_t>& history, const std::vector<int32_t>& kept,
                       const std::vector<float>& adjusted_logits) {
  constexpr int kDraws = 100000;
  Sampler sampler(options);
  std::map<int32_t, int> counts;
  for (int i = 0; i < kDraws; ++i) ++counts[sampler.Sample(logits, history)];
  double total = 0;
  for (int32_t id : kept) total += std::exp(double{adjusted_logits[id]} / options.temperature);
  for (int32_t id = 0; id < static_cast<int32_t>(logits.size()); ++id) {
    const bool is_kept = std::find(kept.begin(), kept.end(), id) != kept.end();
    const double p =
        is_kept ? std::exp(double{adjusted_logits[id]} / options.temperature) / total : 0.0;
    const int got = counts.count(id) ? counts.at(id) : 0;
    if (!is_kept) {
      EXPECT_EQ(got, 0) << "token " << id << " was cut";
      continue;
    }
    const double sigma = std::sqrt(kDraws * p * (1 - p));
    EXPECT_NEAR(got, kDraws * p, 5 * sigma + 1) << "token " << id << ", p " << p;
  }
}

// Probabilities at temperature 1 (the cuts' reference, as llama.cpp): 3.0 -> 0.35, 2.9 -> 0.32,
// 2.5 -> 0.21, 1.0 -> 0.05, 0.0 -> 0.017, -1 -> 0.006.
TEST(Sampler, CutsKeepTheRightTokensAtTheRightFrequenciesAtAnyTemperature) {
  SamplerOptions top_k = Plain(21);
  top_k.top_k = 3;
  top_k.temperature = 0.7f;
  ExpectFrequencies(top_k, kLogits, {}, {1, 5, 2}, kLogits);

  SamplerOptions top_p = Plain(22);
  top_p.top_p = 0.6f;  // 0.35 + 0.32 >= 0.6.
  top_p.temperature = 1.5f;
  ExpectFrequencies(top_p, kLogits, {}, {1, 5}, kLogits);
  // Cuts made at T = 0.5 instead would keep two tokens here (0.45 + 0.37 >= 0.75) and cut 2.5
  // below (e^-1 < 0.5): the cuts come before the temperature.
  top_p.top_p = 0.75f;  // 0.368 + 0.333 < 0.75 <= 0.925 (with 2.5).
  top_p.temperature = 0.5f;
  ExpectFrequencies(top_p, kLogits, {}, {1, 5, 2}, kLogits);

  SamplerOptions min_p = Plain(23);
  min_p.min_p = 0.5f;  // p >= 0.5 p(max): 3.0, 2.9, 2.5.
  min_p.temperature = 2.0f;
  ExpectFrequencies(min_p, kLogits, {}, {1, 5, 2}, kLogits);
  min_p.temperature = 0.5f;
  ExpectFrequencies(min_p, kLogits, {}, {1, 5, 2}, kLogits);

  // All three: top-k 4 leaves 3.0, 2.9, 2.5, 1.0 (renormalised: 0.376, 0.344, 0.226, 0.054);
  // top-p 0.9 stops at 2.5 (0.946); min-p 0.1 keeps it (0.226 >= 0.0376). Then T = 0.5.
  SamplerOptions all = Plain(24);
  all.top_k = 4;
  all.top_p = 0.9f;
  all.min_p = 0.1f;
  all.temperature = 0.5f;
  ExpectFrequencies(all, kLogits, {}, {1, 5, 2}, kLogits);
}

// The penalty divides positive logits and multiplies negative ones (a negative logit divided
// would be promoted); the draw then follows the penalised distribution.
TEST(Sampler, RepetitionPenaltyOnNegativeLogitsDemotesToo) {
  const std::vector<float> negative = {-0.5f, -0.6f, -3.0f};
  Sampler greedy({.temperature = 0.0f, .repeat_penalty = 1.5f, .repeat_last_n = 8});
  const std::vector<int32_t> recent = {0};
  EXPECT_EQ(greedy.Sample(negative, recent), 1);  // -0.5 x 1.5 = -0.75 < -0.6.
  SamplerOptions sampled = Plain(25);
  sampled.repeat_penalty = 1.5f;
  ExpectFrequencies(sampled, negative, recent, {0, 1, 2}, {-0.75f, -0.6f, -3.0f});
  SamplerOptions mixed = Plain(26);
  mixed.repeat_penalty = 2.0f;
  mixed.temperature = 0.8f;
  const std::vector<int32_t> both = {1, 3};  // 3.0 -> 1.5, -1.0 -> -2.0.
  ExpectFrequencies(mixed, kLogits, both, {0, 1, 2, 3, 4, 5},
                    {1.0f, 1.5f, 2.5f, -2.0f, 0.0f, 2.9f});
}

TEST(Sampler, RepetitionPenaltyDemotesRecentTokens) {
  SamplerOptions greedy{.temperature = 0.0f, .repeat_penalty = 1.5f, .repeat_last_n = 2};
  Sampler sampler(greedy);
  const std::vector<int32_t> history = {1};
  EXPECT_EQ(sampler.Sample(kLogits, history), 5);  // 3.0 / 1.5 = 2 < 2.9.
  const std::vector<int32_t> old = {1, 0, 4};      // Token 1 is outside the last 2.
  EXPECT_EQ(sampler.Sample(kLogits, old), 1);
}

TEST(Sampler, OptionsAreValidated) {
  EXPECT_FALSE((SamplerOptions{.temperature = -1.0f}).Validate().ok());
  EXPECT_FALSE((SamplerOptions{.top_p = 0.0f}).Validate().ok());
  EXPECT_FALSE((SamplerOptions{.top_p = 1.01f}).Validate().ok());
  EXPECT_FALSE((SamplerOptions{.min_p = 2.0f}).Validate().ok());
  EXPECT_FALSE((SamplerOptions{.repeat_penalty = 0.0f}).Validate().ok());
  EXPECT_TRUE(SamplerOptions{}.Validate().ok());
}

}  // namespace
}  // namespace favor::text
