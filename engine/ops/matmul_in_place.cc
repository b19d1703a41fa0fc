// MatMulOp on weights read where they are stored (see matmul.h): GGML block formats through the
// int8 kernels, f16/bf16 through the 16-bit kernels, and prefill through oneDNN on blocks of
// widened weight rows.
#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/dnnl_context.h"
#include "engine/core/external_call.h"
#include "engine/core/parallel.h"
#include "engine/core/quant_interleaved.h"
#include "engine/core/status.h"
#include "engine/core/threading.h"
#include "engine/kernels/kernels.h"
#include "engine/ops/matmul.h"
#include "engine/ops/matmul_internal.h"

namespace favor {
namespace {

using dnnl::memory;
using matmul_internal::FromDnnlError;
using matmul_internal::kLayoutProbeRows;
using matmul_internal::kMaxCachedPrimitives;
using matmul_internal::RoundUp64;
using matmul_internal::UserScratchpad;

// From this many tokens on, prefill widens the weights for oneDNN (below, the kernels win: the
// widening would cost about as much as the product).
constexpr int64_t kPrefillRows = 16;
// Weight rows widened at a time: a block of 1 to 2 MiB at K = 2048, reused by every token.
constexpr int64_t kPrefillBlock = 256;
// Output rows per thread task of the kernels.
constexpr int64_t kKernelBlock = 16;
static_assert(kKernelBlock % quant::kInterleavedRows == 0);

// Calls tile(first, count, t, tokens) for every block of kKernelBlock output rows (split between
// threads in contiguous ranges) and every group of up to kQuantMaxTokens tokens: each block of
// weights serves every token while it is in cache.
template <typename Tile>
void ForEachKernelTile(const RunContext& ctx, int64_t out_features, int64_t rows, Tile&& tile) {
  const int64_t blocks = (out_features + kKernelBlock - 1) / kKernelBlock;
  ParallelFor(blocks, ctx.threads, 1, [&](int64_t block) {
    const int64_t first = block * kKernelBlock;
    const int64_t count = std::min(kKernelBlock, out_features - first);
    for (int64_t t = 0; t < rows; t += kernels::kQuantMaxTokens) {
      tile(first, count, t, std::min(kernels::kQuantMaxTokens, rows - t));
    }
  });
}

memory::data_type ToDnnl(DType dtype) {
  return dtype == DType::kBF16 ? memory::data_type::bf16 : memory::data_type::f32;
}

bool CpuHasBf16Matmul() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

// The workspace of a widened prefill: activations in the prefill type (none when it is f32),
// a block of weights in that type, the f32 block they pass through (quantized weights), and
// oneDNN's scratchpad.
struct WidenedLayout {
  int64_t source = 0, block = 0, block_f32 = 0, scratchpad = 0;
  int64_t Total() const { return source + block + block_f32 + scratchpad; }
};

}  // namespace

absl::Status MatMulOp::ReadInPlace(const Tensor& weight, const std::string& context) {
  const DTypeInfo& info = GetDTypeInfo(weight.dtype());
  // Rows of whole blocks of input features (GGUF's [N, K] layout; the loader has checked K).
  if (options_.layout != WeightLayout::kOutByIn || weight.stride(0) != in_features_ ||
      (info.quantized() &&
       (in_features_ % info.block_elements != 0 || in_features_ % kernels::kQ8Block != 0))) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": ", info.name, " weights must be contiguous [N, K] rows of whole ",
                     info.block_elements, "-value blocks, got ", weight.DebugString()));
  }
  stored_weights_ = weight;
  FAVOR_RETURN_IF_ERROR(InterleaveForDecode(weight));
  implementation_ = info.quantized() ? absl::StrCat("favor:", info.name, "xq8")
                                     : absl::StrCat("favor:", info.name, "xf32");
  // F16 weights widen to f32 (bf16 would round them); bf16 and quantized ones to bf16 where the
  // CPU has bf16 dot products (quantized ones else use the int8 kernels at every T).
  const bool bf16_exact = info.quantized() || weight.dtype() == DType::kBF16;
  prefill_type_ = bf16_exact && CpuHasBf16Matmul() ? DType::kBF16 : DType::kF32;
  if (!info.quantized() || CpuHasBf16Matmul()) {
    auto probe = PrefillPrimitiveFor(kLayoutProbeRows, std::min(kPrefillBlock, out_features_));
    widen_for_prefill_ = probe.ok();
    if (widen_for_prefill_) {
      absl::StrAppend(&implementation_, ", prefill: widened to ", DTypeName(prefill_type_),
                      " for oneDNN");
    }
    std::lock_guard<std::mutex> lock(cache_mutex_);
    prefill_primitives_.clear();
  }
  return absl::OkStatus();
}

