// The non-linear 4-bit formats IQ4_NL and IQ4_XS (layouts in quant_blocks.h): dequantization and
// the reference quantizers without an importance matrix, which must give ggml's blocks bit for bit
// (tests/core/quant_blocks_test.cc compares against them). So every product and sum is written in
// ggml's order, one operation at a time, and this file is compiled without FMA contraction, as
// ggml's is. A block holding a NaN or an Inf is stored with a NaN scale and zero codes, which the
// loader's NaN check refuses.
#include <cmath>
#include <cstring>

#include "engine/core/half.h"
#include "engine/core/quant_blocks.h"
#include "engine/core/quant_scales_inl.h"

namespace favor::quant {
namespace {

constexpr int kSubBlock = 32;
// Below this largest magnitude a sub-block counts as all zeros.
constexpr float kZeroGroup = 1e-15f;
// Each sub-block tries 2 kTries + 1 scales around the one that maps its extreme to a level end.
constexpr int kTries = 7;

// The code of the level nearest x; a tie goes to the upper level.
int NearestLevel(float x) {
  if (x <= kIQ4Levels[0]) return 0;
  if (x >= kIQ4Levels[15]) return 15;
  int upper = 1;
  while (x >= kIQ4Levels[upper]) ++upper;
  return x - kIQ4Levels[upper - 1] < kIQ4Levels[upper] - x ? upper - 1 : upper;
}

// The scale of one sub-block of 32 that minimises sum x^2 (x - scale level)^2 over the levels'
// codes: first the scale that maps the extreme value to the level -127, refined by least squares,
// then the least-squares scale of each of 15 candidate inverse scales around it, the best kept.
// Returns 0 for a sub-block of zeros.
float SubBlockScale(const float* x) {
  float weight[kSubBlock];
  for (int j = 0; j < kSubBlock; ++j) weight[j] = x[j] * x[j];
  const float max = SignedMax(x, kSubBlock);
  if (std::fabs(max) < kZeroGroup) return 0.0f;
  // sum w q x and sum w q^2 of the codes inverse scale `id` gives.
  auto sums = [&](float id, float* qx, float* q2) {
    *qx = 0.0f;
    *q2 = 0.0f;
    for (int j = 0; j < kSubBlock; ++j) {
      const auto q = static_cast<float>(kIQ4Levels[NearestLevel(id * x[j])]);
      *qx += weight[j] * q * x[j];
      *q2 += weight[j] * q * q;
    }
  };
  float qx = 0.0f, q2 = 0.0f;
  sums(1 / (-max / kIQ4Levels[0]), &qx, &q2);
  float scale = qx / q2;
  float best = scale * qx;
  for (int attempt = -kTries; attempt <= kTries; ++attempt) {
    sums(static_cast<float>(attempt + kIQ4Levels[0]) / max, &qx, &q2);
    if (q2 > 0 && qx * qx > best * q2) {
      scale = qx / q2;
      best = scale * qx;
    }
  }
  return scale;
}

// The codes of n values under inverse scale id, packed two per byte per sub-block of 32 (values j
// and j + 16 share byte j).
void PackCodes(const float* x, int n, float id, uint8_t* qs) {
  for (int base = 0; base < n; base += kSubBlock, qs += kSubBlock / 2) {
    for (int j = 0; j < 16; ++j) {
      qs[j] = static_cast<uint8_t>(NearestLevel(id * x[base + j]) |
                                   (NearestLevel(id * x[base + j + 16]) << 4));
    }
  }
}

// The values of 32 codes packed as above, times `scale`.
void LevelsTimes(float scale, const uint8_t* qs, float* out) {
  for (int j = 0; j < 16; ++j) {
    out[j] = scale * static_cast<float>(kIQ4Levels[qs[j] & 0x0F]);
    out[j + 16] = scale * static_cast<float>(kIQ4Levels[qs[j] >> 4]);
  }
}

}  // namespace

void IQ4_NLToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kSubBlock; ++b, block += kIQ4_NLBytes, out += kSubBlock) {
    LevelsTimes(F16At(block), block + 2, out);
  }
}

void IQ4_XSToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kIQ4_XSBytes) {
    const float d = F16At(block);
    for (int sub = 0; sub < kSuperBlock / kSubBlock; ++sub, out += kSubBlock) {
      LevelsTimes(d * static_cast<float>(IQ4_XSSubScale(block, sub) - 32), block + 8 + 16 * sub,
                  out);
    }
  }
}

void IQ4_NLFromF32(const float* values, void* out, int64_t count) {
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < count / kSubBlock; ++b, block += kIQ4_NLBytes) {
    const float* x = values + b * kSubBlock;
    if (!FiniteOrPoisoned(x, kSubBlock, block, kIQ4_NLBytes, {0})) continue;
    const float scale = SubBlockScale(x);
    StoreF16(block, scale);
    PackCodes(x, kSubBlock, scale != 0.0f ? 1 / scale : 0.0f, block + 2);
  }
}

// The sub-block scales are quantized to 6 bits, l in [-32, 31], under d = -(the scale of largest
// magnitude) / 32; each sub-block's codes are then chosen against its dequantized scale d l.
void IQ4_XSFromF32(const float* values, void* out, int64_t count) {
  constexpr int kSubBlocks = kSuperBlock / kSubBlock;
  auto* block = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kIQ4_XSBytes) {
    const float* x = values + b * kSuperBlock;
    if (!FiniteOrPoisoned(x, kSuperBlock, block, kIQ4_XSBytes, {0})) continue;
    float scales[kSubBlocks];
    float largest = 0.0f, signed_largest = 0.0f;
    for (int sub = 0; sub < kSubBlocks; ++sub) {
      scales[sub] = SubBlockScale(x + sub * kSubBlock);
      if (std::fabs(scales[sub]) > largest) {
        largest = std::fabs(scales[sub]);
        signed_largest = scales[sub];
      }
    }
    const float d = -signed_largest / 32;
    StoreF16(block, d);
    const float id = d != 0.0f ? 1 / d : 0.0f;
    uint16_t scales_h = 0;
    uint8_t* scales_l = block + 4;
    std::memset(scales_l, 0, 4);
    for (int sub = 0; sub < kSubBlocks; ++sub) {
      int l = NearestInt(id * scales[sub]);
      l = l < -32 ? -32 : l > 31 ? 31 : l;
      const float dl = d * static_cast<float>(l);
      PackCodes(x + sub * kSubBlock, kSubBlock, dl != 0.0f ? 1 / dl : 0.0f, block + 8 + 16 * sub);
      l += 32;
      scales_l[sub / 2] |= static_cast<uint8_t>((l & 0x0F) << (4 * (sub % 2)));
      scales_h |= static_cast<uint16_t>((l >> 4) << (2 * sub));
    }
    block[2] = static_cast<uint8_t>(scales_h & 0xff);
    block[3] = static_cast<uint8_t>(scales_h >> 8);
  }
}

}  // namespace favor::quant
