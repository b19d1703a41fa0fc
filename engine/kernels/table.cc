// The kernel table of one ISA.
#include "engine/kernels/kernel_impl.h"

namespace favor::kernels::FAVOR_KERNEL_NS {

const KernelTable& Table() {
  static constexpr KernelTable kTable = {
#if defined(__AVX512F__)
    .isa = Isa::kAvx512,
#elif defined(__AVX2__)
    .isa = Isa::kAvx2,
#else
    .isa = Isa::kScalar,
#endif
    .add = &Add,
    .mul = &Mul,
    .rms_norm = &RmsNorm,
    .layer_norm = &LayerNorm,
    .silu = &Silu,
    .swiglu = &SwiGlu,
    .gelu = &Gelu,
    .geglu = &GeGlu,
    .soft_cap = &SoftCap,
    .softmax = &Softmax,
    .rope = &Rope,
    .dot = &Dot,
    .attention_row = &AttentionRow,
    .attention_tile = &AttentionTile,
    .exp_shifted = &ExpShifted,
    .max = &Max,
    .axpy = &Axpy,
    .scale = &Scale,
    .gemm = &Gemm,
    .tail_decode = &TailDecode,
    .matvec_bf16 = &MatVecBf16,
    .quantize_q8 = &QuantizeQ8,
    .quant_matmul = kQuantMatMul,
    .quant_to_f32 = kQuantToF32,
    .interleaved_matmul = kInterleavedMatMul,
    .f16_matmul = &F16MatMul,
    .bf16_matmul = &BF16MatMul,
    .f32_matmul = &F32MatMul,
    .f16_to_f32 = &F16ToF32,
    .bf16_to_f32 = &BF16ToF32,
    .f32_to_bf16 = &F32ToBF16,
  };
  return kTable;
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
