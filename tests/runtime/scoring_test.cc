// Scoring: next-token distributions through a session, perplexity, KL and top-1 comparisons, and
// the depth fill that favor bench uses.
#include "engine/runtime/scoring.h"

#include <cmath>

#include "engine/ops/kv_cache.h"
#include "engine/runtime/model.h"
#include "gtest/gtest.h"
#include "models/synthetic.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

NextTokenDistributions FromProbabilities(const std::vector<std::vector<double>>& rows) {
  NextTokenDistributions d;
  d.positions = static_cast<int64_t>(rows.size());
  d.vocab = static_cast<int64_t>(rows[0].size());
  for (const auto& row : rows) {
    for (double p : row) d.log_probs.push_back(static_cast<float>(std::log(p)));
  }
  return d;
}

TEST(Scoring, KlTopOneAndPerplexityMatchHandComputedValues) {
  const auto p = FromProbabilities({{0.5, 0.25, 0.25}, {0.1, 0.1, 0.8}});
  const auto q = FromProbabilities({{0.25, 0.5, 0.25}, {0.1, 0.1, 0.8}});
  const auto compared = CompareDistributions(p, q).value();
  const double kl0 = 0.5 * std::log(2.0) + 0.25 * std::log(0.5);
  ASSERT_EQ(compared.kl.size(), 2u);
  EXPECT_NEAR(compared.kl[0], kl0, 1e-6);
  EXPECT_NEAR(compared.kl[1], 0.0, 1e-7);
  EXPECT_NEAR(compared.mean_kl, kl0 / 2, 1e-6);
  EXPECT_NEAR(compared.p99_kl, kl0, 1e-6);
  EXPECT_EQ(compared.top1_matches, 1);
  EXPECT_DOUBLE_EQ(compared.top1_agreement, 0.5);
  // Row i is scored on tokens[i + 1]; the last row has no next token.
  EXPECT_NEAR(MeanNegativeLogLikelihood(p, std::vector<int32_t>{0, 2}), -std::log(0.25), 1e-6);
  EXPECT_NEAR(MeanNegativeLogLikelihood(q, std::vector<int32_t>{0, 1}), -std::log(0.5), 1e-6);
  EXPECT_FALSE(CompareDistributions(p, FromProbabilities({{1.0, 0.0}})).ok());
}

TEST(Scoring, PercentileIsNearestRank) {
  std::vector<double> values;
  for (int i = 1; i <= 200; ++i) values.push_back(i);
  EXPECT_EQ(Percentile(values, 0.99), 198);
  EXPECT_EQ(Percentile({3.0}, 0.99), 3);
  EXPECT_EQ(Percentile({}, 0.99), 0);
  EXPECT_DOUBLE_EQ(Mean({1, 2, 3, 6}), 3);
}

ModelVariant TinyModel(bool all_logits, const std::string& attention = "exact") {
  auto file = models::SyntheticModelFile(models::FindSyntheticShape("tiny").value()).value();
  const auto model = Model::FromFile(std::move(file)).value();
  // The variant holds the graph (ops, weights) by itself: the model may go.
  return model
      ->Variant({.kind = ParseAttentionKind(attention).value(), .features = 32},
                all_logits ? Logits::kAllPositions : Logits::kLastPosition)
      .value();
}

TEST(Scoring, ScoresEveryPositionAcrossBatchesLikeOneTokenAtATime) {
  const auto model = TinyModel(true);
  const std::vector<int32_t> tokens = {1, 300, 17, 450, 9, 260, 511, 3, 42, 100, 7};
  auto batched = Session::Create(model, {.context = 64, .max_batch = 4}).value();
  const auto all = ScoreTokens(*batched, tokens).value();
  ASSERT_EQ(all.positions, static_cast<int64_t>(tokens.size()));
  auto single = Session::Create(model, {.context = 64, .max_batch = 1}).value();
  const auto one_by_one = ScoreTokens(*single, tokens).value();
  const auto compared = CompareDistributions(all, one_by_one).value();
  EXPECT_LT(compared.mean_kl, 1e-6);
  EXPECT_EQ(compared.top1_agreement, 1.0);
  for (int64_t i = 0; i < all.positions; ++i) {
    double total = 0;
    for (float lp : all.row(i)) total += std::exp(static_cast<double>(lp));
    EXPECT_NEAR(total, 1.0, 1e-4);
  }
}

TEST(Scoring, RefusesAModelThatKeepsOnlyTheLastLogits) {
  const auto model = TinyModel(false);
  auto session = Session::Create(model, {.context = 64}).value();
  const std::vector<int32_t> tokens = {1, 300, 17};
  const auto scored = ScoreTokens(*session, tokens);
  ASSERT_FALSE(scored.ok());
  EXPECT_NE(scored.status().message().find("kAllPositions"), absl::string_view::npos);
}

TEST(DepthFill, RepeatsThePrefixAndKeepsDecoding) {
  for (const std::string attention : {"exact", "favor#"}) {
    const auto model = TinyModel(false, attention);
    auto session = Session::Create(model, {.context = 1000}).value();
    const std::vector<int32_t> prefix = {1, 300, 17, 450, 9};
    ASSERT_TRUE(session->Feed(prefix).ok());
    EXPECT_FALSE(session->ExtendByRepeating(2000).ok()) << "beyond the context";
    ASSERT_TRUE(session->ExtendByRepeating(900).ok()) << attention;
    EXPECT_EQ(session->position(), 900);
    const int32_t next = 42;
    const auto logits = session->Feed({&next, 1});
    ASSERT_TRUE(logits.ok()) << logits.status();
    for (float v : *logits) ASSERT_TRUE(std::isfinite(v));
    EXPECT_EQ(session->position(), 901);
    session->Reset();
    EXPECT_FALSE(session->ExtendByRepeating(10).ok()) << "an empty sequence has nothing to repeat";
  }
}

TEST(DepthFill, KvCacheRowsRepeatThePrefixInEveryHead) {
  auto cache = KvCache::Create(2, 3, 20).value();
  std::vector<float> k(2 * 2 * 3), v(k.size());
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = static_cast<float>(i);
    v[i] = -static_cast<float>(i);
  }
  cache->Append(k.data(), v.data(), 2);
  ASSERT_TRUE(cache->ExtendByRepeating(2, 7).ok());
  EXPECT_EQ(cache->length(), 7);
  for (int64_t head = 0; head < 2; ++head) {
    for (int64_t t = 0; t < 7; ++t) {
      for (int64_t d = 0; d < 3; ++d) {
        const float expected = static_cast<float>((t % 2) * 6 + head * 3 + d);
        EXPECT_EQ(cache->keys(head)[t * 3 + d], expected);
        EXPECT_EQ(cache->values(head)[t * 3 + d], -expected);
      }
    }
  }
  EXPECT_FALSE(cache->ExtendByRepeating(7, 21).ok());
  EXPECT_FALSE(cache->ExtendByRepeating(6, 8).ok()) << "stale length";
}

}  // namespace
}  // namespace favor::runtime
