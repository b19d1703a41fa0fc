// Probes of this machine's limits, to read the other benchmarks against: memory read bandwidth
// (the bound of decode, which streams every weight once per token) and peak f32 FMA throughput
// (the bound of prefill GEMMs).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cstdint>
#include <vector>

#include "engine/core/threading.h"

namespace favor::bench {
namespace {

// Reads a 512 MiB array (far beyond the caches) with `threads` threads, four vector accumulators
// per thread so that the loads, not the adds, are the limit.
__attribute__((target("avx512f"))) float SumAvx512(const float* p, int64_t n, int threads) {
  float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; i += 64) {
      acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(p + i));
      acc1 = _mm512_add_ps(acc1, _mm512_loadu_ps(p + i + 16));
      acc2 = _mm512_add_ps(acc2, _mm512_loadu_ps(p + i + 32));
      acc3 = _mm512_add_ps(acc3, _mm512_loadu_ps(p + i + 48));
    }
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
    for (float lane : lanes) total += lane;
  }
  return total;
}

void BM_MemoryReadBandwidth(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512");
    return;
  }
  const int threads = static_cast<int>(state.range(0));
  const int64_t n = int64_t{128} << 20;  // floats, a multiple of 64
  std::vector<float> data(static_cast<size_t>(n), 1.0f);
  for (auto _ : state) benchmark::DoNotOptimize(SumAvx512(data.data(), n, threads));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(n) * 4 * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// Independent FMA chains in registers: 8 accumulators of 16 lanes hide the FMA latency.
__attribute__((target("avx512f"))) void FmaPeak(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t iterations = 1 << 22;
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      __m512 acc[8];
      for (auto& a : acc) a = _mm512_set1_ps(1.0f);
      const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
      for (int64_t i = 0; i < iterations; ++i) {
        for (auto& a : acc) a = _mm512_fmadd_ps(a, x, y);
      }
      for (auto& a : acc) benchmark::DoNotOptimize(a);
    }
  }
  const double flops = 2.0 * 16 * 8 * static_cast<double>(iterations) * threads;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_FmaPeakAvx512(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512");
    return;
  }
  FmaPeak(state);
}

BENCHMARK(BM_MemoryReadBandwidth)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_FmaPeakAvx512)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace favor::bench
