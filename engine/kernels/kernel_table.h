// The kernel table: plain data shared by the per-ISA kernel sources and the dispatcher. This header
// includes nothing with inline code (see vec.h for why per-ISA sources must not).
#pragma once

#include <cstdint>

#include "engine/core/dtype_id.h"

namespace favor::kernels {

enum class Isa { kScalar, kAvx2, kAvx512 };

// How RoPE pairs the coordinates of a head: (x[2i], x[2i+1]) as llama2.c and GGUF, or
// (x[i], x[i + d/2]) as Hugging Face.
enum class RopeStyle { kAdjacentPairs, kHalves };

// Largest head dimension the attention kernels accept (their accumulators live on the stack).
inline constexpr int64_t kMaxHeadDim = 256;
// Most query rows one attention_tile call takes.
inline constexpr int64_t kAttentionTileRows = 16;

// Most rows of x one matvec_bf16 call takes.
inline constexpr int64_t kMatVecMaxRows = 4;
// matvec_bf16's weight layout (see PackMatVecBf16 in kernels.h): groups of kMatVecGroup output
// rows; within a group, blocks of kMatVecBlock inputs, each block holding the group's rows one
// after another. The matrix is then one sequential stream (short rows read side by side defeat
// the hardware prefetchers), padded with zeros to whole groups and blocks.
inline constexpr int64_t kMatVecGroup = 4;
inline constexpr int64_t kMatVecBlock = 16;

// Activations quantized for the integer products with quantized weights, rows of k values (k a
// multiple of kQ8Block): x ~ scale * code per block of kQ8Block; `sums` holds, per 16 values,
// scale * (the sum of their codes), which the formats whose values carry an offset need.
// Consecutive rows are k, k / kQ8Block and k / 16 entries apart.
inline constexpr int64_t kQ8Block = 32;
struct Q8Rows {
  const int8_t* codes;
  const float* scales;
  const float* sums;
  int64_t k;
};
// Most activation rows one quant_matmul call takes: each decoded weight block serves all of them.
inline constexpr int64_t kQuantMaxTokens = 4;

// y[t][i] = sum_p w[i][p] x[t][p] for i < n weight rows (row_bytes apart, each k values in one
// block format) and t < tokens (1 to kQuantMaxTokens) rows of quantized activations.
using QuantMatMulFn = void (*)(const void* w, int64_t row_bytes, int64_t n, const Q8Rows& x,
                               int64_t tokens, float* y, int64_t ldy);

// y[t][i] = sum_p w[i][p] x[t][p] for the 8 * groups weight rows of `w` in a format's
// interleaved layout (engine/core/quant_interleaved.h; groups of 8 rows one after another) and
// t < tokens (1 to kQuantMaxTokens) rows of quantized activations.
using InterleavedMatMulFn = void (*)(const void* w, int64_t groups, const Q8Rows& x, int64_t tokens,
                                     float* y, int64_t ldy);

// `count` values (whole blocks) of one block format, dequantized: w = scale * code - offset, in
// that order (within an ulp of the type table's to_f32, which keeps ggml's order bit for bit).
using QuantToF32Fn = void (*)(const void* w, float* out, int64_t count);

// One decode step of one key/value head's random-feature attention state (engine/ops/
// feature_tail.h): S (M x d), z (M) and per-feature log-scales c (M; -inf for a feature that holds
// nothing yet). With W = projection_t^T (M x d), the joining key's log-features
// b = bias + W key + key_quadratic and each query row's a_h = bias + W query_h (rows already
// through their transforms):
//   c' = max(c, b),  u = exp(b - c'),  rescale = exp(c - c') (0 where c = -inf),
//   r_h = max_m (a_h + c')_m,  phi_h = exp(a_h + c' - r_h),
//   numerator_h   = sum_m phi_hm rescale_m S_m + (phi_h . u) value,
//   denominator_h = sum_m phi_hm rescale_m z_m + (phi_h . u),
// then S_m <- rescale_m S_m + u_m value, z <- rescale z + u, c <- c'. Without a key (null),
// c' = c and nothing joins. A row with r_h = -inf (no feature held) gets zeros. The query row's
// weights are exp(r_h) times its numerator and denominator. One read of the projection serves the
// key and every query row; one read of S serves every query row and the update.
struct TailDecodeStep {
  int64_t features;           // M
  int64_t dim;                // d
  int64_t heads;              // Query rows.
  const float* bias;          // M
  const float* projection_t;  // d x M
  const float* queries;       // heads x d
  const float* key;           // d, or null: no key joins.
  float key_quadratic;        // Added to every log-feature of the key.
  const float* value;         // d (read only with a key).
  float* s;                   // M x d
  float* z;                   // M
  float* scale;               // M: c
  float* numerators;          // heads x d
  float* denominators;        // heads
  float* row_scales;          // heads: r_h
  float* scratch;             // (heads + 4) x M floats.
};

struct KernelTable {
  Isa isa;
  // out = a + b.
  void (*add)(const float* a, const float* b, float* out, int64_t n);
  // out = a * b (element-wise).
  void (*mul)(const float* a, const float* b, float* out, int64_t n);
  // out = x / rms(x) * weight, rms = sqrt(mean(x^2) + eps).
  void (*rms_norm)(const float* x, const float* weight, float* out, int64_t n, float eps);
  // out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias (LayerNorm; GPT-2).
  void (*layer_norm)(const float* x, const float* weight, const float* bias, float* out, int64_t n,
                     float eps);
  // out = x * sigmoid(x).
  void (*silu)(const float* x, float* out, int64_t n);
  // out = silu(gate) * up.
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n);
  // out = gelu(x), the tanh approximation (GPT-2's gelu_new, Gemma's gelu_pytorch_tanh):
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  void (*gelu)(const float* x, float* out, int64_t n);
  // out = gelu(gate) * up (Gemma's GeGLU feed-forward).
  void (*geglu)(const float* gate, const float* up, float* out, int64_t n);
  // out = cap * tanh(x / cap): Gemma 2's soft-capping of logits.
  void (*soft_cap)(const float* x, float* out, int64_t n, float cap);
  // out = softmax(x) over n values (max-subtracted).
  void (*softmax)(const float* x, float* out, int64_t n);
  // Rotates n_heads consecutive heads of head_dim values in place; cos/sin hold head_dim/2 values.
  void (*rope)(float* x, const float* cos, const float* sin, int64_t n_heads, int64_t head_dim,
               RopeStyle style);
  // Dot product of two vectors.
  float (*dot)(const float* a, const float* b, int64_t n);
  // One query row of softmax attention over n_keys keys/values (rows of head_dim floats):
  // out = sum_j softmax_j(s_j) v_j with s_j = scale q.k_j, or cap tanh(s_j / cap) when
  // soft_cap > 0 (Gemma 2); computed in blocks with an online softmax. When log_sum_exp is not
  // null it receives log sum_j e^{s_j} (-inf for no key), which lets parts of one softmax
  // computed apart be merged.
  void (*attention_row)(const float* q, const float* keys, const float* values, int64_t n_keys,
                        int64_t head_dim, float scale, float soft_cap, float* out,
                        float* log_sum_exp);
  // Causal softmax attention of `rows` (1 to kAttentionTileRows) consecutive query rows (row r at
  // position first_position + r, rows ldq apart) over key and value rows of head_dim floats (row
  // p = position p): row r sees keys up to its own position, the last `window` of them when
  // window > 0, with soft_cap as attention_row. Outputs ldo apart. Prefill's kernel: each block
  // of keys and values is read once for the whole tile.
  void (*attention_tile)(const float* q, int64_t ldq, int64_t rows, int64_t first_position,
                         const float* keys, const float* values, int64_t head_dim, float scale,
                         float soft_cap, int64_t window, float* out, int64_t ldo);
  // out = exp(x - shift) over n values; returns their sum.
  float (*exp_shifted)(const float* x, float shift, float* out, int64_t n);
  // max of n values (n >= 1).
  float (*max)(const float* x, int64_t n);
  // y += a * x.
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  // y *= a.
  void (*scale)(float a, float* y, int64_t n);
  // C[m x n] (+)= A[m x k] B[k x n], row-major with leading dimensions (in floats); `accumulate`
  // adds to C instead of overwriting it. A register-blocked kernel for the small products of
  // random-feature attention (k and n of tens to hundreds).
  void (*gemm)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate);
  // One decode step of one key/value head's random-feature state (see TailDecodeStep).
  void (*tail_decode)(const TailDecodeStep& step);
  // y[r][i] = sum_p w[i][p] x[r][p] for r < rows (1 to kMatVecMaxRows) and i < n, with w (bf16,
  // n x k) in the packed layout above: streamed once for all rows of x. The decode-time matrix
  // product, bound by memory bandwidth. `w` points at a group boundary.
  void (*matvec_bf16)(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                      int64_t rows, float* y, int64_t ldy);
  // One row of k values (a multiple of kQ8Block) quantized for quant_matmul: codes round x / scale
  // to nearest even, scale = max |x| / 127 per block (identical on every ISA).
  void (*quantize_q8)(const float* x, int64_t k, int8_t* codes, float* scales, float* sums);
  // kDTypeCount kernels indexed by the weights' DType: one per GGML block format (their layouts
  // are in engine/core/quant_blocks.h), null for the other types.
  const QuantMatMulFn* quant_matmul;
  // Indexed by DType like quant_matmul.
  const QuantToF32Fn* quant_to_f32;
  // Indexed by DType: the formats with an interleaved layout, null for the others.
  const InterleavedMatMulFn* interleaved_matmul;
  // y[t][i] = sum_p w[i][p] x[t][p] for n rows of 16-bit weights stored row-major (k apart) and
  // `tokens` (1 to kQuantMaxTokens) rows of f32 x: f16 and bf16 weights read in place.
  void (*f16_matmul)(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                     int64_t tokens, float* y, int64_t ldy);
  void (*bf16_matmul)(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                      int64_t tokens, float* y, int64_t ldy);
  // The same for f32 weights read in place.
  void (*f32_matmul)(const float* w, int64_t n, int64_t k, const float* x, int64_t ldx,
                     int64_t tokens, float* y, int64_t ldy);
  void (*f16_to_f32)(const uint16_t* in, float* out, int64_t n);
  void (*bf16_to_f32)(const uint16_t* in, float* out, int64_t n);
  void (*f32_to_bf16)(const float* in, uint16_t* out, int64_t n);  // Round to nearest even.
};

}  // namespace favor::kernels
