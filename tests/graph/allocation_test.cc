// Proves the executor's promise: once warmed up, a run performs no heap allocation.
//
// This binary replaces malloc and friends (forwarding to glibc) to count every allocation made by
// any code in the process, including libstdc++'s operator new and OpenMP's runtime. Allocations
// made inside oneDNN calls (ExternalCallScope, see engine/core/external_call.h) are counted apart:
// oneDNN 2.x builds a small argument map on every primitive execute, which the engine cannot avoid.
#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "engine/core/external_call.h"
#include "engine/graph/pass.h"
#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/embedding.h"
#include "engine/ops/favor_attention.h"
#include "engine/ops/rms_norm.h"
#include "engine/ops/rope.h"
#include "engine/ops/softmax.h"
#include "tests/test_util.h"

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* pointer);
}

namespace {

// Test instrumentation: process-wide by nature (malloc is).
std::atomic<bool> g_counting{false};
std::atomic<long> g_engine_allocations{0};
std::atomic<long> g_external_allocations{0};

void Count() {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  if (favor::InExternalCall()) {
    g_external_allocations.fetch_add(1, std::memory_order_relaxed);
  } else {
    g_engine_allocations.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

extern "C" {
void* malloc(size_t size) {
  Count();
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) {
  Count();
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) {
  Count();
  return __libc_realloc(pointer, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
void* memalign(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) {
  Count();
  *out = __libc_memalign(alignment, size);
  return *out == nullptr ? ENOMEM : 0;
}
void free(void* pointer) { __libc_free(pointer); }
}

namespace favor {
namespace {

using testing::TokenIds;

struct Counts {
  long engine, external;
};

template <typename Fn>
Counts CountAllocations(Fn&& fn) {
  g_engine_allocations = 0;
  g_external_allocations = 0;
  g_counting = true;
  fn();
  g_counting = false;
  return {g_engine_allocations.load(), g_external_allocations.load()};
}

void* volatile g_sink = nullptr;  // Keeps the compiler from eliding the test's allocations.

TEST(Allocations, CounterSeesAllocations) {
  const Counts counts = CountAllocations([] {
    g_sink = std::malloc(16);
    std::free(g_sink);
    g_sink = new int(3);
    delete static_cast<int*>(g_sink);
  });
  EXPECT_EQ(counts.engine, 2);
}

TEST(Allocations, WarmDecodeAndPrefillOfAFullDecoderAllocateNothingOfTheirOwn) {
  auto graph = testing::BuildTinyTransformer({.dim = 64, .heads = 8, .kv_heads = 4, .layers = 2});
  FuseSwiGluPass fuse;
  const GraphPass* passes[] = {&fuse};
  ASSERT_TRUE(RunPasses(*graph, passes).ok());
  for (int threads : {1, 2}) {
    auto executor = Executor::Create(graph, {.max_seq_len = 16, .threads = threads}).value();
    auto state = executor->CreateState({.max_context = 128}).value();
    const Tensor prompt = TokenIds({5, 6, 7, 8, 9});
    const Tensor next = TokenIds({10});
    // Warm-up: primitives for T = 5 and T = 1, OpenMP's thread pool.
    for (int i = 0; i < 3; ++i) {
      state->Reset();
      ASSERT_TRUE(executor->Run({prompt}, *state).ok());
      ASSERT_TRUE(executor->Run({next}, *state).ok());
    }
    const Counts decode = CountAllocations([&] {
      for (int i = 0; i < 20; ++i) ASSERT_TRUE(executor->Run({next}, *state).ok());
    });
    EXPECT_EQ(decode.engine, 0) << "threads=" << threads;
    const Counts prefill = CountAllocations([&] {
      state->Reset();
      ASSERT_TRUE(executor->Run({prompt}, *state).ok());
    });
    EXPECT_EQ(prefill.engine, 0) << "threads=" << threads;
    std::printf(
        "threads=%d: 20 decode steps: %ld engine allocations, %ld inside oneDNN "
        "(%d matmuls per step)\n",
        threads, decode.engine, decode.external, 2 * 7 + 1);
  }
}

TEST(Allocations, WarmFavorAttentionDecodeAndPrefillAllocateNothing) {
  // FAVOR# attention with calibrated statistics: features are fixed at construction, so a warm
  // run only touches the state and the planned workspace.
  FavorAttentionOptions o;
  o.heads.n_heads = 4;
  o.heads.n_kv_heads = 2;
  o.heads.head_dim = 16;
  o.features = {.kind = rf::RfKind::kSaderf, .features = 64};
  o.source = FavorStatsSource::kCalibrated;
  const Tensor sample = testing::RandomTensor(Shape{32, 16}, 3);
  for (int g = 0; g < 2; ++g) {
    rf::PairStatistics stats(16);
    for (int t = 0; t < 32; ++t) {
      stats.AddQuery(sample.data<float>() + t * 16);
      stats.AddKey(sample.data<float>() + ((t + 5) % 32) * 16);
    }
    o.calibration.push_back(stats);
  }
  auto graph = std::make_shared<Graph>();
  const ValueId q = graph->AddInput("q", {DType::kF32, Shape{kSeqLen, 64}}).value();
  const ValueId kv = graph->AddInput("kv", {DType::kF32, Shape{kSeqLen, 32}}).value();
  ASSERT_TRUE(graph
                  ->MarkOutput(
                      graph->Add("favor", FavorAttentionOp::Create(o).value(), {q, kv, kv}).value())
                  .ok());
  auto executor = Executor::Create(graph, {.max_seq_len = 80, .threads = 2}).value();
  auto state = executor->CreateState({.max_context = 1024}).value();
  const Tensor prompt_q = testing::RandomTensor(Shape{70, 64}, 4),
               prompt_kv = testing::RandomTensor(Shape{70, 32}, 5);
  const Tensor next_q = prompt_q.Slice(0, 1).value(), next_kv = prompt_kv.Slice(0, 1).value();
  ASSERT_TRUE(executor->Run({prompt_q, prompt_kv}, *state).ok());
  ASSERT_TRUE(executor->Run({next_q, next_kv}, *state).ok());
  const Counts counts = CountAllocations([&] {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(executor->Run({next_q, next_kv}, *state).ok());
    state->Reset();
    ASSERT_TRUE(executor->Run({prompt_q, prompt_kv}, *state).ok());
  });
  EXPECT_EQ(counts.engine, 0);
  EXPECT_EQ(counts.external, 0);
}

TEST(Allocations, AGraphWithoutOneDnnAllocatesNothingAtAll) {
  auto graph = std::make_shared<Graph>();
  Graph& g = *graph;
  const ValueId ids = g.AddInput("ids", {DType::kI32, Shape{kSeqLen}}).value();
  const ValueId table = g.AddConstant("table", testing::RandomTensor(Shape{50, 32}, 1)).value();
  const ValueId weight = g.AddConstant("w", testing::RandomTensor(Shape{32}, 2)).value();
  const ValueId x = g.Add("embed", std::make_shared<EmbeddingOp>(), {table, ids}).value();
  const ValueId n = g.Add("norm", std::make_shared<RmsNormOp>(1e-5f), {x, weight}).value();
  const ValueId q =
      g.Add("rope", RopeOp::Create({.n_heads = 4, .head_dim = 8}).value(), {n}).value();
  auto attention = AttentionOp::Create({.n_heads = 4, .n_kv_heads = 2, .head_dim = 8}).value();
  const ValueId kv = g.Add("kv", std::make_shared<SoftmaxOp>(), {x}).value();
  // k and v: the first 16 columns of a softmax row would need a slice op; use a second table.
  const ValueId table_kv =
      g.AddConstant("table_kv", testing::RandomTensor(Shape{50, 16}, 3)).value();
  const ValueId k = g.Add("embed_kv", std::make_shared<EmbeddingOp>(), {table_kv, ids}).value();
  const ValueId a = g.Add("attention", attention, {q, k, k}).value();
  const ValueId y =
      g.Add("residual", std::make_shared<ElementwiseOp>(ElementwiseKind::kAdd), {a, kv}).value();
  ASSERT_TRUE(g.MarkOutput(y).ok());
  auto executor = Executor::Create(graph, {.max_seq_len = 8, .threads = 2}).value();
  auto state = executor->CreateState({.max_context = 64}).value();
  const Tensor prompt = TokenIds({1, 2, 3, 4, 5, 6, 7});
  const Tensor next = TokenIds({8});
  ASSERT_TRUE(executor->Run({prompt}, *state).ok());
  ASSERT_TRUE(executor->Run({next}, *state).ok());
  const Counts counts = CountAllocations([&] {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(executor->Run({next}, *state).ok());
    state->Reset();
    ASSERT_TRUE(executor->Run({prompt}, *state).ok());
  });
  EXPECT_EQ(counts.engine, 0);
  EXPECT_EQ(counts.external, 0);
}

}  // namespace
}  // namespace favor
