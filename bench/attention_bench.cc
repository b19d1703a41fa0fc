// Exact causal attention (stories110M shape: 12 heads of 64, no GQA; and Llama-1B: 32 heads,
// 8 kv heads) at several context depths: decode (one token attending to D cached ones) and
// prefill (T tokens from empty). Decode cost grows linearly with D: this is the curve random
// features flatten.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "engine/core/threading.h"
#include "engine/ops/attention.h"
#include "engine/ops/favor_attention.h"
#include "engine/ops/kv_cache.h"
#include "engine/rf/statistics.h"

namespace favor::bench {
namespace {

// Args: heads, kv_heads, depth D (decode) or T (prefill), threads.
void RunAttention(benchmark::State& state, bool decode) {
  const int64_t heads = state.range(0), kv_heads = state.range(1), length = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const int64_t head_dim = 64;
  auto op =
      AttentionOp::Create({.n_heads = heads, .n_kv_heads = kv_heads, .head_dim = head_dim}).value();
  const int64_t tokens = decode ? 1 : length;
  auto cache_state = op->CreateState({.max_context = length + 1}).value();
  auto* cache = static_cast<KvCache*>(cache_state.get());
  const Tensor q = RandomTensor(Shape{tokens, heads * head_dim}, 1);
  const Tensor kv = RandomTensor(Shape{tokens, kv_heads * head_dim}, 2);
  const Tensor history = RandomTensor(Shape{length, kv_heads * head_dim}, 3);
  Tensor out = Tensor::Allocate(DType::kF32, Shape{tokens, heads * head_dim}).value();
  OpRunner runner(threads, 0);
  ScopedThreadCount scoped(threads);
  const Tensor inputs[3] = {q, kv, kv};
  for (auto _ : state) {
    state.PauseTiming();
    cache->Reset();
    if (decode) cache->Append(history.data<float>(), history.data<float>(), length);
    state.ResumeTiming();
    const absl::Status status =
        op->Run(runner.context(tokens, cache->length()), inputs, {&out, 1}, cache);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
  }
  // Multiply-adds: q.k and p.v over every attended key.
  const double keys = decode ? static_cast<double>(length + 1)
                             : static_cast<double>(length) * static_cast<double>(length + 1) / 2;
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * keys * head_dim * heads * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["KV_MiB"] = static_cast<double>(2 * length * kv_heads * head_dim * 4) / (1 << 20);
}

void BM_AttentionDecode(benchmark::State& state) { RunAttention(state, true); }
void BM_AttentionPrefill(benchmark::State& state) { RunAttention(state, false); }

// FAVOR# (SADERF + ORF) with the same shapes: the state is filled to the depth untimed, then one
// decode step (or a whole prefill of T tokens) is timed.
void RunFavor(benchmark::State& state, bool decode) {
  const int64_t heads = state.range(0), kv_heads = state.range(1), length = state.range(2);
  const int64_t features = state.range(3);
  const int threads = 2;
  auto op = MakeFavorOp(heads, kv_heads, 64, rf::RfKind::kSaderf, features, 64);
  const int64_t tokens = decode ? 1 : length;
  auto favor_state = op->CreateState({.max_context = length + 1}).value();
  const Tensor q = RandomTensor(Shape{tokens, heads * 64}, 1);
  const Tensor kv = RandomTensor(Shape{tokens, kv_heads * 64}, 2);
  const Tensor history_q = RandomTensor(Shape{length, heads * 64}, 3);
  const Tensor history_kv = RandomTensor(Shape{length, kv_heads * 64}, 4);
  Tensor out = Tensor::Allocate(DType::kF32, Shape{tokens, heads * 64}).value();
  Tensor history_out = Tensor::Allocate(DType::kF32, Shape{length, heads * 64}).value();
  const TensorSpec spec{DType::kF32, Shape{std::max(tokens, length), heads * 64}};
  OpRunner runner(threads, op->WorkspaceBytes({&spec, 1}));
  ScopedThreadCount scoped(threads);
  const Tensor inputs[3] = {q, kv, kv};
  const Tensor history[3] = {history_q, history_kv, history_kv};
  // The state is filled to the depth once; each timed decode step then adds one token (its cost
  // does not depend on the position, which is the point).
  int64_t position = 0;
  if (decode) {
    (void)op->Run(runner.context(length, 0), history, {&history_out, 1}, favor_state.get());
    position = length;
  }
  for (auto _ : state) {
    if (!decode) {
      state.PauseTiming();
      favor_state->Reset();
      position = 0;
      state.ResumeTiming();
    }
    const absl::Status status =
        op->Run(runner.context(tokens, position), inputs, {&out, 1}, favor_state.get());
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    position += tokens;
  }
  state.counters["state_MiB"] = static_cast<double>(favor_state->NumBytes()) / (1 << 20);
}

void BM_FavorDecode(benchmark::State& state) { RunFavor(state, true); }
void BM_FavorPrefill(benchmark::State& state) { RunFavor(state, false); }

// The comparison: stories110M shapes (12 heads of 64), context 512, 4K and 16K.
void ComparisonDepths(benchmark::internal::Benchmark* b) {
  b->ArgNames({"heads", "kv_heads", "depth", "threads"});
  for (int64_t depth : {512, 4096, 16384}) b->Args({12, 12, depth, 2});
}
void FavorDepths(benchmark::internal::Benchmark* b) {
  b->ArgNames({"heads", "kv_heads", "depth", "M"});
  for (int64_t depth : {512, 4096, 16384}) b->Args({12, 12, depth, 256});
}

BENCHMARK(BM_AttentionDecode)
    ->Name("Compare/ExactDecode")
    ->Apply(ComparisonDepths)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FavorDecode)
    ->Name("Compare/FavorDecode")
    ->Apply(FavorDepths)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionPrefill)
    ->Name("Compare/ExactPrefill")
    ->Apply(ComparisonDepths)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK(BM_FavorPrefill)
    ->Name("Compare/FavorPrefill")
    ->Apply(FavorDepths)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

void DecodeDepths(benchmark::internal::Benchmark* b) {
  b->ArgNames({"heads", "kv_heads", "depth", "threads"});
  for (auto [heads, kv] : {std::pair<int64_t, int64_t>{12, 12}, {32, 8}}) {
    for (int64_t depth : {128, 512, 2048, 8192, 32768}) b->Args({heads, kv, depth, 2});
  }
  b->Args({12, 12, 4096, 1});
}

void PrefillLengths(benchmark::internal::Benchmark* b) {
  b->ArgNames({"heads", "kv_heads", "T", "threads"});
  for (int64_t tokens : {128, 512, 2048}) b->Args({12, 12, tokens, 2});
}

BENCHMARK(BM_AttentionDecode)->Apply(DecodeDepths)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionPrefill)->Apply(PrefillLengths)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace favor::bench
