#include "engine/core/quant_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/core/half.h"
#include "engine/core/quant_scales_inl.h"

// Every product and sum below is written in ggml's order, one operation at a time (this file is
// compiled without FMA contraction, as ggml's is), so that the values are ggml's bit for bit.
namespace favor::quant {
namespace {

bool AllFinite(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

// The legacy formats as one template: kBits (4 or 5) bits per value; with kMin, x = d q + m
// (Q4_1, Q5_1), else x = d (q - 2^(kBits-1)) (Q4_0, Q5_0). Layout: f16 d, [f16 m], [u32 qh: the
// fifth bits], 16 bytes of low nibbles (values j and j + 16 share byte j).
template <int kBits, bool kMin>
struct Legacy {
  static constexpr int64_t kBytes = 2 + (kMin ? 2 : 0) + (kBits == 5 ? 4 : 0) + 16;
  static constexpr int kOffset = kMin ? 0 : 1 << (kBits - 1);
  static constexpr int kLargest = (1 << kBits) - 1;
  static constexpr int kQhAt = kMin ? 4 : 2;
  static constexpr int kQsAt = kQhAt + (kBits == 5 ? 4 : 0);

  static void ToF32(const void* data, float* out, int64_t count) {
    const auto* block = static_cast<const uint8_t*>(data);
    for (int64_t b = 0; b < count / kLegacyBlock; ++b, block += kBytes, out += kLegacyBlock) {
      const float d = F16At(block);
      const float m = kMin ? F16At(block + 2) : 0.0f;
      uint32_t qh = 0;
      if constexpr (kBits == 5) std::memcpy(&qh, block + kQhAt, 4);
      const uint8_t* qs = block + kQsAt;
      for (int j = 0; j < 16; ++j) {
        const auto high0 = static_cast<uint8_t>(((qh >> j) << 4) & 0x10);
        const auto high1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
        const int x0 = ((qs[j] & 0x0F) | high0) - kOffset;
        const int x1 = ((qs[j] >> 4) | high1) - kOffset;
        if constexpr (kMin) {
          out[j] = static_cast<float>(x0) * d + m;
          out[j + 16] = static_cast<float>(x1) * d + m;
        } else {
          out[j] = static_cast<float>(x0) * d;
          out[j + 16] = static_cast<float>(x1) * d;
        }
      }
    }
  }

  // ggml's reference quantizer: symmetric formats map the value of largest magnitude to -2^(b-1)
  // steps, asymmetric ones [min, max] to [0, 2^b - 1]; codes round half up.
  static void FromF32(const float* values, void* out, int64_t count) {
    auto* block = static_cast<uint8_t*>(out);
    for (int64_t b = 0; b < count / kLegacyBlock; ++b, block += kBytes) {
      const float* x = values + b * kLegacyBlock;
      const bool finite = AllFinite(x, kLegacyBlock);
      float min = 0.0f, d = kNan;
      if (finite && kMin) {
        const auto [lo, hi] = std::minmax_element(x, x + kLegacyBlock);
        min = *lo;
        d = (*hi - *lo) / static_cast<float>(kLargest);
      } else if (finite) {
        d = SignedMax(x, kLegacyBlock) / -static_cast<float>(kOffset);
      }
      const float id = finite && d != 0.0f ? 1.0f / d : 0.0f;
      StoreF16(block, d);
      if constexpr (kMin) StoreF16(block + 2, min);
      // Symmetric: x * id + (offset + 0.5); asymmetric: (x - min) * id + 0.5, as ggml rounds.
      const float bias = static_cast<float>(kOffset) + 0.5f;
      uint32_t qh = 0;
      for (int j = 0; j < 16; ++j) {
        // A block holding a NaN or an Inf keeps its NaN scale (the NaN check finds it) and zero
        // codes (converting a NaN to an integer is undefined).
        const float s0 = !finite ? 0.0f : kMin ? (x[j] - min) * id : x[j] * id;
        const float s1 = !finite ? 0.0f : kMin ? (x[j + 16] - min) * id : x[j + 16] * id;
        const int q0 = std::min(kLargest, static_cast<int>(s0 + bias));
        const int q1 = std::min(kLargest, static_cast<int>(s1 + bias));
        block[kQsAt + j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= static_cast<uint32_t>((q0 & 0x10) >> 4) << j;
        qh |= static_cast<uint32_t>((q1 & 0x10) >> 4) << (j + 16);
      }
      if constexpr (kBits == 5) std::memcpy(block + kQhAt, &qh, 4);
    }
  }
};

static_assert(Legacy<4, false>::kBytes == kQ4_0Bytes && Legacy<4, true>::kBytes == kQ4_1Bytes &&
              Legacy<5, false>::kBytes == kQ5_0Bytes && Legacy<5, true>::kBytes == kQ5_1Bytes);

}  // namespace

bool FiniteOrPoisoned(const float* x, int64_t n, uint8_t* block, int64_t bytes,
                      std::initializer_list<int> nan_at) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      std::memset(block, 0, static_cast<size_t>(bytes));
      for (const int at : nan_at) StoreF16(block + at, kNan);
      return false;
    }
  }
  return true;
}

