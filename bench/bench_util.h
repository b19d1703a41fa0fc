// Helpers shared by the microbenchmarks: random tensors and a RunContext for calling ops directly.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/core/tensor.h"
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

}  // namespace favor::bench
