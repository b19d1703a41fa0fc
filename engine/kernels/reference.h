// Plain reference implementations, in double precision where it matters, written for obviousness
// rather than speed. Tests compare every kernel variant and every op with these.
#pragma once

#include <cstdint>

#include "engine/kernels/kernel_table.h"

namespace favor::kernels::reference {

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
// Rotates n_heads heads of one token at `position` with frequencies theta^(-2i/head_dim).
void Rope(float* x, int64_t position, double theta, int64_t n_heads, int64_t head_dim,
          RopeStyle style);
double Dot(const float* a, const float* b, int64_t n);
float ExpShifted(const float* x, float shift, float* out, int64_t n);
float Max(const float* x, int64_t n);
void Axpy(float a, const float* x, float* y, int64_t n);
void Scale(float a, float* y, int64_t n);
// tail_decode's definition, every sum and exp in double.
void TailDecode(const TailDecodeStep& step);
void MatVecBf16(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx, int64_t rows,
                float* y, int64_t ldy);
// quant_matmul's definition: y[t][i] = sum_p w[i][p] (scale * code)[t][p] in double, with the
// weights already dequantized (n x x.k, row-major).
void QuantMatMul(const float* w, int64_t n, const Q8Rows& x, int64_t tokens, float* y, int64_t ldy);
// f16_matmul / bf16_matmul: w row-major [n, k] of 16-bit values, in double.
void HalfMatMul(const uint16_t* w, bool bf16, int64_t n, int64_t k, const float* x, int64_t ldx,
                int64_t tokens, float* y, int64_t ldy);
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* c, int64_t ldc, bool accumulate);
// attention_tile: each row through AttentionRow over the keys it sees.
void AttentionTile(const float* q, int64_t ldq, int64_t rows, int64_t first_position,
                   const float* keys, const float* values, int64_t head_dim, float scale,
                   float soft_cap, int64_t window, float* out, int64_t ldo);
// Two-pass softmax attention of one query over n_keys rows (no blocking, no online rescaling).
void AttentionRow(const float* q, const float* keys, const float* values, int64_t n_keys,
                  int64_t head_dim, float scale, float soft_cap, float* out, float* log_sum_exp);

}  // namespace favor::kernels::reference
