// A Batch: many sequences generated together on one model variant, continuous batching as
// llama-server and vLLM do it. Each slot holds one sequence's state (KV cache, FAVOR# or hybrid
// state). Every Step is one forward pass over the next token of every generating slot plus prompt
// chunks of the slots still prefilling, up to max_batch of those: the matrix products see all those
// rows at once (the weights are read once per step, not once per sequence), attention runs per
// sequence. Requests join and leave between steps.
//
// A slot keeps its state when its request ends; a later request whose prompt starts with the
// tokens a free slot holds (a chat's next turn) goes to that slot and prefills only the rest.
//
// Not thread-safe: one thread adds, steps and cancels (the server's scheduler). Callbacks run on
// that thread, inside Step or Cancel.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/executor.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/text/tokenizer.h"

namespace favor::runtime {

struct BatchOptions {
  int slots = 4;        // Sequences generated together (llama-server's --parallel).
  int64_t context = 0;  // Tokens per slot; 0: the model's trained context.
  int threads = 0;      // 0: physical cores.
  // Most prompt tokens of one step, besides a token per generating slot: a long prompt is fed in
  // chunks over several steps while the others generate (Session's max_batch).
  int64_t max_batch = 512;
  int64_t memory_limit_bytes = 0;  // 0: the machine's memory.
  bool verbose = false;
};

struct BatchRequest {
  std::vector<int32_t> prompt;
  GenerationOptions generation;
  TokenCallback on_token;  // Each token's released text, as Generate streams it.
  // Called once when the request ends: its result, or why it failed.
  std::function<void(absl::StatusOr<GenerationResult>)> on_done;
};

// What a slot held when its request started.
struct SlotAssignment {
  int slot = 0;
  int64_t reused_tokens = 0;  // Prompt tokens the slot already held (not prefilled again).
};

class Batch {
 public:
  // `variant` and `tokenizer` must outlive the batch.
  static absl::StatusOr<std::unique_ptr<Batch>> Create(const ModelVariant& variant,
                                                       const text::Tokenizer& tokenizer,
                                                       const BatchOptions& options = {});

  // Takes a request into a free slot: the one whose held tokens are the longest prefix of the
  // prompt, else the least recently used. A request that cannot run (no free slot, an empty or
  // over-long prompt, bad options or token ids) is refused here and its on_done is not called.
  absl::StatusOr<SlotAssignment> Add(BatchRequest request);
  // Ends the request in `slot` at once: its on_done gets the result so far (StopReason::kCallback).
  void Cancel(int slot);
  // One forward pass for every active slot; callbacks run here. An error of the pass fails every
  // request in it (their on_done gets the error) and is returned.
  absl::Status Step();

  int slots() const { return static_cast<int>(slots_.size()); }
  int active() const;
  bool slot_active(int slot) const { return slots_[static_cast<size_t>(slot)].active; }
  int64_t context() const { return context_; }
  // Sequence state of one slot (the same for every slot: allocated for the whole context).
  int64_t StateBytesPerSlot() const { return state_bytes_per_slot_; }
  int64_t arena_bytes() const { return executor_->arena_bytes(); }
  // Tokens of the last Step: generated (one per generating slot) and prompt tokens prefilled.
  int64_t last_step_decoded() const { return last_decoded_; }
  int64_t last_step_prefilled() const { return last_prefilled_; }

 private:
  struct Slot {
    std::unique_ptr<GraphState> state;
    std::vector<int32_t> held;  // Tokens fed to the state.
    bool active = false;
    BatchRequest request;
    std::unique_ptr<SequenceGenerator> generator;
    size_t prompt_fed = 0;        // Prompt tokens the state holds.
    std::optional<int32_t> next;  // Sampled, to be fed in the next step.
    uint64_t admitted = 0;        // Order of admission (prefill is first come, first served).
    uint64_t last_used = 0;
    std::chrono::steady_clock::time_point prompt_start, generation_start;
  };

  Batch() = default;
  void End(Slot& slot, absl::StatusOr<GenerationResult> outcome);

  const text::Tokenizer* tokenizer_ = nullptr;
  std::unique_ptr<Executor> executor_;
  std::vector<Slot> slots_;
  Tensor token_buffer_;
  int64_t context_ = 0;
  int64_t vocab_ = 0;
  int64_t max_batch_ = 0;
  int64_t state_bytes_per_slot_ = 0;
  uint64_t clock_ = 0;
  int64_t last_decoded_ = 0, last_prefilled_ = 0;
  // Reused per step: no allocation on the hot path once warmed up.
  std::vector<SequenceRun> runs_;
  std::vector<size_t> run_slots_;
  std::vector<size_t> prefill_order_;
};

}  // namespace favor::runtime
