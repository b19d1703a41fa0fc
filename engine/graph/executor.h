// Executor: runs a graph repeatedly, T tokens per run, with a memory plan made once.
//
// At creation the executor orders the nodes, sizes every intermediate buffer for the largest T
// (max_seq_len) and plans them into one arena (see memory_plan.h). A run resolves T from the
// inputs, points tensor views into the arena and calls the ops in order: once warmed up it makes
// no heap allocation of its own. Per-sequence state (KV caches) lives in a GraphState that the
// caller owns, so one executor can serve sequence after sequence.
//
// Thread-safety: the graph is shared read-only; an executor (its arena) serves one thread at a
// time. Sessions on several threads each have their own executor over the same graph.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/storage.h"
#include "engine/graph/graph.h"
#include "engine/kernels/kernels.h"

namespace favor {

struct ExecutorOptions {
  int64_t max_seq_len = 512;        // Largest T of one run (a prompt is fed in chunks of it).
  int64_t max_sequences = 1;        // Most sequences one run advances together (S).
  int threads = 0;                  // 0: one per physical core.
  std::optional<kernels::Isa> isa;  // Unset: FAVOR_ISA, else the best the CPU supports.
  bool verbose = false;             // Print the plan (ISA, threads, arena) to stderr.
  bool profile = false;             // Time every node (see Executor::node_nanoseconds).
};

// Sees the inputs and outputs of the nodes it chooses while a run computes them, right after each
// such node runs: how calibration, attention capture and per-layer error measurement read a
// model without changing its graph (llama.cpp's eval callback serves its imatrix tool so). The
// views are valid only during Observe.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // Asked once per node when the observer is attached.
  virtual bool Observes(NodeId id, const Node& node) const = 0;
  virtual absl::Status Observe(NodeId id, const RunContext& context, std::span<const Tensor> inputs,
                               std::span<const Tensor> outputs) = 0;
};

// The per-sequence state of every stateful op of a graph, and the sequence position.
class GraphState {
 public:
  int64_t position() const { return position_; }
  int64_t max_context() const { return max_context_; }
  int64_t NumBytes() const;
  // Starts a new sequence (keeps the memory).
  void Reset();
  // Benchmarks: moves a sequence of position() > 0 tokens to `depth` tokens by repeating them
  // (see OpState::ExtendByRepeating).
  absl::Status ExtendByRepeating(int64_t depth);

 private:
  friend class Executor;
  const Graph* graph_ = nullptr;
  std::vector<std::unique_ptr<OpState>> states_;  // Indexed by NodeId; null for stateless ops.
  int64_t position_ = 0;
  int64_t max_context_ = 0;
};

// One sequence's part of a run over several: its state, and how many of the run's tokens (rows of
// T, consecutive, in the order of the parts) are its.
struct SequenceRun {
  GraphState* state = nullptr;
  int64_t tokens = 0;
};

class Executor {
 public:
  static absl::StatusOr<std::unique_ptr<Executor>> Create(std::shared_ptr<const Graph> graph,
                                                          const ExecutorOptions& options = {});

  absl::StatusOr<std::unique_ptr<GraphState>> CreateState(const StateOptions& options) const;
  // The bytes CreateState would allocate (saturating at INT64_MAX), without allocating.
  int64_t StateBytes(const StateOptions& options) const;

  // Runs the graph on `inputs` (in the order of graph.inputs()) at state.position(), then
  // advances the position by T. Outputs stay valid until the next run.
  absl::Status Run(std::span<const Tensor> inputs, GraphState& state);
  absl::Status Run(std::initializer_list<Tensor> inputs, GraphState& state) {
    return Run(std::span<const Tensor>(inputs.begin(), inputs.size()), state);
  }
  // Continuous batching: one run over the tokens of several sequences (distinct states, at most
  // max_sequences), each advanced by its part. Ops that run per sequence see each one's rows and
  // state; the others (the matrix products) all T rows at once. Outputs with a dimension S have a
  // row per sequence, in the order of `sequences`. A refused run leaves every state untouched.
  absl::Status Run(std::span<const Tensor> inputs, std::span<const SequenceRun> sequences);
  const Tensor& output(size_t index) const { return outputs_[index]; }
  // Attaches an observer to the runs that follow (not owned; null detaches).
  void SetObserver(RunObserver* observer);
  size_t num_outputs() const { return outputs_.size(); }

  const Graph& graph() const { return *graph_; }
  kernels::Isa isa() const { return kernels_->isa; }
  int threads() const { return threads_; }
  int64_t max_seq_len() const { return max_seq_len_; }
  int64_t max_sequences() const { return max_sequences_; }
  int64_t arena_bytes() const;
  // With options.profile: wall-clock nanoseconds spent in each node since the last
  // ResetProfile(), indexed by NodeId (empty without profiling).
  std::span<const int64_t> node_nanoseconds() const { return node_nanoseconds_; }
  void ResetProfile() { std::fill(node_nanoseconds_.begin(), node_nanoseconds_.end(), 0); }
  // "arena 12.0 MiB for 40 buffers (unshared: 30.1 MiB), isa avx512, 2 threads".
  std::string PlanSummary() const;

 private:
  struct Step {
    NodeId node;
    int64_t workspace_offset;
    int64_t workspace_bytes;
    bool observed = false;
    // Per-sequence ops of a multi-sequence executor: the workspace of one token, a slice of it
    // per sequence when a decode step runs the sequences side by side; -1 for other steps.
    int64_t sequence_workspace_bytes = -1;
  };

  Executor() = default;
  absl::Status BindInputs(std::span<const Tensor> inputs, int64_t* seq_len);
  // Runs a per-sequence op once per sequence on views of its rows.
  absl::Status RunPerSequence(const Step& step, RunContext& ctx,
                              std::span<const SequenceRun> sequences);
  // The same for a decode step (one token per sequence): the sequences side by side, one thread
  // each, on their own slices of the workspace.
  absl::Status DecodePerSequence(const Step& step, const RunContext& ctx,
                                 std::span<const SequenceRun> sequences);

  std::shared_ptr<const Graph> graph_;
  const kernels::KernelTable* kernels_ = nullptr;
  int threads_ = 1;
  int64_t max_seq_len_ = 0;
  int64_t max_sequences_ = 1;
  std::vector<Step> steps_;
  std::vector<int64_t> value_offsets_;  // Arena offset per value (-1: not in the arena).
  std::vector<Tensor> value_tensors_;   // Current view of every value.
  std::vector<ValueId> arena_values_;   // Values whose views are re-pointed on every run.
  std::vector<Tensor> outputs_;
  std::vector<Tensor> input_scratch_;  // Reused per step: no allocation on the hot path.
  std::vector<Tensor> output_scratch_;
  std::vector<Tensor> sequence_inputs_;  // Per-sequence views, reused likewise.
  std::vector<Tensor> sequence_outputs_;
  // Decode steps of several sequences: the views of every sequence at once ([sequence][value]),
  // and each sequence's status.
  std::vector<Tensor> decode_views_;
  size_t views_per_sequence_ = 0;
  std::vector<absl::Status> sequence_status_;
  std::shared_ptr<AlignedBuffer> arena_;
  int64_t unshared_bytes_ = 0;
  std::unique_ptr<dnnl::stream> stream_;
  std::vector<int64_t> node_nanoseconds_;  // Sized only when profiling.
  RunObserver* observer_ = nullptr;
};

}  // namespace favor
