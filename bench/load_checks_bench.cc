// What refusing NaN/Inf weights costs at load: io::CheckWeightsFinite over 512 MiB of f32 and of
// bf16 weights, single-threaded as it runs, to be read against BM_MemoryReadBandwidth/1 (the same
// bytes streamed by one thread with AVX-512 loads) from machine_bench.cc.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "engine/io/model_file.h"

namespace favor::bench {
namespace {

void BM_CheckWeightsFinite(benchmark::State& state) {
  const auto dtype = static_cast<DType>(state.range(0));
  const int64_t bytes = int64_t{512} << 20;
  const int64_t elements = bytes / ElementSize(dtype);
  io::ModelFile file;
  file.path = "bench";
  // Rows of 4096 like a real matrix; small finite values (a zeroed buffer is finite too, but
  // filling it makes the pages resident before timing).
  Tensor weights = Tensor::Allocate(dtype, Shape{elements / 4096, 4096}).value();
  auto* raw = static_cast<uint16_t*>(weights.mutable_raw_data());
  for (int64_t i = 0; i < bytes / 2; ++i) raw[i] = 0x3c00;
  file.tensors.emplace("blk.0.ffn_up.weight", weights);
  for (auto _ : state) {
    const absl::Status status = io::CheckWeightsFinite(file);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    benchmark::DoNotOptimize(status);
  }
  state.SetLabel(std::string(DTypeName(dtype)));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CheckWeightsFinite)
    ->Arg(static_cast<int>(DType::kF32))
    ->Arg(static_cast<int>(DType::kBF16))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace favor::bench
