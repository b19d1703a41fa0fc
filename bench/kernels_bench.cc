// Row kernels per ISA: the same work on scalar, AVX2 and AVX-512 side by side.
#include <benchmark/benchmark.h>

#include <vector>
#include "bench/bench_util.h"

#include "engine/core/dtype.h"
#include "engine/core/quant_interleaved.h"
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

// One token times a quantized or 16-bit matrix larger than the caches (decode), one thread: bytes
// of weights read per second. Args: ISA, DType, layout (0: the file's rows, 1: 8 rows
// interleaved).
void BM_QuantMatVec(benchmark::State& state) {
  const auto isa = static_cast<kernels::Isa>(state.range(0));
  if (!kernels::IsSupported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const kernels::KernelTable& k = kernels::GetKernels(isa);
  const auto dtype = static_cast<DType>(state.range(1));
  const DTypeInfo& info = GetDTypeInfo(dtype);
  constexpr int64_t kIn = 2048, kOut = 65536;  // 75 MB in Q4_0, 143 MB in Q8_0: past the caches.
  const Tensor f32 = RandomTensor(Shape{kOut, kIn}, 3);
  Tensor w = Tensor::Allocate(dtype, Shape{kOut, kIn}).value();
  info.from_f32(f32.data<float>(), w.mutable_raw_data(), kOut * kIn);
  const Tensor x = RandomTensor(Shape{kIn}, 4);
  std::vector<int8_t> codes(kIn);
  std::vector<float> scales(kIn / kernels::kQ8Block), sums(kIn / 16), y(kOut);
  k.quantize_q8(x.data<float>(), kIn, codes.data(), scales.data(), sums.data());
  const kernels::Q8Rows rows = {codes.data(), scales.data(), sums.data(), kIn};
  const int64_t row_bytes = kIn / info.block_elements * info.block_bytes;
  const bool interleaved = state.range(2) == 1;
  std::vector<uint8_t> packed;
  if (interleaved) {
    const quant::InterleavedFormat layout = quant::GetInterleavedFormat(dtype);
    if (layout.block_elements == 0) {
      state.SkipWithError("no interleaved layout for this type");
      return;
    }
    packed.resize(
        static_cast<size_t>(kOut / 8 * kIn / layout.block_elements * layout.group_block_bytes));
    quant::Interleave(dtype, w.raw_data(), kOut, kIn, packed.data());
  }
  const bool half = dtype == DType::kF16 || dtype == DType::kBF16;
  const auto half_kernel = dtype == DType::kF16 ? k.f16_matmul : k.bf16_matmul;
  for (auto _ : state) {
    if (half) {
      half_kernel(static_cast<const uint16_t*>(w.raw_data()), kOut, kIn, x.data<float>(), kIn, 1,
                  y.data(), kOut);
    } else if (interleaved) {
      k.interleaved_matmul[static_cast<int>(dtype)](packed.data(), kOut / 8, rows, 1, y.data(),
                                                    kOut);
    } else {
      k.quant_matmul[static_cast<int>(dtype)](w.raw_data(), row_bytes, kOut, rows, 1, y.data(),
                                              kOut);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * kOut * row_bytes);
  state.SetLabel(std::string(kernels::IsaName(isa)) + " " + std::string(info.name));
}

void IsasAndQuantTypes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"isa", "dtype", "interleaved"});
  for (int64_t isa : {1, 2}) {
    for (const DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                          DType::kF16, DType::kBF16}) {
      b->Args({isa, static_cast<int64_t>(t), 0});
    }
    for (const DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
      b->Args({isa, static_cast<int64_t>(t), 1});
    }
  }
}

BENCHMARK(BM_QuantMatVec)->Apply(IsasAndQuantTypes)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace favor::bench
