// Random-feature attention's kernels swept over their sizes, read against this machine's limits:
//   FavorPrefillChunk  the chunked causal prefill of one head on one core, per chunk size C,
//                      feature count M and head dimension d: GFLOP/s and % of one core's peak
//   FavorDecodeStep    one decode step of one head: the state streamed (GB/s) and constant time
//   FavorVariant       prefill and decode of a stories110M layer (12 heads of 64) per feature kind
//   FeatureBuild       building one head's features from statistics (prompt-statistics mode)
// Every FAVOR op here has calibrated features: no run includes building them.
#include <benchmark/benchmark.h>

#include <array>
#include <iterator>

#include "bench/bench_util.h"
#include "engine/core/threading.h"
#include "engine/rf/head_features.h"

namespace favor::bench {
namespace {

// The work the chunked algorithm must do per token of one head, in flops (a multiply-add is 2):
// query and key feature maps (2 x 2dM), the carried state for the chunk's queries (2Md) and the
// chunk's keys into the state (2Md), and the masked C x C part (scores 2CM and values 2Cd, both
// counted in full since the products run on whole chunks).
double PrefillFlopsPerToken(int64_t chunk, int64_t m, int64_t d) {
  return static_cast<double>(4 * d * m + 4 * m * d + 2 * chunk * (m + d));
}

// Args: C, M, d, L.
void BM_FavorPrefillChunk(benchmark::State& state) {
  const int64_t chunk = state.range(0), m = state.range(1), d = state.range(2),
                length = state.range(3);
  auto op = MakeFavorOp(1, 1, d, rf::RfKind::kSaderf, m, chunk);
  auto favor_state = op->CreateState({.max_context = length}).value();
  const Tensor q = RandomTensor(Shape{length, d}, 1, 0.5f), kv = RandomTensor(Shape{length, d}, 2);
  Tensor out = Tensor::Allocate(DType::kF32, Shape{length, d}).value();
  const TensorSpec spec{DType::kF32, Shape{length, d}};
  OpRunner runner(1, op->WorkspaceBytes({&spec, 1}));
  ScopedThreadCount scoped(1);
  const Tensor inputs[3] = {q, kv, kv};
  for (auto _ : state) {
    favor_state->Reset();  // Cheap next to the prefill (M x d floats).
    const absl::Status status =
        op->Run(runner.context(length, 0), inputs, {&out, 1}, favor_state.get());
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
  }
  const double flops = PrefillFlopsPerToken(chunk, m, d) * static_cast<double>(length);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(length),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  // Share of one core's peak: flops per second over the probed peak, as a rate counter.
  state.counters["peak_%"] = benchmark::Counter(100 * flops * 1e-9 / FmaPeakGflopsOneCore(),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void ChunkSweep(benchmark::internal::Benchmark* b) {
  b->ArgNames({"C", "M", "d", "L"});
  for (int64_t chunk : {16, 32, 64, 128, 256}) b->Args({chunk, 256, 64, 2048});
  for (int64_t m : {64, 128, 512, 1024}) b->Args({64, m, 64, 2048});
  for (int64_t d : {32, 128}) b->Args({64, 256, d, 2048});
  for (int64_t length : {256, 8192}) b->Args({64, 256, 64, length});
}

// Args: M, d. One head at depth 4096 (the cost is the same at any depth).
void BM_FavorDecodeStep(benchmark::State& state) {
  const int64_t m = state.range(0), d = state.range(1), depth = 4096;
  auto op = MakeFavorOp(1, 1, d, rf::RfKind::kSaderf, m, 64);
  auto favor_state = op->CreateState({.max_context = depth + (1 << 24)}).value();
  const Tensor history = RandomTensor(Shape{depth, d}, 3, 0.5f);
  const Tensor q = RandomTensor(Shape{1, d}, 1, 0.5f), kv = RandomTensor(Shape{1, d}, 2);
  Tensor history_out = Tensor::Allocate(DType::kF32, Shape{depth, d}).value();
  Tensor out = Tensor::Allocate(DType::kF32, Shape{1, d}).value();
  const TensorSpec spec{DType::kF32, Shape{depth, d}};
  OpRunner runner(1, op->WorkspaceBytes({&spec, 1}));
  ScopedThreadCount scoped(1);
  const Tensor prefix[3] = {history, history, history};
  (void)op->Run(runner.context(depth, 0), prefix, {&history_out, 1}, favor_state.get());
  const Tensor inputs[3] = {q, kv, kv};
  int64_t position = depth;
  for (auto _ : state) {
    const absl::Status status =
        op->Run(runner.context(1, position), inputs, {&out, 1}, favor_state.get());
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    ++position;
  }
  // The state S (M x d) and z (M) are read and written once per step.
  const double bytes = 2.0 * static_cast<double>(m * (d + 1)) * 4;
  state.counters["state_GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bandwidth_%"] = benchmark::Counter(100 * bytes * 1e-9 / MemoryBandwidthGBs(1),
                                                     benchmark::Counter::kIsIterationInvariantRate);
  state.counters["state_KiB"] = static_cast<double>(favor_state->NumBytes()) / 1024;
}

void DecodeSweep(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "d"});
  for (int64_t m : {64, 256, 1024}) {
    for (int64_t d : {64, 128}) b->Args({m, d});
  }
}

constexpr rf::RfKind kVariants[] = {rf::RfKind::kPos,    rf::RfKind::kGerf,  rf::RfKind::kOprf,
                                    rf::RfKind::kSaderf, rf::RfKind::kAderf, rf::RfKind::kSderf};

// Args: variant index, M, T (T = 1: a decode step at depth 512), threads.
void BM_FavorVariant(benchmark::State& state) {
  const rf::RfKind kind = kVariants[state.range(0)];
  const int64_t m = state.range(1), tokens = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const int64_t heads = 12, d = 64, depth = tokens == 1 ? 512 : 0;
  auto op = MakeFavorOp(heads, heads, d, kind, m, 64);
  auto favor_state = op->CreateState({.max_context = depth + (1 << 24)}).value();
  const Tensor x = RandomTensor(Shape{std::max<int64_t>(tokens, depth), heads * d}, 1, 0.5f);
  Tensor out =
      Tensor::Allocate(DType::kF32, Shape{std::max<int64_t>(tokens, depth), heads * d}).value();
  const TensorSpec spec{DType::kF32, Shape{std::max<int64_t>(tokens, depth), heads * d}};
  OpRunner runner(threads, op->WorkspaceBytes({&spec, 1}));
  ScopedThreadCount scoped(threads);
  auto rows = [&](int64_t count) {
    const Tensor view = x.Slice(0, count).value();
    return std::array<Tensor, 3>{view, view, view};
  };
  int64_t position = 0;
  if (depth > 0) {
    const auto prefix = rows(depth);
    Tensor prefix_out = out.Slice(0, depth).value();
    (void)op->Run(runner.context(depth, 0), prefix, {&prefix_out, 1}, favor_state.get());
    position = depth;
  }
  const auto inputs = rows(tokens);
  Tensor step_out = out.Slice(0, tokens).value();
  for (auto _ : state) {
    if (depth == 0) {
      favor_state->Reset();
      position = 0;
    }
    const absl::Status status =
        op->Run(runner.context(tokens, position), inputs, {&step_out, 1}, favor_state.get());
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    position += tokens;
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(rf::RfKindName(kind)));
}

void VariantSweep(benchmark::internal::Benchmark* b) {
  b->ArgNames({"kind", "M", "T", "threads"});
  for (int64_t v = 0; v < static_cast<int64_t>(std::size(kVariants)); ++v) {
    b->Args({v, 256, 512, 2});
    b->Args({v, 256, 1, 2});
  }
}

// Args: variant index, M, d.
void BM_FeatureBuild(benchmark::State& state) {
  const rf::RfKind kind = kVariants[state.range(0)];
  const int64_t m = state.range(1), d = state.range(2);
  const Tensor sample = RandomTensor(Shape{256, d}, 5, 0.5f);
  rf::PairStatistics stats(d);
  for (int64_t t = 0; t < 256; ++t) {
    stats.AddQuery(sample.data<float>() + t * d);
    stats.AddKey(sample.data<float>() + ((t + 7) % 256) * d);
  }
  for (auto _ : state) {
    auto features = rf::MakeHeadFeatures({.kind = kind, .features = m}, stats, 0, 0);
    if (!features.ok()) state.SkipWithError(std::string(features.status().message()).c_str());
    benchmark::DoNotOptimize(features);
  }
  state.SetLabel(std::string(rf::RfKindName(kind)));
}

void BuildSweep(benchmark::internal::Benchmark* b) {
  b->ArgNames({"kind", "M", "d"});
  for (int64_t v = 0; v < static_cast<int64_t>(std::size(kVariants)); ++v) b->Args({v, 256, 64});
}

BENCHMARK(BM_FavorPrefillChunk)->Apply(ChunkSweep)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FavorDecodeStep)->Apply(DecodeSweep)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FavorVariant)->Apply(VariantSweep)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FeatureBuild)->Apply(BuildSweep)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace favor::bench
