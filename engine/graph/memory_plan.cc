#include "engine/graph/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace favor {

MemoryPlan PlanMemory(std::span<const BufferRequest> requests, int64_t alignment) {
  const auto round_up = [alignment](int64_t bytes) {
    return (bytes + alignment - 1) / alignment * alignment;
  };
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  struct Placed {
    int64_t offset, end;
  };
  std::vector<size_t> placed;  // Indices into requests, already given an offset.
  for (size_t index : order) {
    const BufferRequest& request = requests[index];
    const int64_t size = round_up(request.bytes);
    plan.unshared_bytes += size;
    // Intervals of memory taken by buffers whose lifetime overlaps this one, by offset.
    std::vector<Placed> busy;
    for (size_t other : placed) {
      const BufferRequest& o = requests[other];
      if (o.last_step < request.first_step || request.last_step < o.first_step) continue;
      busy.push_back({plan.offsets[other], plan.offsets[other] + round_up(o.bytes)});
    }
    std::sort(busy.begin(), busy.end(),
              [](const Placed& a, const Placed& b) { return a.offset < b.offset; });
    int64_t candidate = 0;
    for (const Placed& interval : busy) {
      if (candidate + size <= interval.offset) break;  // Fits in the gap before this one.
      candidate = std::max(candidate, interval.end);
    }
    plan.offsets[index] = candidate;
    plan.arena_bytes = std::max(plan.arena_bytes, candidate + size);
    placed.push_back(index);
  }
  return plan;
}

}  // namespace favor
