// A Session: one sequence on a shared Model. It owns the executor (its arena) and the
// per-sequence state (KV caches). Prompts are prefilled in batches of up to max_batch tokens, then
// one token per step.
#pragma once

#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "engine/graph/executor.h"
#include "engine/runtime/model.h"

namespace favor::runtime {

struct SessionOptions {
  int64_t context = 0;      // Tokens the sequence may hold; 0: the model's trained context.
  int threads = 0;          // 0: physical cores.
  int64_t max_batch = 512;  // Largest prefill chunk.
  bool verbose = false;
  bool profile = false;  // Time every node (executor().node_nanoseconds()).
  // Memory the session may take (sequence state and activations); 0: the machine's memory
  // (MachineMemoryBytes). A context or feature count that needs more is refused up front.
  int64_t memory_limit_bytes = 0;
};

class Session {
 public:
  static absl::StatusOr<std::unique_ptr<Session>> Create(const ModelVariant& variant,
                                                         const SessionOptions& options = {});
  // A session with exact attention.
  static absl::StatusOr<std::unique_ptr<Session>> Create(const Model& model,
                                                         const SessionOptions& options = {}) {
    return Create(model.exact(), options);
  }

  // Feeds tokens (any number up to the free context) and returns the logits after the last one
  // (with a Logits::kAllPositions variant: the logits of every position of the last chunk of up
  // to max_batch tokens). The view is valid until the next Feed.
  absl::StatusOr<std::span<const float>> Feed(std::span<const int32_t> tokens);
  int64_t position() const { return state_->position(); }
  int64_t context() const { return context_; }
  int64_t vocab_size() const { return vocab_; }
  int64_t StateBytes() const { return state_->NumBytes(); }
  void Reset() { state_->Reset(); }
  // Benchmarks: grows the sequence to `depth` tokens by repeating the ones fed so far.
  absl::Status ExtendByRepeating(int64_t depth) { return state_->ExtendByRepeating(depth); }
  const Executor& executor() const { return *executor_; }
  Executor& executor() { return *executor_; }

 private:
  Session() = default;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<GraphState> state_;
  Tensor token_buffer_;
  int64_t context_ = 0;
  int64_t vocab_ = 0;
};

}  // namespace favor::runtime
