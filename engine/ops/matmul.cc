#include "engine/ops/matmul.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/dnnl_context.h"
#include "engine/core/external_call.h"
#include "engine/core/half.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/kernels/kernels.h"
#include "engine/ops/matmul_internal.h"
#include "engine/ops/op_checks.h"

namespace favor {
namespace {

using dnnl::memory;

using matmul_internal::FromDnnlError;
using matmul_internal::kLayoutProbeRows;
using matmul_internal::kMaxCachedPrimitives;
using matmul_internal::RoundUp64;
using matmul_internal::UserScratchpad;

memory::data_type ToDnnl(DType dtype) {
  return dtype == DType::kBF16 ? memory::data_type::bf16 : memory::data_type::f32;
}

}  // namespace

MatMulOp::MatMulOp(MatMulOptions options, int64_t in_features, int64_t out_features)
    : options_(std::move(options)), in_features_(in_features), out_features_(out_features) {}

memory::desc MatMulOp::SourceDesc(int64_t rows) const {
  return memory::desc({rows, in_features_}, ToDnnl(options_.compute), memory::format_tag::ab);
}

memory::desc MatMulOp::DestinationDesc(int64_t rows) const {
  return memory::desc({rows, out_features_}, memory::data_type::f32, memory::format_tag::ab);
}

absl::StatusOr<std::shared_ptr<MatMulOp>> MatMulOp::Create(const Tensor& weight,
                                                           const MatMulOptions& options) {
  const std::string context = absl::StrCat("MatMul weight '", options.weight_name, "'");
  if (weight.rank() != 2 || weight.NumElements() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": expected a non-empty 2-D tensor, got ", weight.DebugString()));
  }
  const DTypeInfo& weight_type = GetDTypeInfo(weight.dtype());
  if (!weight_type.weights()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": unsupported dtype ", DTypeName(weight.dtype())));
  }
  if (options.compute != DType::kF32 && options.compute != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat(
        context, ": compute type must be f32 or bf16, got ", DTypeName(options.compute)));
  }
  const bool out_by_in = options.layout == WeightLayout::kOutByIn;
  const int64_t in_features = out_by_in ? weight.dim(1) : weight.dim(0);
  const int64_t out_features = out_by_in ? weight.dim(0) : weight.dim(1);
  std::shared_ptr<MatMulOp> op(new MatMulOp(options, in_features, out_features));

  // f32 and 16-bit weights are read in place where their rows are the [N, K] rows the kernels
  // stream (the file's pages, no copy); another layout, or bf16 compute, takes the packed path
  // below. Block formats have no other layout.
  const bool stored_rows = options.compute == DType::kF32 && out_by_in &&
                           (weight.dtype() == DType::kF16 || weight.dtype() == DType::kBF16 ||
                            weight.dtype() == DType::kF32) &&
                           weight.stride(0) == in_features;
  if (weight_type.quantized() || stored_rows) {
    FAVOR_RETURN_IF_ERROR(op->ReadInPlace(weight, context));
    return op;
  }

  // oneDNN reorders convert f32 <-> bf16 only: widen any other type to f32 first, with the type's
  // own conversion (load time only).
  Tensor source = weight;
  if (weight.dtype() != DType::kF32 && weight.dtype() != DType::kBF16) {
    FAVOR_ASSIGN_OR_RETURN(source, Tensor::Allocate(DType::kF32, weight.shape()));
    weight_type.to_f32(weight.raw_data(), source.mutable_data<float>(), weight.NumElements());
  }

  const bool bf16 = options.compute == DType::kBF16;
  try {
    const dnnl::engine& engine = CpuEngine();
    const memory::desc any_weights({in_features, out_features}, ToDnnl(options.compute),
                                   memory::format_tag::any);
    const dnnl::matmul::primitive_desc probe(
        dnnl::matmul::desc(op->SourceDesc(kLayoutProbeRows), any_weights,
                           op->DestinationDesc(kLayoutProbeRows)),
        UserScratchpad(), engine);
    op->implementation_ = probe.impl_info_str();
    if (bf16 && op->implementation_.rfind("ref", 0) == 0) {
      throw dnnl::error(dnnl_unimplemented, "only a reference bf16 matmul");
    }
    if (op->implementation_.rfind("ref", 0) == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(context, ": oneDNN has only a reference implementation for ",
                       DTypeName(options.compute), " matmul on this CPU"));
    }
    // The stored weight, viewed as the logical [K, N] matrix: [N, K] row-major is tag "ba".
    const memory::desc stored({in_features, out_features}, ToDnnl(source.dtype()),
                              out_by_in ? memory::format_tag::ba : memory::format_tag::ab);
    memory user(stored, engine, const_cast<void*>(source.raw_data()));
    op->packed_weights_ = memory(probe.weights_desc(), engine);
    dnnl::stream stream(engine);
    dnnl::reorder(user, op->packed_weights_).execute(stream, user, op->packed_weights_);
    stream.wait();
  } catch (const dnnl::error& e) {
    // oneDNN 2.6 has no bf16 matmul below AVX-512 (AVX2 CPUs): every T runs the engine's own
    // bf16 matrix-vector kernel over the decode copy instead, a few rows at a time.
    if (!bf16) return FromDnnlError(e, context);
    op->matvec_only_ = true;
    op->implementation_ = "favor:matvec_bf16";
  }
  if (bf16) {
    std::vector<uint16_t> rows(static_cast<size_t>(in_features * out_features));
    for (int64_t n = 0; n < out_features; ++n) {
      for (int64_t k = 0; k < in_features; ++k) {
        const int64_t at = out_by_in ? n * in_features + k : k * out_features + n;
        rows[n * in_features + k] = source.dtype() == DType::kBF16
                                        ? source.data<uint16_t>()[at]
                                        : F32ToBF16(source.data<float>()[at]);
      }
    }
    FAVOR_ASSIGN_OR_RETURN(op->decode_weights_,
                           AlignedBuffer::Create(static_cast<size_t>(kernels::MatVecPackedElements(
                                                     out_features, in_features)) *
                                                 sizeof(uint16_t)));
    kernels::PackMatVecBf16(rows.data(), out_features, in_features,
                            reinterpret_cast<uint16_t*>(op->decode_weights_->data()));
  }
  // Decode shapes are the hot path: create their primitive now rather than at the first token.
  if (!op->matvec_only_) FAVOR_RETURN_IF_ERROR(op->PrimitiveFor(1).status());
  return op;
}

