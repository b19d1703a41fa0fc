#include "engine/graph/executor.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/core/checked_math.h"
#include "engine/core/dnnl_context.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/core/threading.h"
#include "engine/graph/memory_plan.h"

namespace favor {

int64_t GraphState::NumBytes() const {
  int64_t total = 0;
  for (const auto& state : states_) {
    if (state != nullptr) total += state->NumBytes();
  }
  return total;
}

void GraphState::Reset() {
  for (const auto& state : states_) {
    if (state != nullptr) state->Reset();
  }
  position_ = 0;
}

absl::Status GraphState::ExtendByRepeating(int64_t depth) {
  if (position_ <= 0 || depth < position_ || depth > max_context_) {
    return absl::InvalidArgumentError(absl::StrCat("cannot extend a sequence of ", position_,
                                                   " tokens to ", depth, " (context ", max_context_,
                                                   "); it must hold a token first"));
  }
  for (const auto& state : states_) {
    if (state != nullptr) FAVOR_RETURN_IF_ERROR(state->ExtendByRepeating(position_, depth));
  }
  position_ = depth;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(std::shared_ptr<const Graph> graph,
                                                           const ExecutorOptions& options) {
  if (graph == nullptr) return absl::InvalidArgumentError("Executor: null graph");
  if (options.max_seq_len <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Executor: max_seq_len must be positive, got ", options.max_seq_len));
  }
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Executor: thread count must be >= 0, got ", options.threads));
  }
  FAVOR_RETURN_IF_ERROR(graph->Validate());
  kernels::Isa isa;
  if (options.isa.has_value()) {
    if (!kernels::IsSupported(*options.isa)) {
      return absl::FailedPreconditionError(
          absl::StrCat("this CPU does not support ISA ", kernels::IsaName(*options.isa)));
    }
    isa = *options.isa;
  } else {
    FAVOR_ASSIGN_OR_RETURN(isa, kernels::IsaFromEnvironment());
  }

  std::unique_ptr<Executor> executor(new Executor());
  Executor& e = *executor;
  e.graph_ = std::move(graph);
  e.kernels_ = &kernels::GetKernels(isa);
  e.threads_ = options.threads > 0 ? options.threads : PhysicalCoreCount();
  e.max_seq_len_ = options.max_seq_len;
  if (options.max_sequences <= 0 || options.max_sequences > options.max_seq_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("Executor: max_sequences must be in [1, max_seq_len = ", options.max_seq_len,
                     "], got ", options.max_sequences));
  }
  e.max_sequences_ = options.max_sequences;
  const Graph& g = *e.graph_;
  FAVOR_ASSIGN_OR_RETURN(const std::vector<NodeId> order, g.TopologicalOrder());

  // Lifetimes: a node output lives from its producing step to its last reader (graph outputs to
  // the end); a node's workspace lives during its own step.
  const int num_steps = static_cast<int>(order.size());
  std::vector<int> first_step(static_cast<size_t>(g.num_values()), -1);
  std::vector<int> last_step(static_cast<size_t>(g.num_values()), -1);
  for (int step = 0; step < num_steps; ++step) {
    const Node& n = g.node(order[static_cast<size_t>(step)]);
    for (ValueId out : n.outputs) first_step[static_cast<size_t>(out)] = step;
    for (ValueId in : n.inputs) last_step[static_cast<size_t>(in)] = step;
  }
  for (ValueId out : g.outputs()) last_step[static_cast<size_t>(out)] = num_steps;