void Q4_0ToF32(const void* data, float* out, int64_t count) {
  Legacy<4, false>::ToF32(data, out, count);
}
void Q4_1ToF32(const void* data, float* out, int64_t count) {
  Legacy<4, true>::ToF32(data, out, count);
}
void Q5_0ToF32(const void* data, float* out, int64_t count) {
  Legacy<5, false>::ToF32(data, out, count);
}
void Q5_1ToF32(const void* data, float* out, int64_t count) {
  Legacy<5, true>::ToF32(data, out, count);
}
void Q4_0FromF32(const float* values, void* out, int64_t count) {
  Legacy<4, false>::FromF32(values, out, count);
}
void Q4_1FromF32(const float* values, void* out, int64_t count) {
  Legacy<4, true>::FromF32(values, out, count);
}
void Q5_0FromF32(const float* values, void* out, int64_t count) {
  Legacy<5, false>::FromF32(values, out, count);
}
void Q5_1FromF32(const float* values, void* out, int64_t count) {
  Legacy<5, true>::FromF32(values, out, count);
}

// Q2_K: scales[16] (low nibble: scale, high nibble: min of each 16 values), qs[64] (2 bits),
// f16 d, f16 dmin. x = d * scale * q - dmin * min.
void Q2_KToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ2_KBytes) {
    const uint8_t* scales = block;
    const uint8_t* q = block + 16;
    const float d = F16At(block + 80), min = F16At(block + 82);
    int is = 0;
    for (int n = 0; n < kSuperBlock; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = min * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) {
            *out++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
          }
        }
      }
    }
  }
}

// Q3_K: hmask[32] (the third bit), qs[64] (two low bits), scales[12] (16 signed 6-bit scales,
// offset by 32), f16 d. x = d * (scale - 32) * (q - (high bit ? 0 : 4)).
void Q3_KToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ3_KBytes) {
    const uint8_t* hm = block;
    const uint8_t* q = block + 32;
    const float d_all = F16At(block + 108);
    int8_t scales[16];
    UnpackQ3_KScales(block + 96, scales);
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < kSuperBlock; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(scales[is++] - 32);
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * half;
            const int value = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
            *out++ = dl * static_cast<float>(value);
          }
        }
      }
    }
  }
}

// Q4_K: f16 d, f16 dmin, scales[12] (8 6-bit scales and mins), qs[128] (4 bits). Sub-blocks of
// 32: x = d * scale * q - dmin * min.
void Q4_KToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ4_KBytes) {
    const float d = F16At(block), min = F16At(block + 2);
    const uint8_t* scales = block + 4;
    const uint8_t* q = block + 16;
    for (int is = 0; is < 8; is += 2, q += 32) {
      uint8_t sc, m;
      ScaleMinK4(is, scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = min * static_cast<float>(m);
      ScaleMinK4(is + 1, scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = min * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *out++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *out++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// Q5_K: Q4_K plus qh[32], the fifth bit of each value.
void Q5_KToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ5_KBytes) {
    const float d = F16At(block), min = F16At(block + 2);
    const uint8_t* scales = block + 4;
    const uint8_t* qh = block + 16;
    const uint8_t* ql = block + 48;
    uint8_t u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32) {
      uint8_t sc, m;
      ScaleMinK4(is, scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = min * static_cast<float>(m);
      ScaleMinK4(is + 1, scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = min * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        *out++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        *out++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
      }
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d. x = d * scale *
// (q - 32), sub-blocks of 16.
void Q6_KToF32(const void* data, float* out, int64_t count) {
  const auto* block = static_cast<const uint8_t*>(data);
  for (int64_t b = 0; b < count / kSuperBlock; ++b, block += kQ6_KBytes) {
    const uint8_t* ql = block;
    const uint8_t* qh = block + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(block + 192);
    const float d = F16At(block + 208);
    for (int n = 0; n < kSuperBlock; n += 128, out += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = static_cast<int8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = static_cast<int8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace favor::quant
