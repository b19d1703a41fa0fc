// MatMul (oneDNN, weights packed at load) at the shapes of a stories110M-sized model (dim 768,
// FFN 2048, vocab 32000) and a Llama-1B-sized one (dim 2048, FFN 5632): decode (T = 1, bound by
// streaming the weights: GB/s) and prefill (T = 512, bound by FMA throughput: GFLOP/s).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "bench/bench_util.h"
#include "engine/core/threading.h"
#include "engine/kernels/kernel_table.h"
#include "engine/ops/matmul.h"

namespace favor::bench {
namespace {

// Args: T, K (in), N (out), compute (0 = f32, 1 = bf16), threads.
void BM_MatMul(benchmark::State& state) {
  const int64_t tokens = state.range(0), in = state.range(1), out = state.range(2);
  const DType compute = state.range(3) == 1 ? DType::kBF16 : DType::kF32;
  const int threads = static_cast<int>(state.range(4));
  auto op = MatMulOp::Create(RandomTensor(Shape{out, in}, 1, 0.05f),
                             {.weight_name = "w", .compute = compute});
  if (!op.ok()) {
    state.SkipWithError(std::string(op.status().message()).c_str());
    return;
  }
  const Tensor x = RandomTensor(Shape{tokens, in}, 2);
  Tensor y = Tensor::Allocate(DType::kF32, Shape{tokens, out}).value();
  const TensorSpec spec{DType::kF32, Shape{tokens, in}};
  OpRunner runner(threads, (*op)->WorkspaceBytes({&spec, 1}));
  ScopedThreadCount scoped(threads);
  const RunContext& ctx = runner.context(tokens, 0);
  for (auto _ : state) {
    const absl::Status status = (*op)->Run(ctx, {&x, 1}, {&y, 1}, nullptr);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    benchmark::DoNotOptimize(y.raw_data());
  }
  const double flops = 2.0 * static_cast<double>(tokens * in * out);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(in * out * (compute == DType::kBF16 ? 2 : 4)) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel((*op)->implementation());
}

// Decode as a model runs it: a new weight matrix every call, from memory rather than cache
// (enough distinct matrices to exceed the last-level cache several times). Args as BM_MatMul.
void BM_MatMulFromMemory(benchmark::State& state) {
  const int64_t tokens = state.range(0), in = state.range(1), out = state.range(2);
  const DType compute = state.range(3) == 1 ? DType::kBF16 : DType::kF32;
  const int threads = static_cast<int>(state.range(4));
  constexpr int64_t kStreamBytes = 256 << 20;
  const int64_t bytes = in * out * (compute == DType::kBF16 ? 2 : 4);
  const int64_t copies = std::max<int64_t>(2, kStreamBytes / bytes);
  std::vector<std::shared_ptr<MatMulOp>> ops;
  for (int64_t i = 0; i < copies; ++i) {
    auto op = MatMulOp::Create(RandomTensor(Shape{out, in}, 10 + static_cast<uint64_t>(i), 0.05f),
                               {.weight_name = "w", .compute = compute});
    if (!op.ok()) {
      state.SkipWithError(std::string(op.status().message()).c_str());
      return;
    }
    ops.push_back(*std::move(op));
  }
  const Tensor x = RandomTensor(Shape{tokens, in}, 2);
  Tensor y = Tensor::Allocate(DType::kF32, Shape{tokens, out}).value();
  const TensorSpec spec{DType::kF32, Shape{tokens, in}};
  OpRunner runner(threads, ops[0]->WorkspaceBytes({&spec, 1}));
  ScopedThreadCount scoped(threads);
  const RunContext& ctx = runner.context(tokens, 0);
  size_t next = 0;
  for (auto _ : state) {
    const absl::Status status = ops[next]->Run(ctx, {&x, 1}, {&y, 1}, nullptr);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    next = (next + 1) % ops.size();
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.counters["weight_GB/s"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
  // Share of this machine's probed read bandwidth with as many threads.
  state.counters["bandwidth_%"] =
      benchmark::Counter(100 * static_cast<double>(bytes) * 1e-9 / MemoryBandwidthGBs(threads),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(tokens <= kernels::kMatVecMaxRows && compute == DType::kBF16
                     ? "engine matvec_bf16"
                     : ops[0]->implementation());
}

void StreamShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "K", "N", "bf16", "threads"});
  for (int64_t compute : {0, 1}) {
    for (int64_t threads : {1, 2}) {
      for (auto [k, n] : {std::pair<int64_t, int64_t>{768, 768}, {768, 2048}, {2048, 5632}}) {
        b->Args({1, k, n, compute, threads});
      }
    }
  }
}
BENCHMARK(BM_MatMulFromMemory)->Apply(StreamShapes)->UseRealTime()->Unit(benchmark::kMicrosecond);

void MatMulShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "K", "N", "bf16", "threads"});
  for (int64_t compute : {0, 1}) {
    for (int64_t threads : {1, 2}) {
      // Decode: stories110M q/k/v/o, FFN up and down, logits; Llama-1B FFN up.
      for (auto [k, n] : {std::pair<int64_t, int64_t>{768, 768},
                          {768, 2048},
                          {2048, 768},
                          {768, 32000},
                          {2048, 5632}}) {
        b->Args({1, k, n, compute, threads});
      }
      // Prefill.
      for (auto [k, n] : {std::pair<int64_t, int64_t>{768, 768}, {768, 2048}, {2048, 768}}) {
        b->Args({512, k, n, compute, threads});
      }
    }
  }
}

BENCHMARK(BM_MatMul)->Apply(MatMulShapes)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace favor::bench