  std::vector<BufferRequest> requests;
  std::vector<ValueId> request_values;  // Value per request; -1 - step for workspaces.
  for (int step = 0; step < num_steps; ++step) {
    const Node& n = g.node(order[static_cast<size_t>(step)]);
    std::vector<TensorSpec> resolved_inputs;
    for (ValueId in : n.inputs) {
      const TensorSpec& spec = g.value(in).spec;
      resolved_inputs.push_back({spec.dtype, spec.shape.Resolve(e.max_seq_len_, e.max_sequences_)});
    }
    for (ValueId out : n.outputs) {
      const TensorSpec& spec = g.value(out).spec;
      FAVOR_ASSIGN_OR_RETURN(
          const int64_t bytes,
          BytesFor(spec.dtype, spec.shape.Resolve(e.max_seq_len_, e.max_sequences_).NumElements()));
      // An output nobody reads still needs a buffer for the op to write.
      const int last = std::max(last_step[static_cast<size_t>(out)], step);
      requests.push_back({bytes, step, last});
      request_values.push_back(out);
    }
    int64_t workspace = n.op->WorkspaceBytes(resolved_inputs);
    int64_t sequence_workspace = 0;
    if (n.op->RunsPerSequence() && e.max_sequences_ > 1) {
      std::vector<TensorSpec> one_token;
      for (ValueId in : n.inputs) {
        const TensorSpec& spec = g.value(in).spec;
        one_token.push_back({spec.dtype, spec.shape.Resolve(1, 1)});
      }
      const auto alignment = static_cast<int64_t>(kTensorAlignment);
      sequence_workspace =
          (n.op->WorkspaceBytes(one_token) + alignment - 1) / alignment * alignment;
      workspace = std::max(workspace, sequence_workspace * e.max_sequences_);
    }
    if (workspace > 0) {
      requests.push_back({workspace, step, step});
      request_values.push_back(-1 - step);
    }
    e.steps_.push_back({order[static_cast<size_t>(step)], -1, workspace, false,
                        e.max_sequences_ > 1 && n.op->RunsPerSequence() ? sequence_workspace : -1});
  }
  const MemoryPlan plan = PlanMemory(requests, static_cast<int64_t>(kTensorAlignment));
  e.unshared_bytes_ = plan.unshared_bytes;
  auto arena = AlignedBuffer::Create(static_cast<size_t>(plan.arena_bytes));
  if (!arena.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat("executor arena of ", plan.arena_bytes >> 20,
                                                     " MiB for max_seq_len ", e.max_seq_len_, ": ",
                                                     arena.status().message()));
  }
  e.arena_ = *std::move(arena);

  e.value_offsets_.assign(static_cast<size_t>(g.num_values()), -1);
  for (size_t r = 0; r < requests.size(); ++r) {
    if (request_values[r] >= 0) {
      e.value_offsets_[static_cast<size_t>(request_values[r])] = plan.offsets[r];
      e.arena_values_.push_back(request_values[r]);
    } else {
      e.steps_[static_cast<size_t>(-1 - request_values[r])].workspace_offset = plan.offsets[r];
    }
  }
  e.value_tensors_.resize(static_cast<size_t>(g.num_values()));
  size_t max_inputs = 0, max_outputs = 0;
  for (ValueId id = 0; id < g.num_values(); ++id) {
    if (g.value(id).kind == ValueKind::kConstant) {
      e.value_tensors_[static_cast<size_t>(id)] = g.value(id).constant;
    }
  }
  for (const Step& step : e.steps_) {
    max_inputs = std::max(max_inputs, g.node(step.node).inputs.size());
    max_outputs = std::max(max_outputs, g.node(step.node).outputs.size());
  }
  e.input_scratch_.reserve(max_inputs);
  e.output_scratch_.reserve(max_outputs);
  e.sequence_inputs_.reserve(max_inputs);
  e.sequence_outputs_.reserve(max_outputs);
  e.views_per_sequence_ = max_inputs + max_outputs;
  e.decode_views_.resize(e.views_per_sequence_ * static_cast<size_t>(e.max_sequences_));
  e.sequence_status_.resize(static_cast<size_t>(e.max_sequences_));
  e.outputs_.resize(g.outputs().size());
  if (options.profile) e.node_nanoseconds_.assign(static_cast<size_t>(g.num_nodes()), 0);
  try {
    e.stream_ = std::make_unique<dnnl::stream>(CpuEngine());
  } catch (const dnnl::error& error) {
    return absl::InternalError(absl::StrCat("cannot create a oneDNN stream: ", error.what()));
  }
  if (options.verbose) std::fprintf(stderr, "favor: executor: %s\n", e.PlanSummary().c_str());
  return executor;
}