int64_t MatMulOp::PackedWeightBytes() const {
  if (!stored_weights_.empty()) {
    return interleaved_weights_ != nullptr ? static_cast<int64_t>(interleaved_weights_->size()) : 0;
  }
  return (matvec_only_ ? 0 : static_cast<int64_t>(packed_weights_.get_desc().get_size())) +
         (decode_weights_ != nullptr ? static_cast<int64_t>(decode_weights_->size()) : 0);
}

std::string MatMulOp::Attributes() const {
  const DType stored = stored_weights_.empty() ? options_.compute : stored_weights_.dtype();
  return absl::StrCat("weight=", options_.weight_name, " [", in_features_, " x ", out_features_,
                      "] ", DTypeName(stored), " ", implementation_);
}

absl::StatusOr<std::vector<TensorSpec>> MatMulOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, 1));
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 0, DType::kF32));
  FAVOR_RETURN_IF_ERROR(CheckRank(inputs, 0, 2));
  FAVOR_RETURN_IF_ERROR(CheckDim(inputs, 0, 1, in_features_));
  return std::vector<TensorSpec>{{DType::kF32, Shape{inputs[0].shape.dim(0), out_features_}}};
}

int64_t MatMulOp::ConvertedSourceBytes(int64_t rows) const {
  if (options_.compute != DType::kBF16 || matvec_only_) return 0;
  return RoundUp64(rows * in_features_ * 2);  // Activations rounded to bf16.
}

// The bf16 copy of the activations, then oneDNN's scratchpad: the larger of the decode (T = 1)
// and the full-batch ones, which covers the T in between in practice (Run falls back to a
// library-allocated scratchpad if one ever needs more).
int64_t MatMulOp::WorkspaceBytes(std::span<const TensorSpec> inputs) const {
  const int64_t rows = inputs[0].shape.dim(0);
  if (!stored_weights_.empty()) return InPlaceWorkspaceBytes(rows);
  if (matvec_only_) return 0;
  int64_t scratchpad = 0;
  for (int64_t t : {int64_t{1}, rows}) {
    auto primitive = PrimitiveFor(t);
    if (primitive.ok()) {
      scratchpad = std::max(scratchpad, static_cast<int64_t>(primitive->scratchpad.get_size()));
    }
  }
  return ConvertedSourceBytes(rows) + RoundUp64(scratchpad);
}

