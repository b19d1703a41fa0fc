// The operator interface. An op is stateless and immutable once built: attributes are fixed at
// construction, shapes are inferred at graph-build time, and Run() reads inputs and writes
// preallocated outputs. Per-sequence state (a KV cache) is an OpState owned by the caller.
//
// Recipe for a new op: a header and a .cc in engine/ops (class deriving from Op; InferOutputs
// checks every input with the helpers of op_checks.h; Run calls kernels from ctx.kernels), its
// kernels in engine/kernels with a reference in reference.cc, and a test in tests/ops comparing
// the op on every ISA with the reference at awkward sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/tensor.h"
#include "engine/kernels/kernel_table.h"

namespace dnnl {
struct stream;
}

namespace favor {

struct TensorSpec {
  DType dtype = DType::kF32;
  Shape shape;

  std::string ToString() const;  // "f32[T, 768]"
  friend bool operator==(const TensorSpec& a, const TensorSpec& b) {
    return a.dtype == b.dtype && a.shape == b.shape;
  }
};

// Per-sequence state of a stateful op (for example a KV cache), created by the op and owned by
// the session that runs the graph.
class OpState {
 public:
  virtual ~OpState() = default;
  virtual int64_t NumBytes() const = 0;
  // Forgets the sequence (a new conversation), keeping the memory.
  virtual void Reset() = 0;
  // For benchmarks at a context depth: grows the sequence from `length` to `new_length` tokens
  // without computing them, by repeating what the state holds. What a step costs depends on the
  // depth, not on the contents, so this stands in for a prefill of new_length tokens that would
  // take minutes with exact attention at 32K. Ops without per-position memory only count.
  virtual absl::Status ExtendByRepeating(int64_t length, int64_t new_length) = 0;
};

struct StateOptions {
  int64_t max_context = 2048;  // Tokens a sequence may hold in total.
};

// What one run of a graph tells its ops. A run may advance several sequences at once (continuous
// batching): their tokens are consecutive rows of T. Ops that RunsPerSequence() are then called
// once per sequence, with that sequence's rows, its start position and its state; the others see
// all T rows at once and must not depend on positions.
struct RunContext {
  int64_t seq_len = 0;    // T: tokens in this call.
  int64_t start_pos = 0;  // Position of the first of them in the sequence (per-sequence ops).
  const kernels::KernelTable* kernels = nullptr;
  int threads = 1;
  dnnl::stream* stream = nullptr;  // For ops that call oneDNN.
  std::span<std::byte> workspace;  // Scratch of WorkspaceBytes(), 64-byte aligned.
};

class Op {
 public:
  virtual ~Op() = default;

  virtual absl::string_view type() const = 0;
  // Attributes for dumps, e.g. "eps=1e-05".
  virtual std::string Attributes() const { return {}; }
  // Checks the inputs and returns the outputs' specs. May see the symbolic dimension T.
  virtual absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const = 0;
  // Scratch needed by Run for the given (concrete) input specs.
  virtual int64_t WorkspaceBytes(std::span<const TensorSpec> /*inputs*/) const { return 0; }
  // Stateful ops return their per-sequence state; others nullptr.
  virtual absl::StatusOr<std::unique_ptr<OpState>> CreateState(const StateOptions&) const {
    return std::unique_ptr<OpState>();
  }
  // The bytes CreateState would allocate (saturating at INT64_MAX), so that a session whose state
  // cannot fit is refused before any of it is allocated.
  virtual int64_t StateBytes(const StateOptions&) const { return 0; }
  // Whether the op works within one sequence: it reads positions (ctx.start_pos), keeps state or
  // mixes rows (attention, rotary and learned positions, LastRow). In a run over several
  // sequences the executor calls such an op once per sequence, on views of that sequence's rows
  // (dimensions T) and of its row of S; every stateful op must be one.
  virtual bool RunsPerSequence() const { return false; }
  // Computes outputs from inputs. Inputs and outputs have concrete shapes (T resolved) and are
  // contiguous; outputs are preallocated. Must not allocate on the heap once warmed up.
  virtual absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs,
                           std::span<Tensor> outputs, OpState* state) const = 0;
};

}  // namespace favor
