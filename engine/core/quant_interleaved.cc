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

// The 32 codes of 16 bytes of legacy nibbles (byte j: value j low, value j + 16 high), and back.
void SplitLegacyNibbles(const uint8_t* qs, uint8_t* codes) {
  for (int j = 0; j < 16; ++j) {
    codes[j] = qs[j] & 0x0F;
    codes[j + 16] = qs[j] >> 4;
  }
}

void JoinLegacyNibbles(const uint8_t* codes, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + 16] << 4));
}

// Each format's row r of one interleaved block from / back to its file block.

void PutQ4_0(const uint8_t* block, int64_t r, uint8_t* group) {
  std::memcpy(group + 2 * r, block, 2);
  uint8_t codes[32];
  SplitLegacyNibbles(block + 2, codes);
  PutCodes(codes, r, group + kQ4_0x8Codes);
}

void GetQ4_0(const uint8_t* group, int64_t r, uint8_t* block) {
  std::memcpy(block, group + 2 * r, 2);
  uint8_t codes[32];
  GetCodes(group + kQ4_0x8Codes, r, codes);
  JoinLegacyNibbles(codes, block + 2);
}

// Q8_0: vector j's byte 4r + i is row r's value 4j + i.
void PutQ8_0(const uint8_t* block, int64_t r, uint8_t* group) {
  std::memcpy(group + 2 * r, block, 2);
  for (int j = 0; j < 8; ++j)
    std::memcpy(group + kQ8_0x8Codes + 32 * j + 4 * r, block + 2 + 4 * j, 4);
}

