// MatMul: y[T, N] = x[T, K] W, through oneDNN's matmul primitive.
//
// The weight is an attribute, not a graph input: it is converted and reordered once, at
// construction, into the blocked layout oneDNN prefers, so that runs stream packed weights. The
// layout is the one picked for prefill shapes; decode (T = 1) primitives reuse it (oneDNN's brgemm
// matmul picks the same layout for both). Primitives are created per distinct T on first use and
// cached. With bf16 compute the weights are stored in bf16 and prefill activations are rounded to
// bf16 in the workspace; accumulation stays f32. Decode steps (T <= kMatVecMaxRows) with bf16
// weights run the engine's own matrix-vector kernel over a row-major bf16 copy instead: it streams
// each weight once at memory bandwidth, where oneDNN's T = 1 path without AVX512_BF16 hardware
// emulates bf16 and is compute bound. The copy costs the same bytes as the packed weights. Where
// oneDNN has no bf16 matmul at all (AVX2 CPUs), every T runs that kernel, four rows at a time.
//
// Weights read in place (matmul_in_place.cc) are not copied at all: the op keeps a view of the
// stored rows (usually the memory-mapped file). Those are the GGML block formats (Q8_0, Q4_0,
// ..., Q6_K; `compute` does not apply to them), multiplied by activations quantized to int8 per
// block of 32 in the workspace (as llama.cpp does), and f16/bf16 weights with f32 compute,
// widened in registers. Prefill (T >= 16) widens blocks of 256 weight rows in the workspace and
// runs oneDNN on them: to bf16 for quantized weights on a CPU with AVX512_BF16 (twice the int8
// kernels' rate there), to f32 for 16-bit ones (the f32 result, exactly); a product of T rows
// pays for widening its weights many times over.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <mutex>
#include <string>
#include <unordered_map>

#include "engine/core/storage.h"
#include "engine/kernels/kernel_table.h"
#include "engine/ops/op.h"

namespace favor {

enum class WeightLayout {
  kOutByIn,  // W stored as [N, K] (Llama / PyTorch Linear / GGUF convention).
  kInByOut,  // W stored as [K, N].
};

struct MatMulOptions {
  std::string weight_name;  // For dumps and errors.
  WeightLayout layout = WeightLayout::kOutByIn;
  DType compute = DType::kF32;  // kF32 or kBF16 (needs a CPU with AVX512_BF16 for speed).
};

class MatMulOp final : public Op {
 public:
  // `weight` is f32, f16 or bf16, copied into the packed layout (the source may be released
  // afterwards), or a quantized type, kept as it is (a view that shares the source's storage).
  static absl::StatusOr<std::shared_ptr<MatMulOp>> Create(const Tensor& weight,
                                                          const MatMulOptions& options);

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  // Bytes of weights the op holds beyond its source (0 for quantized weights read in place).
  int64_t PackedWeightBytes() const;
  // Whether the weights are read where they are (quantized, usually the mapped file) rather than
  // from a packed copy; their type as read, and their bytes either way.
  bool ReadsWeightsInPlace() const { return !stored_weights_.empty(); }
  DType weight_type() const {
    return ReadsWeightsInPlace() ? stored_weights_.dtype() : options_.compute;
  }
  int64_t WeightBytes() const {
    return ReadsWeightsInPlace() ? stored_weights_.NumBytes() : PackedWeightBytes();
  }
  // Whether quantized weights were repacked once, 8 rows interleaved, for the decode kernels
  // (engine/core/quant_interleaved.h): then the file's pages are released and only the repacked
  // copy is read.
  bool InterleavesWeights() const { return interleaved_weights_ != nullptr; }
  // oneDNN's name for the implementation it chose, e.g. "brg:avx512_core".
  const std::string& implementation() const { return implementation_; }

  absl::string_view type() const override { return "MatMul"; }
  std::string Attributes() const override;
  absl::StatusOr<std::vector<TensorSpec>> InferOutputs(
      std::span<const TensorSpec> inputs) const override;
  int64_t WorkspaceBytes(std::span<const TensorSpec> inputs) const override;
  absl::Status Run(const RunContext& ctx, std::span<const Tensor> inputs, std::span<Tensor> outputs,
                   OpState* state) const override;

 private:
  MatMulOp(MatMulOptions options, int64_t in_features, int64_t out_features);
  // A primitive and the scratchpad it needs. Primitives are shared by every session on the model,
  // possibly running on several threads at once: oneDNN allows that only with a user-managed
  // scratchpad, which each run takes from its own session's workspace.
  struct Primitive {
    dnnl::matmul matmul;
    dnnl::memory::desc scratchpad;
  };
  // A copy of the cached handle (cheap: reference counted), safe if the cache evicts it.
  absl::StatusOr<Primitive> PrimitiveFor(int64_t rows) const;
  int64_t ConvertedSourceBytes(int64_t rows) const;
  // Weights read in place (matmul_in_place.cc).
  absl::Status ReadInPlace(const Tensor& weight, const std::string& context);
  absl::Status InterleaveForDecode(const Tensor& weight);
  int64_t InterleavedGroupBytes() const;  // Bytes of 8 interleaved rows; 0 without a layout.
  int64_t InPlaceWorkspaceBytes(int64_t rows) const;
  absl::Status RunInPlace(const RunContext& ctx, const Tensor& x, Tensor& y) const;
  absl::Status RunQuantized(const RunContext& ctx, const Tensor& x, Tensor& y) const;
  absl::Status RunStoredRows(const RunContext& ctx, const Tensor& x, Tensor& y) const;
  absl::Status RunWidened(const RunContext& ctx, const Tensor& x, Tensor& y) const;
  // oneDNN's matmul of `rows` x K by a block of `n` weight rows widened to prefill_type_, writing
  // into rows of out_features_ floats.
  absl::StatusOr<Primitive> PrefillPrimitiveFor(int64_t rows, int64_t n) const;
  dnnl::memory::desc SourceDesc(int64_t rows) const;
  dnnl::memory::desc DestinationDesc(int64_t rows) const;

  MatMulOptions options_;
  int64_t in_features_;
  int64_t out_features_;
  dnnl::memory packed_weights_;
  std::shared_ptr<AlignedBuffer> decode_weights_;  // bf16 [N, K] row-major; bf16 compute only.
  std::string implementation_;
  bool matvec_only_ = false;  // bf16 without a oneDNN bf16 matmul: matvec_bf16 for every T.
  Tensor stored_weights_;     // [N, K] read in place; empty for packed copies.
  // The same weights, 8 rows interleaved, when their format has that layout and N is a multiple
  // of 8; every kernel then reads these instead.
  std::shared_ptr<AlignedBuffer> interleaved_weights_;
  // Read in place: the type prefill widens weight blocks to for oneDNN (f32 or bf16), or f32 with
  // widen_for_prefill_ false (the kernels serve every T).
  bool widen_for_prefill_ = false;
  DType prefill_type_ = DType::kF32;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<int64_t, Primitive> primitives_;  // Keyed by T; bounded.
  // Keyed by T * kQuantPrefillBlock + n (n < kQuantPrefillBlock: the last block); bounded.
  mutable std::unordered_map<int64_t, Primitive> prefill_primitives_;
};

}  // namespace favor