absl::StatusOr<MatMulOp::Primitive> MatMulOp::PrimitiveFor(int64_t rows) const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  auto it = primitives_.find(rows);
  if (it != primitives_.end()) return it->second;
  if (primitives_.size() >= kMaxCachedPrimitives) {
    // Many distinct prompt lengths: drop the prefill primitives, keep the decode one.
    for (auto entry = primitives_.begin(); entry != primitives_.end();) {
      entry = entry->first == 1 ? std::next(entry) : primitives_.erase(entry);
    }
  }
  try {
    const dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(SourceDesc(rows), packed_weights_.get_desc(), DestinationDesc(rows)),
        UserScratchpad(), CpuEngine());
    auto inserted = primitives_.emplace(rows, Primitive{dnnl::matmul(pd), pd.scratchpad_desc()});
    return inserted.first->second;
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, absl::StrCat("MatMul '", options_.weight_name, "' with T=", rows));
  }
}

absl::Status MatMulOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                           std::span<Tensor> outputs, OpState* /*state*/) const {
  const int64_t rows = inputs[0].dim(0);
  if (!stored_weights_.empty()) return RunInPlace(ctx, inputs[0], outputs[0]);
  if (decode_weights_ != nullptr && (rows <= kernels::kMatVecMaxRows || matvec_only_)) {
    // Blocks of output rows (whole groups of the packed layout), split between threads in
    // contiguous ranges; each block serves every input row (kMatVecMaxRows at a time) while its
    // weights are in cache.
    constexpr int64_t kBlock = 16 * kernels::kMatVecGroup;
    const int64_t padded_k =
        kernels::MatVecPackedElements(kernels::kMatVecGroup, in_features_) / kernels::kMatVecGroup;
    const auto* weights = reinterpret_cast<const uint16_t*>(decode_weights_->data());
    const float* x = inputs[0].data<float>();
    float* y = outputs[0].mutable_data<float>();
    const int64_t blocks = (out_features_ + kBlock - 1) / kBlock;
    ParallelFor(blocks, ctx.threads, 1, [&](int64_t block) {
      const int64_t first = block * kBlock;
      const int64_t count = std::min(kBlock, out_features_ - first);
      for (int64_t r = 0; r < rows; r += kernels::kMatVecMaxRows) {
        ctx.kernels->matvec_bf16(weights + first * padded_k, count, in_features_,
                                 x + r * in_features_, in_features_,
                                 std::min(kernels::kMatVecMaxRows, rows - r),
                                 y + r * out_features_ + first, out_features_);
      }
    });
    return absl::OkStatus();
  }
  FAVOR_ASSIGN_OR_RETURN(const Primitive primitive, PrimitiveFor(rows));
  void* source = const_cast<void*>(inputs[0].raw_data());
  if (options_.compute == DType::kBF16) {
    auto* converted = reinterpret_cast<uint16_t*>(ctx.workspace.data());
    ctx.kernels->f32_to_bf16(inputs[0].data<float>(), converted, rows * in_features_);
    source = converted;
  }
  try {
    ExternalCallScope external;  // oneDNN allocates its own bookkeeping per execute.
    const dnnl::engine& engine = CpuEngine();
    memory src(SourceDesc(rows), engine, source);
    memory dst(DestinationDesc(rows), engine, outputs[0].mutable_raw_data());
    const int64_t converted = ConvertedSourceBytes(rows);
    const auto scratchpad_bytes = static_cast<int64_t>(primitive.scratchpad.get_size());
    // This session's own scratchpad; a T whose scratchpad outgrew the reservation gets one from
    // oneDNN for this call (correct, merely an allocation).
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, packed_weights_}, {DNNL_ARG_DST, dst}};
    if (scratchpad_bytes > 0) {
      args[DNNL_ARG_SCRATCHPAD] =
          converted + scratchpad_bytes <= static_cast<int64_t>(ctx.workspace.size())
              ? memory(primitive.scratchpad, engine, ctx.workspace.data() + converted)
              : memory(primitive.scratchpad, engine);
    }
    primitive.matmul.execute(*ctx.stream, args);
    ctx.stream->wait();
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, absl::StrCat("MatMul '", options_.weight_name, "'"));
  }
  return absl::OkStatus();
}

}  // namespace favor
