// Static memory planning for the executor: every intermediate buffer gets an offset in one arena,
// chosen so that buffers alive at the same time never overlap. Lifetimes are step intervals of
// the execution order. Greedy by size (largest first, lowest offset that fits), which is the
// usual choice for inference graphs: near-optimal and O(n^2) on a few thousand buffers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace favor {

struct BufferRequest {
  int64_t bytes = 0;
  int first_step = 0;  // Written at this step...
  int last_step = 0;   // ...and read up to this one (inclusive).
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // One per request, multiples of the alignment.
  int64_t arena_bytes = 0;
  int64_t unshared_bytes = 0;  // What one buffer per request would take.
};

MemoryPlan PlanMemory(std::span<const BufferRequest> requests, int64_t alignment);

}  // namespace favor