absl::StatusOr<std::unique_ptr<GraphState>> Executor::CreateState(
    const StateOptions& options) const {
  if (options.max_context <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_context must be positive, got ", options.max_context));
  }
  auto state = std::make_unique<GraphState>();
  state->graph_ = graph_.get();
  state->max_context_ = options.max_context;
  state->states_.resize(static_cast<size_t>(graph_->num_nodes()));
  for (const Step& step : steps_) {
    const Node& n = graph_->node(step.node);
    auto op_state = n.op->CreateState(options);
    if (!op_state.ok()) {
      return WithContext(op_state.status(), absl::StrCat("state of node '", n.name, "'"));
    }
    if (*op_state != nullptr && !n.op->RunsPerSequence()) {
      return absl::InternalError(absl::StrCat("node '", n.name, "' (", n.op->type(),
                                              ") keeps state but does not run per sequence"));
    }
    state->states_[static_cast<size_t>(step.node)] = *std::move(op_state);
  }
  return state;
}

int64_t Executor::StateBytes(const StateOptions& options) const {
  int64_t total = 0;
  for (const Step& step : steps_) {
    total = SaturatingAdd(total, graph_->node(step.node).op->StateBytes(options));
  }
  return total;
}

int64_t Executor::arena_bytes() const { return static_cast<int64_t>(arena_->size()); }

std::string Executor::PlanSummary() const {
  return absl::StrFormat(
      "isa %s, %d threads, %zu steps, arena %.2f MiB for %zu buffers at T<=%d "
      "(unshared %.2f MiB), %s",
      kernels::IsaName(kernels_->isa), threads_, steps_.size(),
      static_cast<double>(arena_bytes()) / (1 << 20), arena_values_.size(), max_seq_len_,
      static_cast<double>(unshared_bytes_) / (1 << 20), DnnlDescription());
}

void Executor::SetObserver(RunObserver* observer) {
  observer_ = observer;
  for (Step& step : steps_) {
    step.observed = observer != nullptr && observer->Observes(step.node, graph_->node(step.node));
  }
}

absl::Status Executor::BindInputs(std::span<const Tensor> inputs, int64_t* seq_len) {
  const Graph& g = *graph_;
  if (inputs.size() != g.inputs().size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph takes ", g.inputs().size(), " inputs, got ", inputs.size()));
  }
  int64_t bound = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g.value(g.inputs()[i]);
    const Tensor& t = inputs[i];
    bool matches = t.dtype() == v.spec.dtype && t.rank() == v.spec.shape.rank() && !t.empty() &&
                   t.IsContiguous();
    for (int d = 0; matches && d < t.rank(); ++d) {
      const int64_t expected = v.spec.shape.dim(d);
      if (expected == kSeqLen) {
        if (bound >= 0 && t.dim(d) != bound) matches = false;
        bound = t.dim(d);
      } else if (t.dim(d) != expected) {
        matches = false;
      }
    }
    if (!matches) {
      return absl::InvalidArgumentError(absl::StrCat("input '", v.name, "': expected ",
                                                     v.spec.ToString(), " (contiguous), got ",
                                                     t.DebugString()));
    }
    value_tensors_[static_cast<size_t>(g.inputs()[i])] = t;
  }
  *seq_len = bound < 0 ? 1 : bound;
  if (*seq_len < 1 || *seq_len > max_seq_len_) {
    return absl::InvalidArgumentError(
        absl::StrCat("a run takes 1 to ", max_seq_len_, " tokens (max_seq_len), got ", *seq_len));
  }
  return absl::OkStatus();
}

absl::Status Executor::Run(std::span<const Tensor> inputs, GraphState& state) {
  int64_t tokens = 1;
  // T is the inputs' symbolic dimension; BindInputs checks it again in the run.
  const Graph& g = *graph_;
  for (size_t i = 0; i < inputs.size() && i < g.inputs().size(); ++i) {
    const Shape& shape = g.value(g.inputs()[i]).spec.shape;
    for (int d = 0; d < shape.rank() && d < inputs[i].rank(); ++d) {
      if (shape.dim(d) == kSeqLen) tokens = inputs[i].dim(d);
    }
  }
  const SequenceRun one{&state, tokens};
  return Run(inputs, std::span<const SequenceRun>(&one, 1));
}

