#include "bench/bench_util.h"

#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "engine/core/dnnl_context.h"
#include "engine/kernels/kernels.h"

namespace favor::bench {

Tensor RandomTensor(const Shape& shape, uint64_t seed, float scale) {
  Tensor t = Tensor::Allocate(DType::kF32, shape).value();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  float* data = t.mutable_data<float>();
  for (int64_t i = 0; i < t.NumElements(); ++i) data[i] = dist(rng);
  return t;
}

OpRunner::OpRunner(int threads, int64_t workspace_bytes)
    : stream_(std::make_unique<dnnl::stream>(CpuEngine())),
      workspace_(static_cast<size_t>(workspace_bytes)) {
  context_.kernels = &kernels::GetKernels(kernels::IsaFromEnvironment().value());
  context_.threads = threads;
  context_.stream = stream_.get();
  context_.workspace = std::span<std::byte>(workspace_.data(), workspace_.size());
}

const RunContext& OpRunner::context(int64_t seq_len, int64_t start_pos) {
  context_.seq_len = seq_len;
  context_.start_pos = start_pos;
  return context_;
}

std::shared_ptr<FavorAttentionOp> MakeFavorOp(int64_t heads, int64_t kv_heads, int64_t head_dim,
                                              rf::RfKind kind, int64_t features, int64_t chunk) {
  FavorAttentionOptions o;
  o.heads.n_heads = heads;
  o.heads.n_kv_heads = kv_heads;
  o.heads.head_dim = head_dim;
  o.chunk = chunk;
  o.features = {.kind = kind, .features = features};
  o.source = FavorStatsSource::kCalibrated;
  o.calibration = RandomCalibration(kv_heads, head_dim);
  return FavorAttentionOp::Create(std::move(o)).value();
}

std::vector<rf::PairStatistics> RandomCalibration(int64_t kv_heads, int64_t head_dim) {
  const Tensor sample = RandomTensor(Shape{64, head_dim}, 5, 0.5f);
  std::vector<rf::PairStatistics> calibration;
  for (int64_t g = 0; g < kv_heads; ++g) {
    rf::PairStatistics stats(head_dim);
    for (int64_t t = 0; t < 64; ++t) {
      stats.AddQuery(sample.data<float>() + t * head_dim);
      stats.AddKey(sample.data<float>() + ((t + 7) % 64) * head_dim);
    }
    calibration.push_back(stats);
  }
  return calibration;
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kFmaIterations = 1 << 22;

// 8 independent FMA chains hide the FMA latency; the best of 5 runs.
__attribute__((target("avx512f"))) double FmaPeakAvx512() {
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    __m512 acc[8];
    for (auto& a : acc) a = _mm512_set1_ps(1.0f);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    const auto start = Clock::now();
    for (int64_t i = 0; i < kFmaIterations; ++i) {
      for (auto& a : acc) a = _mm512_fmadd_ps(a, x, y);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    alignas(64) float lanes[16];
    float sink = 0;
    for (auto& a : acc) {
      _mm512_store_ps(lanes, a);
      sink += lanes[0];
    }
    benchmark::DoNotOptimize(sink);
    best = std::max(best, 2.0 * 8 * 16 * static_cast<double>(kFmaIterations) / seconds * 1e-9);
  }
  return best;
}

__attribute__((target("avx2,fma"))) double FmaPeakAvx2() {
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_set1_ps(1.0f);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    const auto start = Clock::now();
    for (int64_t i = 0; i < kFmaIterations; ++i) {
      for (auto& a : acc) a = _mm256_fmadd_ps(a, x, y);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    alignas(32) float lanes[8];
    float sink = 0;
    for (auto& a : acc) {
      _mm256_store_ps(lanes, a);
      sink += lanes[0];
    }
    benchmark::DoNotOptimize(sink);
    best = std::max(best, 2.0 * 8 * 8 * static_cast<double>(kFmaIterations) / seconds * 1e-9);
  }
  return best;
}

double ProbeMemoryBandwidth(int threads) {
  const int64_t n = int64_t{64} << 20;  // 256 MiB of floats
  std::vector<float> data(static_cast<size_t>(n), 1.0f);
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    const auto start = Clock::now();
    float total = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : total) schedule(static)
    for (int64_t block = 0; block < n / 1024; ++block) {
      float partial = 0;
      for (int64_t i = 0; i < 1024; ++i) partial += data[static_cast<size_t>(block * 1024 + i)];
      total += partial;
    }
    benchmark::DoNotOptimize(total);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, static_cast<double>(n) * 4 / seconds * 1e-9);
  }
  return best;
}

}  // namespace

double FmaPeakGflopsOneCore() {
  static const double peak = __builtin_cpu_supports("avx512f") ? FmaPeakAvx512()
                             : __builtin_cpu_supports("fma")   ? FmaPeakAvx2()
                                                               : 0.0;
  return peak;
}

double MemoryBandwidthGBs(int threads) {
  static const double one = ProbeMemoryBandwidth(1);
  static const double two = ProbeMemoryBandwidth(2);
  return threads <= 1 ? one : two;
}

}  // namespace favor::bench
