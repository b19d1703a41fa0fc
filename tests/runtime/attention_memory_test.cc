// State in one unit: what each attention op keeps, in bytes and tokens of KV cache, and the
// window-only window that the same bytes buy.
#include "engine/runtime/attention_memory.h"

#include "engine/ops/attention.h"
#include "engine/ops/favor_attention.h"
#include "engine/ops/hybrid_attention.h"
#include "gtest/gtest.h"
#include "tests/ops/attention_inputs.h"

namespace favor::runtime {
namespace {

using testing::AttentionGraph;
using testing::Shape4;

constexpr Shape4 kShape{6, 2, 8};

HybridAttentionOptions Hybrid(int64_t window, int64_t sinks, int64_t features) {
  HybridAttentionOptions o;
  o.heads = {.n_heads = kShape.heads, .n_kv_heads = kShape.kv_heads, .head_dim = kShape.dim};
  o.window = window;
  o.sinks = sinks;
  o.random_feature_tail = features > 0;
  o.features = {.kind = rf::RfKind::kPos, .features = features};
  return o;
}

int64_t WindowOnlyBytes(int64_t window, int64_t sinks, int64_t context) {
  return HybridAttentionOp::Create(Hybrid(window, sinks, 0)).value()->StateBytes({context});
}

TEST(AttentionMemory, ExactIsItsKvCacheAndOneTokenIsKeysAndValues) {
  auto exact = AttentionOp::Create({.n_heads = 6, .n_kv_heads = 2, .head_dim = 8}).value();
  const auto graph = AttentionGraph(exact, kShape);
  const AttentionMemory memory = MeasureAttentionMemory(*graph, 300, false);
  EXPECT_EQ(memory.layers, 1);
  EXPECT_EQ(memory.kv_token_bytes, 2 * 2 * 8 * 4);
  EXPECT_EQ(memory.state_bytes, 300 * memory.kv_token_bytes);
  EXPECT_DOUBLE_EQ(memory.KvTokens(), 300.0);
  // Left out when only the approximate ops count.
  EXPECT_EQ(MeasureAttentionMemory(*graph, 300, true).layers, 0);
}

TEST(AttentionMemory, HybridStateIsConstantInTheContext) {
  auto op = HybridAttentionOp::Create(Hybrid(16, 4, 32)).value();
  const auto graph = AttentionGraph(op, kShape);
  const AttentionMemory at_512 = MeasureAttentionMemory(*graph, 512, true);
  EXPECT_EQ(at_512.state_bytes, op->StateBytes({512}));
  EXPECT_EQ(at_512.state_bytes, MeasureAttentionMemory(*graph, 100000, true).state_bytes);
  // Per kv head: 20 rows of keys and values and their scores, M x (d + 2) of tail state.
  EXPECT_EQ(at_512.state_bytes, 2 * (20 * 17 + 32 * 10) * 4);
  EXPECT_NEAR(at_512.KvTokens(), (20 * 17 + 32 * 10) / 16.0, 1e-9);
}

TEST(AttentionMemory, TheWindowAtEqualBytesIsTheLongestThatFits) {
  for (const auto& [window, features] :
       {std::pair<int64_t, int64_t>{16, 32}, {0, 64}, {64, 8}, {5, 2}}) {
    auto op = HybridAttentionOp::Create(Hybrid(window, 4, features)).value();
    const auto graph = AttentionGraph(op, kShape);
    const int64_t bytes = op->StateBytes({512});
    const int64_t equal = WindowAtEqualBytes(*graph, 512, true, 4, bytes).value();
    EXPECT_LE(WindowOnlyBytes(equal, 4, 512), bytes) << window << " " << features;
    EXPECT_GT(WindowOnlyBytes(equal + 1, 4, 512), bytes) << window << " " << features;
    EXPECT_GT(equal, window) << "a tail costs more than nothing";
  }
  auto op = HybridAttentionOp::Create(Hybrid(16, 4, 32)).value();
  const auto graph = AttentionGraph(op, kShape);
  EXPECT_EQ(WindowAtEqualBytes(*graph, 512, true, 4, 10).value(), 0) << "nothing fits";
  EXPECT_EQ(WindowAtEqualBytes(*graph, 40, true, 4, int64_t{1} << 40).value(), 40)
      << "at most the context";
}

}  // namespace
}  // namespace favor::runtime
