#include "engine/core/quant_interleaved.h"

#include <cstring>

#include "engine/core/quant_blocks.h"
#include "engine/core/quant_scales_inl.h"

namespace favor::quant {
namespace {

// 32 codes of one row into the 4 runs of an interleaved sub-block (row r's bytes).
void PutCodes(const uint8_t* codes, int64_t r, uint8_t* runs) {
  for (int m = 0; m < 4; ++m) {
    for (int i = 0; i < 4; ++i) {
      runs[32 * m + 4 * r + i] =
          static_cast<uint8_t>(codes[8 * m + i] | (codes[8 * m + 4 + i] << 4));
    }
  }
}

void GetCodes(const uint8_t* runs, int64_t r, uint8_t* codes) {
  for (int m = 0; m < 4; ++m) {
    for (int i = 0; i < 4; ++i) {
      const uint8_t byte = runs[32 * m + 4 * r + i];
      codes[8 * m + i] = byte & 0x0F;
      codes[8 * m + 4 + i] = byte >> 4;
    }
  }
}

// Q4_0's file block: f16 d, then byte j holds value j (low nibble) and j + 16 (high).
void Q4_0Codes(const uint8_t* block, uint8_t* codes) {
  for (int j = 0; j < 16; ++j) {
    codes[j] = block[2 + j] & 0x0F;
    codes[j + 16] = block[2 + j] >> 4;
  }
}

// Q4_K's sub-block s: the low (s even) or high nibbles of qs[32 (s / 2) + l].
void Q4_KCodes(const uint8_t* block, int s, uint8_t* codes) {
  const uint8_t* qs = block + 16 + 32 * (s / 2);
  for (int l = 0; l < 32; ++l) codes[l] = s % 2 == 0 ? (qs[l] & 0x0F) : (qs[l] >> 4);
}

// Inverse of ScaleMinK4: the 12 packed bytes of 8 6-bit scales and mins.
void PackScaleMinK4(const uint8_t* scales, const uint8_t* mins, uint8_t* packed) {
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      packed[j] = scales[j];
      packed[j + 4] = mins[j];
    } else {
      packed[j + 4] = static_cast<uint8_t>((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
      packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | ((scales[j] >> 4) << 6));
      packed[j] = static_cast<uint8_t>(packed[j] | ((mins[j] >> 4) << 6));
    }
  }
}

}  // namespace

InterleavedFormat GetInterleavedFormat(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return {kLegacyBlock, kInterleavedRows * kQ4_0Bytes};
    case DType::kQ4_K:
      return {kSuperBlock, kQ4_Kx8Codes + 8 * 128};
    default:
      return {};
  }
}

void Interleave(DType type, const void* rows, int64_t n, int64_t k, void* out) {
  const InterleavedFormat format = GetInterleavedFormat(type);
  const int64_t blocks = k / format.block_elements;
  const int64_t block_bytes = type == DType::kQ4_0 ? kQ4_0Bytes : kQ4_KBytes;
  const auto* source = static_cast<const uint8_t*>(rows);
  auto* group = static_cast<uint8_t*>(out);
  uint8_t codes[32];
  for (int64_t g = 0; g < n / kInterleavedRows; ++g) {
    for (int64_t b = 0; b < blocks; ++b, group += format.group_block_bytes) {
      for (int64_t r = 0; r < kInterleavedRows; ++r) {
        const uint8_t* block =
            source + (g * kInterleavedRows + r) * blocks * block_bytes + b * block_bytes;
        if (type == DType::kQ4_0) {
          std::memcpy(group + 2 * r, block, 2);
          Q4_0Codes(block, codes);
          PutCodes(codes, r, group + kQ4_0x8Codes);
          continue;
        }
        std::memcpy(group + 2 * r, block, 2);
        std::memcpy(group + kQ4_Kx8Dmin + 2 * r, block + 2, 2);
        for (int s = 0; s < 8; ++s) {
          ScaleMinK4(s, block + 4, group + kQ4_Kx8Scales + 8 * s + r,
                     group + kQ4_Kx8Mins + 8 * s + r);
          Q4_KCodes(block, s, codes);
          PutCodes(codes, r, group + kQ4_Kx8Codes + 128 * s);
        }
      }
    }
  }
}

void DeinterleaveRow(DType type, const void* group, int64_t r, int64_t k, void* out) {
  const InterleavedFormat format = GetInterleavedFormat(type);
  const auto* in = static_cast<const uint8_t*>(group);
  auto* block = static_cast<uint8_t*>(out);
  uint8_t codes[32];
  for (int64_t b = 0; b < k / format.block_elements; ++b, in += format.group_block_bytes) {
    if (type == DType::kQ4_0) {
      std::memcpy(block, in + 2 * r, 2);
      GetCodes(in + kQ4_0x8Codes, r, codes);
      for (int j = 0; j < 16; ++j)
        block[2 + j] = static_cast<uint8_t>(codes[j] | (codes[j + 16] << 4));
      block += kQ4_0Bytes;
      continue;
    }
    std::memcpy(block, in + 2 * r, 2);
    std::memcpy(block + 2, in + kQ4_Kx8Dmin + 2 * r, 2);
    uint8_t scales[8], mins[8];
    for (int s = 0; s < 8; ++s) {
      scales[s] = in[kQ4_Kx8Scales + 8 * s + r];
      mins[s] = in[kQ4_Kx8Mins + 8 * s + r];
    }
    PackScaleMinK4(scales, mins, block + 4);
    for (int s = 0; s < 8; s += 2) {
      uint8_t high[32];
      GetCodes(in + kQ4_Kx8Codes + 128 * s, r, codes);
      GetCodes(in + kQ4_Kx8Codes + 128 * (s + 1), r, high);
      for (int l = 0; l < 32; ++l)
        block[16 + 16 * s + l] = static_cast<uint8_t>(codes[l] | (high[l] << 4));
    }
    block += kQ4_KBytes;
  }
}

}  // namespace favor::quant
