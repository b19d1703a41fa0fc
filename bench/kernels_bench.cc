// Row kernels per ISA: the same work on scalar, AVX2 and AVX-512 side by side.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "engine/kernels/kernels.h"

namespace favor::bench {
namespace {

// Args: ISA (0 scalar, 1 avx2, 2 avx512), n.
template <int kKernel>
void BM_Kernel(benchmark::State& state) {
  const auto isa = static_cast<kernels::Isa>(state.range(0));
  if (!kernels::IsSupported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const kernels::KernelTable& k = kernels::GetKernels(isa);
  const int64_t n = state.range(1);
  const Tensor a = RandomTensor(Shape{n}, 1), b = RandomTensor(Shape{n}, 2);
  Tensor out = Tensor::Allocate(DType::kF32, Shape{n}).value();
  for (auto _ : state) {
    if constexpr (kKernel == 0)
      k.swiglu(a.data<float>(), b.data<float>(), out.mutable_data<float>(), n);
    if constexpr (kKernel == 1)
      k.rms_norm(a.data<float>(), b.data<float>(), out.mutable_data<float>(), n, 1e-5f);
    if constexpr (kKernel == 2) k.softmax(a.data<float>(), out.mutable_data<float>(), n);
    benchmark::DoNotOptimize(out.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetLabel(std::string(kernels::IsaName(isa)));
}

void IsaAndSizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"isa", "n"});
  for (int64_t isa : {0, 1, 2}) {
    for (int64_t n : {768, 5632}) b->Args({isa, n});
  }
}

BENCHMARK(BM_Kernel<0>)->Name("BM_SwiGlu")->Apply(IsaAndSizes);
BENCHMARK(BM_Kernel<1>)->Name("BM_RmsNorm")->Apply(IsaAndSizes);
BENCHMARK(BM_Kernel<2>)->Name("BM_Softmax")->Apply(IsaAndSizes);

}  // namespace
}  // namespace favor::bench
