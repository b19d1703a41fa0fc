// Declarations of the kernels of one ISA (namespace FAVOR_KERNEL_NS); see kernels.h for what each
// computes. Included only by the per-ISA kernel sources.
#pragma once

#include <cstdint>

#include "engine/kernels/kernel_table.h"

namespace favor::kernels::FAVOR_KERNEL_NS {

void Add(const float* a, const float* b, float* out, int64_t n);
void Mul(const float* a, const float* b, float* out, int64_t n);
void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps);
void LayerNorm(const float* x, const float* weight, const float* bias, float* out, int64_t n,
               float eps);
void Silu(const float* x, float* out, int64_t n);
void SwiGlu(const float* gate, const float* up, float* out, int64_t n);
void Gelu(const float* x, float* out, int64_t n);
void GeGlu(const float* gate, const float* up, float* out, int64_t n);
void SoftCap(const float* x, float* out, int64_t n, float cap);
void Softmax(const float* x, float* out, int64_t n);
void Rope(float* x, const float* cos, const float* sin, int64_t n_heads, int64_t head_dim,
          RopeStyle style);
float Dot(const float* a, const float* b, int64_t n);
void AttentionRow(const float* q, const float* keys, const float* values, int64_t n_keys,
                  int64_t head_dim, float scale, float soft_cap, float* out, float* log_sum_exp);
void AttentionTile(const float* q, int64_t ldq, int64_t rows, int64_t first_position,
                   const float* keys, const float* values, int64_t head_dim, float scale,
                   float soft_cap, int64_t window, float* out, int64_t ldo);
float ExpShifted(const float* x, float shift, float* out, int64_t n);
float Max(const float* x, int64_t n);
void Axpy(float a, const float* x, float* y, int64_t n);
void Scale(float a, float* y, int64_t n);
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* c, int64_t ldc, bool accumulate);
void TailDecode(const TailDecodeStep& step);
void MatVecBf16(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t rows,
                float* y, int64_t ldy);
void QuantizeQ8(const float* x, int64_t k, int8_t* codes, float* scales, float* sums);
// quant_matmul, indexed by DType.
extern const QuantMatMulFn kQuantMatMul[kDTypeCount];
extern const QuantToF32Fn kQuantToF32[kDTypeCount];
extern const InterleavedMatMulFn kInterleavedMatMul[kDTypeCount];
void F16MatMul(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t tokens,
               float* y, int64_t ldy);
void BF16MatMul(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                int64_t tokens, float* y, int64_t ldy);
void F32MatMul(const float* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t tokens,
               float* y, int64_t ldy);
void F16ToF32(const uint16_t* in, float* out, int64_t n);
void BF16ToF32(const uint16_t* in, float* out, int64_t n);
void F32ToBF16(const float* in, uint16_t* out, int64_t n);

const KernelTable& Table();

}  // namespace favor::kernels::FAVOR_KERNEL_NS
