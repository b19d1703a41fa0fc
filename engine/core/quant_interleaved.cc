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

// The high 2 bits of 32 codes (values 0-63) into the 2 high runs of an interleaved Q6_K chunk.
void PutHighBits(const uint8_t* codes, int64_t r, uint8_t* high_runs) {
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) {
      uint8_t byte = 0;
      for (int u = 0; u < 4; ++u)
        byte = static_cast<uint8_t>(byte | ((codes[4 * (4 * h + u) + i] >> 4) << (2 * u)));
      high_runs[32 * h + 4 * r + i] = byte;
    }
  }
}

void AddHighBits(const uint8_t* high_runs, int64_t r, uint8_t* codes) {
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) {
      const uint8_t byte = high_runs[32 * h + 4 * r + i];
      for (int u = 0; u < 4; ++u) {
        uint8_t& code = codes[4 * (4 * h + u) + i];
        code = static_cast<uint8_t>(code | (((byte >> (2 * u)) & 3) << 4));
      }
    }
  }
}

// Q6_K's chunk c = 4n + j (values 32c..32c+31): ql bytes 64n + 32 (j odd) + l (their high
// nibbles when j >= 2) and bits 2j, 2j + 1 of qh[32n + l].
void Q6_KCodes(const uint8_t* block, int c, uint8_t* codes) {
  const int n = c / 4, j = c % 4;
  const uint8_t* ql = block + 64 * n + 32 * (j % 2);
  const uint8_t* qh = block + 128 + 32 * n;
  for (int l = 0; l < 32; ++l) {
    const int low = j >= 2 ? ql[l] >> 4 : ql[l] & 0x0F;
    codes[l] = static_cast<uint8_t>(low | (((qh[l] >> (2 * j)) & 3) << 4));
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
    case DType::kQ6_K:
      return {kSuperBlock, kInterleavedRows * kQ6_KBytes};
    default:
      return {};
  }
}

void Interleave(DType type, const void* rows, int64_t n, int64_t k, void* out) {
  const InterleavedFormat format = GetInterleavedFormat(type);
  const int64_t blocks = k / format.block_elements;
  const int64_t block_bytes = type == DType::kQ4_0   ? kQ4_0Bytes
                              : type == DType::kQ4_K ? kQ4_KBytes
                                                     : kQ6_KBytes;
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
        if (type == DType::kQ6_K) {
          std::memcpy(group + 2 * r, block + 208, 2);
          for (int j = 0; j < 16; ++j) group[kQ6_Kx8Scales + 8 * j + r] = block[192 + j];
          for (int c = 0; c < 8; ++c) {
            Q6_KCodes(block, c, codes);
            uint8_t* chunk = group + kQ6_Kx8Codes + kQ6_Kx8Chunk * c;
            uint8_t low[32];
            for (int l = 0; l < 32; ++l) low[l] = codes[l] & 0x0F;
            PutCodes(low, r, chunk);
            PutHighBits(codes, r, chunk + 128);
          }
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
    if (type == DType::kQ6_K) {
      std::memcpy(block + 208, in + 2 * r, 2);
      for (int j = 0; j < 16; ++j) block[192 + j] = in[kQ6_Kx8Scales + 8 * j + r];
      std::memset(block, 0, 192);
      for (int c = 0; c < 8; ++c) {
        const uint8_t* chunk = in + kQ6_Kx8Codes + kQ6_Kx8Chunk * c;
        GetCodes(chunk, r, codes);
        AddHighBits(chunk + 128, r, codes);
        const int n = c / 4, j = c % 4;
        uint8_t* ql = block + 64 * n + 32 * (j % 2);
        uint8_t* qh = block + 128 + 32 * n;
        for (int l = 0; l < 32; ++l) {
          ql[l] = static_cast<uint8_t>(ql[l] | ((codes[l] & 0x0F) << (j >= 2 ? 4 : 0)));
          qh[l] = static_cast<uint8_t>(qh[l] | ((codes[l] >> 4) << (2 * j)));
        }
      }
      block += kQ6_KBytes;
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
