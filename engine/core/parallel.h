// Parallel loops over independent rows, on OpenMP threads. A loop too small to pay for waking
// threads runs inline on the caller, which also keeps a one-token decode step free of any
// threading overhead where there is nothing to share.
#pragma once

#include <cstdint>

namespace favor {

// Static: equal-cost items, split in contiguous ranges. Dynamic: items of unequal cost (causal
// attention rows), handed out one by one.
enum class Schedule { kStatic, kDynamic };

template <typename Fn>
void ParallelFor(int64_t count, int threads, int64_t min_per_thread, Fn&& fn,
                 Schedule schedule = Schedule::kStatic) {
  if (threads <= 1 || count < 2 * min_per_thread || count < 2) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  if (schedule == Schedule::kDynamic) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < count; ++i) fn(i);
  } else {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < count; ++i) fn(i);
  }
}

}  // namespace favor