absl::Status Executor::Run(std::span<const Tensor> inputs, std::span<const SequenceRun> sequences) {
  const int64_t num_sequences = static_cast<int64_t>(sequences.size());
  if (num_sequences < 1 || num_sequences > max_sequences_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a run advances 1 to ", max_sequences_, " sequences (max_sequences), got ", num_sequences));
  }
  int64_t seq_len = 0;
  FAVOR_RETURN_IF_ERROR(BindInputs(inputs, &seq_len));
  int64_t total = 0;
  for (size_t s = 0; s < sequences.size(); ++s) {
    const SequenceRun& part = sequences[s];
    if (part.state == nullptr || part.state->graph_ != graph_.get()) {
      return absl::InvalidArgumentError(
          "Executor::Run: a state is missing or was created for another graph");
    }
    for (size_t other = 0; other < s; ++other) {
      if (sequences[other].state == part.state) {
        return absl::InvalidArgumentError("Executor::Run: a sequence appears twice in one run");
      }
    }
    if (part.tokens < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Executor::Run: sequence ", s, " has ", part.tokens, " tokens"));
    }
    // Checked before any op runs, so that a refused step leaves every state untouched.
    const GraphState& state = *part.state;
    if (part.tokens > state.max_context_ - state.position_) {
      return absl::OutOfRangeError(absl::StrCat("context full: ", state.position_, " + ",
                                                part.tokens, " tokens exceed the context of ",
                                                state.max_context_));
    }
    total += part.tokens;
  }
  if (total != seq_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("Executor::Run: the sequences have ", total, " tokens, the inputs ", seq_len));
  }
  const Graph& g = *graph_;
  std::byte* arena = arena_->data();
  for (ValueId id : arena_values_) {
    const TensorSpec& spec = g.value(id).spec;
    value_tensors_[static_cast<size_t>(id)] =
        Tensor::Borrow(arena + value_offsets_[static_cast<size_t>(id)], spec.dtype,
                       spec.shape.Resolve(seq_len, num_sequences));
  }

  ScopedThreadCount scoped_threads(threads_);  // oneDNN reads OpenMP's setting.
  RunContext ctx;
  ctx.seq_len = seq_len;
  ctx.start_pos = sequences.front().state->position_;
  ctx.kernels = kernels_;
  ctx.threads = threads_;
  ctx.stream = stream_.get();
  const bool profiling = !node_nanoseconds_.empty();
  for (const Step& step : steps_) {
    const Node& n = g.node(step.node);
    input_scratch_.clear();
    output_scratch_.clear();
    for (ValueId in : n.inputs) input_scratch_.push_back(value_tensors_[static_cast<size_t>(in)]);
    for (ValueId out : n.outputs) {
      output_scratch_.push_back(value_tensors_[static_cast<size_t>(out)]);
    }
    ctx.workspace = step.workspace_bytes > 0
                        ? std::span<std::byte>(arena + step.workspace_offset,
                                               static_cast<size_t>(step.workspace_bytes))
                        : std::span<std::byte>();
    const auto start =
        profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    const absl::Status status =
        num_sequences > 1 && n.op->RunsPerSequence()
            ? RunPerSequence(step, ctx, sequences)
            : n.op->Run(ctx, input_scratch_, output_scratch_,
                        sequences.front().state->states_[static_cast<size_t>(step.node)].get());
    if (profiling) {
      node_nanoseconds_[static_cast<size_t>(step.node)] +=
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                               start)
              .count();
    }
    if (!status.ok()) {
      return WithContext(status, absl::StrCat("node '", n.name, "' (", n.op->type(), ")"));
    }
    if (step.observed) {
      FAVOR_RETURN_IF_ERROR(observer_->Observe(step.node, ctx, input_scratch_, output_scratch_));
    }
  }
  for (size_t i = 0; i < outputs_.size(); ++i) {
    outputs_[i] = value_tensors_[static_cast<size_t>(g.outputs()[i])];
  }
  for (const SequenceRun& part : sequences) part.state->position_ += part.tokens;
  return absl::OkStatus();
}

