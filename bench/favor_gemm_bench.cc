// The small products of FAVOR attention (chunk C = 64, head dim d = 64, M = 256 features): the
// engine's register-blocked GEMM kernel against oneDNN's matmul primitive at the same shapes, to
// decide which one the attention op should call (measured here, side by side).
#include <benchmark/benchmark.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench/bench_util.h"
#include "engine/core/dnnl_context.h"
#include "engine/core/threading.h"
#include "engine/kernels/kernels.h"

namespace favor::bench {
namespace {

// Args: m, n, k. Single thread: the op runs one key/value head per thread.
void BM_EngineGemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const Tensor a = RandomTensor(Shape{m, k}, 1), b = RandomTensor(Shape{k, n}, 2);
  Tensor c = Tensor::Allocate(DType::kF32, Shape{m, n}).value();
  const kernels::KernelTable& kt = kernels::GetKernels(kernels::BestIsa());
  for (auto _ : state) {
    kt.gemm(m, n, k, a.data<float>(), k, b.data<float>(), n, c.mutable_data<float>(), n, false);
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_OneDnnMatmul(benchmark::State& state) {
  using dnnl::memory;
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const Tensor a = RandomTensor(Shape{m, k}, 1), b = RandomTensor(Shape{k, n}, 2);
  Tensor c = Tensor::Allocate(DType::kF32, Shape{m, n}).value();
  ScopedThreadCount scoped(1);
  const dnnl::engine& engine = CpuEngine();
  dnnl::stream stream(engine);
  const memory::desc ad({m, k}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc bd({k, n}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc cd({m, n}, memory::data_type::f32, memory::format_tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), engine);
  const dnnl::matmul matmul(pd);
  memory am(ad, engine, const_cast<void*>(a.raw_data())),
      bm(bd, engine, const_cast<void*>(b.raw_data())), cm(cd, engine, c.mutable_raw_data());
  for (auto _ : state) {
    matmul.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream.wait();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(pd.impl_info_str());
}

void FavorShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "n", "k"});
  b->Args({64, 256, 64});  // Feature map of a chunk: (C x d) (d x M).
  b->Args({64, 64, 256});  // Carried state: (C x M) (M x d).
  b->Args({64, 64, 256});  // In-chunk products (C x M)(M x C) have the same shape.
  b->Args({256, 64, 64});  // State update: (M x C) (C x d).
  b->Args({1, 256, 64});   // Decode feature map.
}

BENCHMARK(BM_EngineGemm)->Apply(FavorShapes);
BENCHMARK(BM_OneDnnMatmul)->Apply(FavorShapes);

}  // namespace
}  // namespace favor::bench
