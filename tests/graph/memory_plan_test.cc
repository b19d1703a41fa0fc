#include "engine/graph/memory_plan.h"

#include <random>

#include "gtest/gtest.h"

namespace favor {
namespace {

TEST(MemoryPlan, BuffersAliveTogetherNeverOverlap) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> requests;
    const int count = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < count; ++i) {
      const int first = static_cast<int>(rng() % 40);
      requests.push_back(
          {1 + static_cast<int64_t>(rng() % 5000), first, first + static_cast<int>(rng() % 10)});
    }
    const MemoryPlan plan = PlanMemory(requests, 64);
    ASSERT_EQ(plan.offsets.size(), requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(plan.offsets[i] % 64, 0);
      EXPECT_LE(plan.offsets[i] + requests[i].bytes, plan.arena_bytes);
      for (size_t j = i + 1; j < requests.size(); ++j) {
        const bool live_together = !(requests[i].last_step < requests[j].first_step ||
                                     requests[j].last_step < requests[i].first_step);
        const bool overlap = plan.offsets[i] < plan.offsets[j] + requests[j].bytes &&
                             plan.offsets[j] < plan.offsets[i] + requests[i].bytes;
        EXPECT_FALSE(live_together && overlap)
            << "trial " << trial << " buffers " << i << ", " << j;
      }
    }
    EXPECT_LE(plan.arena_bytes, plan.unshared_bytes);
  }
}

TEST(MemoryPlan, AChainReusesTwoBuffers) {
  // x0 -> x1 -> x2 -> ... : each buffer is read by the next step only.
  std::vector<BufferRequest> chain;
  for (int step = 0; step < 10; ++step) chain.push_back({1024, step, step + 1});
  const MemoryPlan plan = PlanMemory(chain, 64);
  EXPECT_EQ(plan.arena_bytes, 2048);
  EXPECT_EQ(plan.unshared_bytes, 10240);
}

}  // namespace
}  // namespace favor