absl::Status Executor::RunPerSequence(const Step& step, RunContext& ctx,
                                      std::span<const SequenceRun> sequences) {
  const Graph& g = *graph_;
  const NodeId id = step.node;
  const Node& node = g.node(id);
  const bool decode = static_cast<int64_t>(sequences.size()) == ctx.seq_len;
  if (decode && step.sequence_workspace_bytes >= 0 && threads_ > 1) {
    return DecodePerSequence(step, ctx, sequences);
  }
  // The view of one sequence: its rows of a [T, ...] value, its row of an [S, ...] one; other
  // values (constants) whole.
  auto view = [&](ValueId value, const Tensor& whole, int64_t row, int64_t rows,
                  int64_t sequence) -> absl::StatusOr<Tensor> {
    const Shape& shape = g.value(value).spec.shape;
    if (shape.rank() == 0) return whole;
    if (shape.dim(0) == kSeqLen) return whole.Slice(row, row + rows);
    if (shape.dim(0) == kSequences) return whole.Slice(sequence, sequence + 1);
    return whole;
  };
  const int64_t whole_len = ctx.seq_len;
  const int64_t whole_start = ctx.start_pos;
  int64_t row = 0;
  for (size_t s = 0; s < sequences.size(); ++s) {
    const SequenceRun& part = sequences[s];
    sequence_inputs_.clear();
    sequence_outputs_.clear();
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      FAVOR_ASSIGN_OR_RETURN(Tensor slice, view(node.inputs[i], input_scratch_[i], row, part.tokens,
                                                static_cast<int64_t>(s)));
      sequence_inputs_.push_back(std::move(slice));
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      FAVOR_ASSIGN_OR_RETURN(Tensor slice, view(node.outputs[o], output_scratch_[o], row,
                                                part.tokens, static_cast<int64_t>(s)));
      sequence_outputs_.push_back(std::move(slice));
    }
    ctx.seq_len = part.tokens;
    ctx.start_pos = part.state->position_;
    const absl::Status status = node.op->Run(ctx, sequence_inputs_, sequence_outputs_,
                                             part.state->states_[static_cast<size_t>(id)].get());
    if (!status.ok()) {
      return WithContext(status, absl::StrCat("sequence ", s));
    }
    row += part.tokens;
  }
  ctx.seq_len = whole_len;
  ctx.start_pos = whole_start;
  return absl::OkStatus();
}

absl::Status Executor::DecodePerSequence(const Step& step, const RunContext& ctx,
                                         std::span<const SequenceRun> sequences) {
  // One token per sequence: attention over each one's state is small work, and handing each
  // sequence its own thread costs one fork instead of one per sequence (a thread per head of a
  // single token barely pays for waking it).
  const Graph& g = *graph_;
  const Node& node = g.node(step.node);
  const size_t inputs = node.inputs.size(), outputs = node.outputs.size();
  // Every value here has T rows or S rows, one per sequence in a decode step; others are whole.
  auto view = [&](ValueId value, const Tensor& whole, int64_t s) -> absl::StatusOr<Tensor> {
    const Shape& shape = g.value(value).spec.shape;
    if (shape.rank() > 0 && (shape.dim(0) == kSeqLen || shape.dim(0) == kSequences)) {
      return whole.Slice(s, s + 1);
    }
    return whole;
  };
  const auto count = static_cast<int64_t>(sequences.size());
  for (int64_t s = 0; s < count; ++s) {
    Tensor* views = decode_views_.data() + static_cast<size_t>(s) * views_per_sequence_;
    for (size_t i = 0; i < inputs; ++i) {
      FAVOR_ASSIGN_OR_RETURN(views[i], view(node.inputs[i], input_scratch_[i], s));
    }
    for (size_t o = 0; o < outputs; ++o) {
      FAVOR_ASSIGN_OR_RETURN(views[inputs + o], view(node.outputs[o], output_scratch_[o], s));
    }
  }
  ParallelFor(count, threads_, 1, [&](int64_t s) {
    const SequenceRun& part = sequences[static_cast<size_t>(s)];
    RunContext local = ctx;
    local.seq_len = 1;
    local.start_pos = part.state->position_;
    local.threads = 1;
    local.workspace =
        step.sequence_workspace_bytes > 0
            ? ctx.workspace.subspan(static_cast<size_t>(s * step.sequence_workspace_bytes),
                                    static_cast<size_t>(step.sequence_workspace_bytes))
            : std::span<std::byte>();
    Tensor* views = decode_views_.data() + static_cast<size_t>(s) * views_per_sequence_;
    sequence_status_[static_cast<size_t>(s)] = node.op->Run(
        local, std::span<const Tensor>(views, inputs), std::span<Tensor>(views + inputs, outputs),
        part.state->states_[static_cast<size_t>(step.node)].get());
  });
  for (int64_t s = 0; s < count; ++s) {
    if (!sequence_status_[static_cast<size_t>(s)].ok()) {
      return WithContext(sequence_status_[static_cast<size_t>(s)], absl::StrCat("sequence ", s));
    }
  }
  return absl::OkStatus();
}

}  // namespace favor