void GetQ8_0(const uint8_t* group, int64_t r, uint8_t* block) {
  std::memcpy(block, group + 2 * r, 2);
  for (int j = 0; j < 8; ++j)
    std::memcpy(block + 2 + 4 * j, group + kQ8_0x8Codes + 32 * j + 4 * r, 4);
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

// Q4_K and Q5_K: f16 d, f16 dmin, 12 bytes of scales and mins, [Q5_K: qh[32]], qs[128].
// Sub-block s is the low (s even) or high nibbles of qs[32 (s / 2) + l]; Q5_K's fifth bit of its
// value l is bit s of qh[l].
template <int kBits>
struct KQuant {
  static constexpr int64_t kQsAt = kBits == 4 ? 16 : 48;
  static constexpr int64_t kChunk = kBits == 4 ? 128 : kQ5_Kx8Chunk;

  static void Put(const uint8_t* block, int64_t r, uint8_t* group) {
    std::memcpy(group + 2 * r, block, 2);
    std::memcpy(group + kQ4_Kx8Dmin + 2 * r, block + 2, 2);
    for (int s = 0; s < 8; ++s) {
      ScaleMinK4(s, block + 4, group + kQ4_Kx8Scales + 8 * s + r, group + kQ4_Kx8Mins + 8 * s + r);
      const uint8_t* qs = block + kQsAt + 32 * (s / 2);
      uint8_t codes[32];
      for (int l = 0; l < 32; ++l) codes[l] = s % 2 == 0 ? (qs[l] & 0x0F) : (qs[l] >> 4);
      uint8_t* chunk = group + kQ4_Kx8Codes + kChunk * s;
      PutCodes(codes, r, chunk);
      if constexpr (kBits == 5) {
        for (int i = 0; i < 4; ++i) {  // Bit j: vector j's value, l = 4j + i.
          uint8_t byte = 0;
          for (int j = 0; j < 8; ++j) {
            byte = static_cast<uint8_t>(byte | (((block[16 + 4 * j + i] >> s) & 1) << j));
          }
          chunk[128 + 4 * r + i] = byte;
        }
      }
    }
  }

  static void Get(const uint8_t* group, int64_t r, uint8_t* block) {
    std::memcpy(block, group + 2 * r, 2);
    std::memcpy(block + 2, group + kQ4_Kx8Dmin + 2 * r, 2);
    uint8_t scales[8], mins[8];
    for (int s = 0; s < 8; ++s) {
      scales[s] = group[kQ4_Kx8Scales + 8 * s + r];
      mins[s] = group[kQ4_Kx8Mins + 8 * s + r];
    }
    PackScaleMinK4(scales, mins, block + 4);
    std::memset(block + 16, 0, static_cast<size_t>(kQsAt - 16 + 128));
    for (int s = 0; s < 8; ++s) {
      const uint8_t* chunk = group + kQ4_Kx8Codes + kChunk * s;
      uint8_t codes[32];
      GetCodes(chunk, r, codes);
      uint8_t* qs = block + kQsAt + 32 * (s / 2);
      for (int l = 0; l < 32; ++l) {
        qs[l] = static_cast<uint8_t>(qs[l] | (codes[l] << (4 * (s % 2))));
      }
      if constexpr (kBits == 5) {
        for (int i = 0; i < 4; ++i) {
          const uint8_t byte = chunk[128 + 4 * r + i];
          for (int j = 0; j < 8; ++j) {
            uint8_t& qh = block[16 + 4 * j + i];
            qh = static_cast<uint8_t>(qh | (((byte >> j) & 1) << s));
          }
        }
      }
    }
  }
};

// Q6_K's chunk c = 4n + j (values 32c..32c+31): ql bytes 64n + 32 (j odd) + l (their high
// nibbles when j >= 2) and bits 2j, 2j + 1 of qh[32n + l].
void PutQ6_K(const uint8_t* block, int64_t r, uint8_t* group) {
  std::memcpy(group + 2 * r, block + 208, 2);
  for (int j = 0; j < 16; ++j) group[kQ6_Kx8Scales + 8 * j + r] = block[192 + j];
  for (int c = 0; c < 8; ++c) {
    const int n = c / 4, j = c % 4;
    const uint8_t* ql = block + 64 * n + 32 * (j % 2);
    const uint8_t* qh = block + 128 + 32 * n;
    uint8_t codes[32], low[32];
    for (int l = 0; l < 32; ++l) {
      low[l] = j >= 2 ? ql[l] >> 4 : ql[l] & 0x0F;
      codes[l] = static_cast<uint8_t>(low[l] | (((qh[l] >> (2 * j)) & 3) << 4));
    }
    uint8_t* chunk = group + kQ6_Kx8Codes + kQ6_Kx8Chunk * c;
    PutCodes(low, r, chunk);
    PutHighBits(codes, r, chunk + 128);
  }
}

void GetQ6_K(const uint8_t* group, int64_t r, uint8_t* block) {
  std::memset(block, 0, 192);
  for (int j = 0; j < 16; ++j) block[192 + j] = group[kQ6_Kx8Scales + 8 * j + r];
  std::memcpy(block + 208, group + 2 * r, 2);
  for (int c = 0; c < 8; ++c) {
    const uint8_t* chunk = group + kQ6_Kx8Codes + kQ6_Kx8Chunk * c;
    uint8_t codes[32];
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
}

// IQ4_XS: f16 d, u16 scales_h, scales_l[4], then per sub-block s 16 bytes of legacy nibbles.
void PutIQ4_XS(const uint8_t* block, int64_t r, uint8_t* group) {
  std::memcpy(group + 2 * r, block, 2);
  for (int s = 0; s < 8; ++s) {
    group[kIQ4_XSx8Scales + 8 * s + r] = static_cast<uint8_t>(IQ4_XSSubScale(block, s) - 32);
    uint8_t codes[32];
    SplitLegacyNibbles(block + 8 + 16 * s, codes);
    PutCodes(codes, r, group + kIQ4_XSx8Codes + 128 * s);
  }
}

void GetIQ4_XS(const uint8_t* group, int64_t r, uint8_t* block) {
  std::memcpy(block, group + 2 * r, 2);
  uint16_t scales_h = 0;
  std::memset(block + 4, 0, 4);
  for (int s = 0; s < 8; ++s) {
    const int ls = static_cast<int8_t>(group[kIQ4_XSx8Scales + 8 * s + r]) + 32;
    block[4 + s / 2] = static_cast<uint8_t>(block[4 + s / 2] | ((ls & 0x0F) << (4 * (s % 2))));
    scales_h = static_cast<uint16_t>(scales_h | ((ls >> 4) << (2 * s)));
    uint8_t codes[32];
    GetCodes(group + kIQ4_XSx8Codes + 128 * s, r, codes);
    JoinLegacyNibbles(codes, block + 8 + 16 * s);
  }
  block[2] = static_cast<uint8_t>(scales_h & 0xff);
  block[3] = static_cast<uint8_t>(scales_h >> 8);
}

// A format's interleaved layout and its conversions, per block of 8 rows.
struct Layout {
  InterleavedFormat format;
  int64_t file_block_bytes = 0;
  void (*put)(const uint8_t* file_block, int64_t r, uint8_t* group_block) = nullptr;
  void (*get)(const uint8_t* group_block, int64_t r, uint8_t* file_block) = nullptr;
};

Layout LayoutOf(DType type) {
  switch (type) {
    case DType::kQ8_0:
      return {{kLegacyBlock, kInterleavedRows * kQ8_0Bytes}, kQ8_0Bytes, PutQ8_0, GetQ8_0};
    case DType::kQ4_0:
      return {{kLegacyBlock, kInterleavedRows * kQ4_0Bytes}, kQ4_0Bytes, PutQ4_0, GetQ4_0};
    case DType::kQ4_K:
      return {{kSuperBlock, kQ4_Kx8Codes + 8 * 128}, kQ4_KBytes, KQuant<4>::Put, KQuant<4>::Get};
    case DType::kQ5_K:
      return {{kSuperBlock, kQ4_Kx8Codes + 8 * kQ5_Kx8Chunk},
              kQ5_KBytes,
              KQuant<5>::Put,
              KQuant<5>::Get};
    case DType::kQ6_K:
      return {{kSuperBlock, kInterleavedRows * kQ6_KBytes}, kQ6_KBytes, PutQ6_K, GetQ6_K};
    case DType::kIQ4_NL:  // Q4_0's block, other levels.
      return {{kLegacyBlock, kInterleavedRows * kIQ4_NLBytes}, kIQ4_NLBytes, PutQ4_0, GetQ4_0};
    case DType::kIQ4_XS:
      return {{kSuperBlock, kIQ4_XSx8Codes + 8 * 128}, kIQ4_XSBytes, PutIQ4_XS, GetIQ4_XS};
    default:
      return {};
  }
}

}  // namespace

InterleavedFormat GetInterleavedFormat(DType type) { return LayoutOf(type).format; }

void Interleave(DType type, const void* rows, int64_t n, int64_t k, void* out) {
  const Layout layout = LayoutOf(type);
  const int64_t blocks = k / layout.format.block_elements;
  const auto* source = static_cast<const uint8_t*>(rows);
  auto* group = static_cast<uint8_t*>(out);
  for (int64_t g = 0; g < n / kInterleavedRows; ++g) {
    for (int64_t b = 0; b < blocks; ++b, group += layout.format.group_block_bytes) {
      for (int64_t r = 0; r < kInterleavedRows; ++r) {
        layout.put(source + ((g * kInterleavedRows + r) * blocks + b) * layout.file_block_bytes, r,
                   group);
      }
    }
  }
}

void DeinterleaveRow(DType type, const void* group, int64_t r, int64_t k, void* out) {
  const Layout layout = LayoutOf(type);
  const auto* in = static_cast<const uint8_t*>(group);
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < k / layout.format.block_elements; ++b) {
    layout.get(in + b * layout.format.group_block_bytes, r, block + b * layout.file_block_bytes);
  }
}

}  // namespace favor::quant
