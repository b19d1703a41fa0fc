// Block formats with 8 weight rows interleaved, the layout the decode kernels read fastest: one
// vector load brings the codes of all 8 rows, so a block's products for the 8 rows land in the 8
// lanes of one register (no horizontal sums), and the rows' scales load as one vector. Matrices
// are repacked into it once at load (engine/ops/matmul_in_place.cc).
//
// Q4_0, per block of 32 values of 8 rows (144 bytes, as 8 rows of the file): the 8 f16 scales,
// then 4 runs of 32 bytes; byte 4r + i of run m holds row r's values 8m + i (low nibble) and
// 8m + 4 + i (high nibble), i = 0..3. The low nibbles of a run are thus "vector" 2m (values
// 8m..8m+3 of every row, 4 bytes per row), its high nibbles vector 2m + 1.
// Q8_0, per block of 32 values of 8 rows (272 bytes, as 8 rows of the file): the 8 f16 scales,
// then 8 vectors of 32 bytes; byte 4r + i of vector j is row r's value 4j + i.
// Q4_K, per super-block of 256 values of 8 rows (1184 bytes): the 8 f16 d, the 8 f16 dmin, the
// 8 x 8 unpacked 6-bit scales (sub-block s of row r at 8s + r), the 8 x 8 mins, then per
// sub-block of 32 the 128 bytes of Q4_0's runs.
// Q5_K as Q4_K (1440 bytes), but each sub-block's 128 bytes of runs are followed by 32 bytes of
// fifth bits: bit j of byte 4r + i is the fifth bit of vector j's byte 4r + i.
// Q6_K, per super-block of 256 values of 8 rows (1680 bytes, as 8 rows of the file): the 8 f16 d,
// the 16 x 8 int8 scales (sub-block j of 16 values, row r at 8j + r), then per chunk of 32 values
// 192 bytes: the low 4 bits of the codes as Q4_0's 4 runs, then 2 runs of 32 bytes of high bits:
// byte 4r + i of high run h holds, in bits 2u and 2u + 1, the high bits of vector 4h + u's byte
// 4r + i (vector j: values 4j..4j+3 of every row, as in the low runs).
// IQ4_NL as Q4_0 (the same file block; its codes index the non-linear levels).
// IQ4_XS, per super-block of 256 values of 8 rows (1104 bytes): the 8 f16 d, the 8 x 8 sub-block
// scales unpacked to int8 (ls - 32; sub-block s of row r at 16 + 8s + r), then per sub-block of 32
// the 128 bytes of Q4_0's runs.
#pragma once

#include <cstdint>

#include "engine/core/dtype_id.h"

namespace favor::quant {

inline constexpr int64_t kInterleavedRows = 8;

struct InterleavedFormat {
  int64_t block_elements = 0;     // 0: the type has no interleaved layout.
  int64_t group_block_bytes = 0;  // One block of 8 rows.
};
InterleavedFormat GetInterleavedFormat(DType type);

// Offsets in an interleaved block.
inline constexpr int64_t kQ4_0x8Codes = 16;
inline constexpr int64_t kQ4_Kx8Dmin = 16, kQ4_Kx8Scales = 32, kQ4_Kx8Mins = 96, kQ4_Kx8Codes = 160;
inline constexpr int64_t kQ5_Kx8Chunk = 160;  // Q5_K: the Q4_K offsets, 160 bytes per sub-block.
inline constexpr int64_t kQ8_0x8Codes = 16;
inline constexpr int64_t kQ6_Kx8Scales = 16, kQ6_Kx8Codes = 144, kQ6_Kx8Chunk = 192;
inline constexpr int64_t kIQ4_XSx8Scales = 16, kIQ4_XSx8Codes = 80;

// `n` rows (a multiple of 8) of k values in the type's file layout, interleaved into `out`
// (groups of 8 rows one after another, each k / block_elements blocks).
void Interleave(DType type, const void* rows, int64_t n, int64_t k, void* out);

// Row r (0-7) of one interleaved group, back in the type's file layout (k / block_elements
// blocks): what the dequantizers read.
void DeinterleaveRow(DType type, const void* group, int64_t r, int64_t k, void* out);

}  // namespace favor::quant
