// What a model's attention keeps per sequence, in one unit. Every attention configuration (exact,
// window-only, hybrid, pure random features, per-head plans) is a state of some bytes; dividing by
// what an exact KV cache spends per token gives "tokens of KV cache" it is worth, so that an
// approximation can be compared with the simplest use of the same memory: exact attention over
// the sinks and the most recent tokens (the window-only baseline, StreamingLLM).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"

namespace favor::runtime {

struct AttentionMemory {
  int64_t layers = 0;          // Attention ops counted.
  int64_t state_bytes = 0;     // Their state for one sequence, in total.
  int64_t kv_token_bytes = 0;  // What their exact KV cache spends per token (f32 keys and values).
  // The state in tokens of KV cache.
  double KvTokens() const;
};

// The state of the graph's attention ops at `context` tokens. With `approximate_only`, exact
// attention ops (a KvCache: layers left out of a swap) are not counted.
AttentionMemory MeasureAttentionMemory(const Graph& graph, int64_t context, bool approximate_only);

// The longest window W such that window-only attention with `sinks` sinks in place of the same
// ops holds at most `bytes` (0 when even W = 1 does not fit; at most `context`).
absl::StatusOr<int64_t> WindowAtEqualBytes(const Graph& graph, int64_t context,
                                           bool approximate_only, int64_t sinks, int64_t bytes);

}  // namespace favor::runtime