int64_t MatMulOp::InterleavedGroupBytes() const {
  const quant::InterleavedFormat layout = quant::GetInterleavedFormat(stored_weights_.dtype());
  return layout.block_elements == 0
             ? 0
             : in_features_ / layout.block_elements * layout.group_block_bytes;
}

absl::Status MatMulOp::InterleaveForDecode(const Tensor& weight) {
  const DType type = weight.dtype();
  const quant::InterleavedFormat layout = quant::GetInterleavedFormat(type);
  if (layout.block_elements == 0 || out_features_ % quant::kInterleavedRows != 0) {
    return absl::OkStatus();
  }
  const int64_t k = in_features_, groups = out_features_ / quant::kInterleavedRows;
  const int64_t group_bytes = InterleavedGroupBytes();
  const DTypeInfo& info = GetDTypeInfo(type);
  const int64_t row_bytes = k / info.block_elements * info.block_bytes;
  FAVOR_ASSIGN_OR_RETURN(interleaved_weights_,
                         AlignedBuffer::Create(static_cast<size_t>(groups * group_bytes)));
  const auto* rows = static_cast<const std::byte*>(weight.raw_data());
  std::byte* out = interleaved_weights_->data();
  ParallelFor(groups, PhysicalCoreCount(), 16, [&](int64_t g) {
    quant::Interleave(type, rows + g * quant::kInterleavedRows * row_bytes, quant::kInterleavedRows,
                      k, out + g * group_bytes);
  });
  // Only the repacked copy is read from now on (a tied embedding still looks up its rows, which
  // come back one page at a time).
  weight.ReleaseResidency();
  return absl::OkStatus();
}

absl::StatusOr<MatMulOp::Primitive> MatMulOp::PrefillPrimitiveFor(int64_t rows, int64_t n) const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  const int64_t key = rows * kPrefillBlock + (n % kPrefillBlock);
  auto it = prefill_primitives_.find(key);
  if (it != prefill_primitives_.end()) return it->second;
  if (prefill_primitives_.size() >= kMaxCachedPrimitives) prefill_primitives_.clear();
  try {
    const memory::desc source({rows, in_features_}, ToDnnl(prefill_type_), memory::format_tag::ab);
    // The widened block is n rows of K: the logical [K, n] matrix in "ba" order.
    const memory::desc weights({in_features_, n}, ToDnnl(prefill_type_), memory::format_tag::ba);
    const memory::desc destination({rows, n}, memory::data_type::f32,
                                   memory::dims{out_features_, 1});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(source, weights, destination),
                                          UserScratchpad(), CpuEngine());
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
      return absl::UnimplementedError("oneDNN has only a reference matmul for this type here");
    }
    auto inserted =
        prefill_primitives_.emplace(key, Primitive{dnnl::matmul(pd), pd.scratchpad_desc()});
    return inserted.first->second;
  } catch (const dnnl::error& e) {
    return FromDnnlError(e,
                         absl::StrCat("MatMul '", options_.weight_name, "' prefill with T=", rows));
  }
}

int64_t MatMulOp::InPlaceWorkspaceBytes(int64_t rows) const {
  const DTypeInfo& info = GetDTypeInfo(stored_weights_.dtype());
  const int64_t k = in_features_;
  // The kernels: quantized activations (int8 codes, a scale per block, a sum per half block).
  const int64_t kernels = info.quantized() ? RoundUp64(rows * k) +
                                                 RoundUp64(rows * (k / kernels::kQ8Block) * 4) +
                                                 RoundUp64(rows * (k / 16) * 4)
                                           : 0;
  if (!widen_for_prefill_ || rows < kPrefillRows) return kernels;
  const int64_t block = std::min(kPrefillBlock, out_features_);
  const int64_t width = ElementSize(prefill_type_);
  auto primitive = PrefillPrimitiveFor(rows, block);
  const WidenedLayout layout{
      .source = prefill_type_ == DType::kF32 ? 0 : RoundUp64(rows * k * width),
      .block = RoundUp64(block * k * width),
      .block_f32 = prefill_type_ == DType::kF32 ? 0 : RoundUp64(block * k * 4),
      .scratchpad =
          primitive.ok() ? RoundUp64(static_cast<int64_t>(primitive->scratchpad.get_size())) : 0};
  return std::max(kernels, layout.Total());
}

