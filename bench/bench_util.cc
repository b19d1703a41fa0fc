#include "bench/bench_util.h"

#include <random>

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

}  // namespace favor::bench
