// Helpers shared by the microbenchmarks: random tensors and a RunContext for calling ops directly.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/ops/favor_attention.h"
#include "engine/ops/op.h"

namespace favor::bench {

Tensor RandomTensor(const Shape& shape, uint64_t seed, float scale = 1.0f);

// Owns what a RunContext points to: a oneDNN stream and a workspace.
class OpRunner {
 public:
  OpRunner(int threads, int64_t workspace_bytes);
  const RunContext& context(int64_t seq_len, int64_t start_pos);

 private:
  std::unique_ptr<dnnl::stream> stream_;
  std::vector<std::byte> workspace_;
  RunContext context_;
};

// A FAVOR attention op with calibrated features (statistics of random queries and keys), so that
// no run spends time building features.
std::shared_ptr<FavorAttentionOp> MakeFavorOp(int64_t heads, int64_t kv_heads, int64_t head_dim,
                                              rf::RfKind kind, int64_t features, int64_t chunk);

// Statistics of random queries and keys for `kv_heads` heads: calibrated features without a model.
std::vector<rf::PairStatistics> RandomCalibration(int64_t kv_heads, int64_t head_dim);

// This machine's limits, probed once per process (about a second in all) so that kernels can be
// reported as a share of them: f32 FMA throughput of one core (GFLOP/s, with the best vector
// width the CPU has) and memory read bandwidth with `threads` threads (GB/s).
double FmaPeakGflopsOneCore();
double MemoryBandwidthGBs(int threads);

}  // namespace favor::bench