absl::Status MatMulOp::RunInPlace(const RunContext& ctx, const Tensor& x, Tensor& y) const {
  if (widen_for_prefill_ && x.dim(0) >= kPrefillRows) return RunWidened(ctx, x, y);
  if (GetDTypeInfo(stored_weights_.dtype()).quantized()) return RunQuantized(ctx, x, y);
  return RunStoredRows(ctx, x, y);
}

absl::Status MatMulOp::RunWidened(const RunContext& ctx, const Tensor& x, Tensor& y) const {
  const int64_t rows = x.dim(0), k = in_features_;
  const int64_t block_rows = std::min(kPrefillBlock, out_features_);
  const bool f32 = prefill_type_ == DType::kF32;
  const int64_t width = ElementSize(prefill_type_);
  const WidenedLayout layout{.source = f32 ? 0 : RoundUp64(rows * k * width),
                             .block = RoundUp64(block_rows * k * width),
                             .block_f32 = f32 ? 0 : RoundUp64(block_rows * k * 4)};
  std::byte* workspace = ctx.workspace.data();
  void* source = const_cast<float*>(x.data<float>());
  if (!f32) {
    source = workspace;
    ctx.kernels->f32_to_bf16(x.data<float>(), static_cast<uint16_t*>(source), rows * k);
  }
  std::byte* block = workspace + layout.source;
  auto* block_f32 = f32 ? reinterpret_cast<float*>(block)
                        : reinterpret_cast<float*>(workspace + layout.source + layout.block);
  std::byte* scratchpad = workspace + layout.Total();
  const int64_t scratchpad_room = static_cast<int64_t>(ctx.workspace.size()) - layout.Total();

  const DType stored = stored_weights_.dtype();
  const DTypeInfo& info = GetDTypeInfo(stored);
  const int64_t row_bytes = k / info.block_elements * info.block_bytes;
  const auto* weights = static_cast<const std::byte*>(stored_weights_.raw_data());
  const int64_t group_bytes = InterleavedGroupBytes();
  auto widen_row = [&](int64_t index, float* out) {
    const std::byte* row = weights + index * row_bytes;
    if (InterleavesWeights()) {
      // The row back in the file's layout, then dequantized as a file row is.
      std::vector<std::byte> file_row(static_cast<size_t>(row_bytes));
      quant::DeinterleaveRow(
          stored, interleaved_weights_->data() + index / quant::kInterleavedRows * group_bytes,
          index % quant::kInterleavedRows, k, file_row.data());
      ctx.kernels->quant_to_f32[static_cast<int>(stored)](file_row.data(), out, k);
    } else if (info.quantized()) {
      ctx.kernels->quant_to_f32[static_cast<int>(stored)](row, out, k);
    } else if (stored == DType::kF32) {
      std::memcpy(out, row, static_cast<size_t>(k) * sizeof(float));
    } else if (stored == DType::kF16) {
      ctx.kernels->f16_to_f32(reinterpret_cast<const uint16_t*>(row), out, k);
    } else {
      ctx.kernels->bf16_to_f32(reinterpret_cast<const uint16_t*>(row), out, k);
    }
  };
  // Weights stored in the prefill type (bf16 files) are oneDNN's operand as they are.
  const bool stored_as_prefill = stored == prefill_type_ && !InterleavesWeights();
  for (int64_t first = 0; first < out_features_; first += kPrefillBlock) {
    const int64_t n = std::min(kPrefillBlock, out_features_ - first);
    void* operand = block;
    if (stored_as_prefill) {
      operand = const_cast<std::byte*>(weights + first * row_bytes);
    } else {
      ParallelFor(n, ctx.threads, 8, [&](int64_t r) {
        widen_row(first + r, block_f32 + r * k);
        if (!f32) {
          ctx.kernels->f32_to_bf16(block_f32 + r * k, reinterpret_cast<uint16_t*>(block) + r * k,
                                   k);
        }
      });
    }
    FAVOR_ASSIGN_OR_RETURN(const Primitive primitive, PrefillPrimitiveFor(rows, n));
    try {
      ExternalCallScope external;
      const dnnl::engine& engine = CpuEngine();
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC,
           memory(memory::desc({rows, k}, ToDnnl(prefill_type_), memory::format_tag::ab), engine,
                  source)},
          {DNNL_ARG_WEIGHTS,
           memory(memory::desc({k, n}, ToDnnl(prefill_type_), memory::format_tag::ba), engine,
                  operand)},
          {DNNL_ARG_DST,
           memory(memory::desc({rows, n}, memory::data_type::f32, memory::dims{out_features_, 1}),
                  engine, y.mutable_data<float>() + first)}};
      const auto scratchpad_bytes = static_cast<int64_t>(primitive.scratchpad.get_size());
      if (scratchpad_bytes > 0) {
        // A T whose scratchpad outgrew the reservation gets one from oneDNN for this call.
        args[DNNL_ARG_SCRATCHPAD] = scratchpad_bytes <= scratchpad_room
                                        ? memory(primitive.scratchpad, engine, scratchpad)
                                        : memory(primitive.scratchpad, engine);
      }
      primitive.matmul.execute(*ctx.stream, args);
      ctx.stream->wait();
    } catch (const dnnl::error& e) {
      return FromDnnlError(e, absl::StrCat("MatMul '", options_.weight_name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status MatMulOp::RunQuantized(const RunContext& ctx, const Tensor& x, Tensor& y) const {
  const int64_t rows = x.dim(0), k = in_features_;
  std::byte* workspace = ctx.workspace.data();
  auto* codes = reinterpret_cast<int8_t*>(workspace);
  auto* scales = reinterpret_cast<float*>(workspace + RoundUp64(rows * k));
  auto* sums = reinterpret_cast<float*>(workspace + RoundUp64(rows * k) +
                                        RoundUp64(rows * (k / kernels::kQ8Block) * 4));
  const float* in = x.data<float>();
  ParallelFor(rows, ctx.threads, 16, [&](int64_t t) {
    ctx.kernels->quantize_q8(in + t * k, k, codes + t * k, scales + t * (k / kernels::kQ8Block),
                             sums + t * (k / 16));
  });
  // Activation rows t.. as the kernels take them.
  auto activations = [&](int64_t t) {
    return kernels::Q8Rows{codes + t * k, scales + t * (k / kernels::kQ8Block), sums + t * (k / 16),
                           k};
  };
  const int dtype = static_cast<int>(stored_weights_.dtype());
  float* out = y.mutable_data<float>();
  if (InterleavesWeights()) {
    const kernels::InterleavedMatMulFn kernel = ctx.kernels->interleaved_matmul[dtype];
    const int64_t group_bytes = InterleavedGroupBytes();
    // Blocks of kKernelBlock rows are whole groups (N is a multiple of 8).
    ForEachKernelTile(
        ctx, out_features_, rows, [&](int64_t first, int64_t count, int64_t t, int64_t tokens) {
          kernel(interleaved_weights_->data() + first / quant::kInterleavedRows * group_bytes,
                 count / quant::kInterleavedRows, activations(t), tokens,
                 out + t * out_features_ + first, out_features_);
        });
    return absl::OkStatus();
  }
  const kernels::QuantMatMulFn kernel = ctx.kernels->quant_matmul[dtype];
  const DTypeInfo& info = GetDTypeInfo(stored_weights_.dtype());
  const int64_t row_bytes = k / info.block_elements * info.block_bytes;
  const auto* weights = static_cast<const std::byte*>(stored_weights_.raw_data());
  ForEachKernelTile(ctx, out_features_, rows,
                    [&](int64_t first, int64_t count, int64_t t, int64_t tokens) {
                      kernel(weights + first * row_bytes, row_bytes, count, activations(t), tokens,
                             out + t * out_features_ + first, out_features_);
                    });
  return absl::OkStatus();
}

absl::Status MatMulOp::RunStoredRows(const RunContext& ctx, const Tensor& x, Tensor& y) const {
  const int64_t rows = x.dim(0), k = in_features_;
  const float* in = x.data<float>();
  float* out = y.mutable_data<float>();
  if (stored_weights_.dtype() == DType::kF32) {
    const float* weights = stored_weights_.data<float>();
    ForEachKernelTile(
        ctx, out_features_, rows, [&](int64_t first, int64_t count, int64_t t, int64_t tokens) {
          ctx.kernels->f32_matmul(weights + first * k, count, k, in + t * k, k, tokens,
                                  out + t * out_features_ + first, out_features_);
        });
    return absl::OkStatus();
  }
  const auto kernel =
      stored_weights_.dtype() == DType::kF16 ? ctx.kernels->f16_matmul : ctx.kernels->bf16_matmul;
  const auto* weights = stored_weights_.data<uint16_t>();
  ForEachKernelTile(ctx, out_features_, rows,
                    [&](int64_t first, int64_t count, int64_t t, int64_t tokens) {
                      kernel(weights + first * k, count, k, in + t * k, k, tokens,
                             out + t * out_features_ + first, out_features_);
                    });
  return absl::OkStatus();
}

}  // namespace favor
