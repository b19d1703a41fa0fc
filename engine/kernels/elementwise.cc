// Element-wise kernels and 16-bit conversions, compiled once per ISA.
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

inline VecF32 SiluVec(VecF32 x) {
  const VecF32 one = Set1(1.0f);
  return x / (one + Exp(Set1(0.0f) - x));
}

// 0.5 x (1 + tanh(u)) written as x / (1 + e^{-2u}) (the same function): for negative x the
// first form cancels (1 + tanh(u) -> 0) and loses the relative precision of the small result.
inline VecF32 GeluVec(VecF32 x) {
  const VecF32 minus_two_u = Set1(-2.0f * 0.7978845608028654f) * Fma(Set1(0.044715f) * x, x * x, x);
  return x / (Set1(1.0f) + Exp(minus_two_u));
}

}  // namespace

void Add(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, Load(a + i) + Load(b + i));
  if (i < n) StoreTail(out + i, LoadTail(a + i, n - i) + LoadTail(b + i, n - i), n - i);
}

void Mul(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, Load(a + i) * Load(b + i));
  if (i < n) StoreTail(out + i, LoadTail(a + i, n - i) * LoadTail(b + i, n - i), n - i);
}

void Silu(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, SiluVec(Load(x + i)));
  if (i < n) StoreTail(out + i, SiluVec(LoadTail(x + i, n - i)), n - i);
}

void SwiGlu(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, SiluVec(Load(gate + i)) * Load(up + i));
  if (i < n) {
    const int64_t r = n - i;
    StoreTail(out + i, SiluVec(LoadTail(gate + i, r)) * LoadTail(up + i, r), r);
  }
}

void Gelu(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, GeluVec(Load(x + i)));
  if (i < n) StoreTail(out + i, GeluVec(LoadTail(x + i, n - i)), n - i);
}

void GeGlu(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, GeluVec(Load(gate + i)) * Load(up + i));
  if (i < n) {
    const int64_t r = n - i;
    StoreTail(out + i, GeluVec(LoadTail(gate + i, r)) * LoadTail(up + i, r), r);
  }
}

void SoftCap(const float* x, float* out, int64_t n, float cap) {
  const VecF32 c = Set1(cap), inverse = Set1(1.0f / cap);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, c * Tanh(Load(x + i) * inverse));
  if (i < n) StoreTail(out + i, c * Tanh(LoadTail(x + i, n - i) * inverse), n - i);
}

void F16ToF32(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, LoadF16(in + i));
  if (i < n) StoreTail(out + i, LoadF16Tail(in + i, n - i), n - i);
}

void BF16ToF32(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) Store(out + i, LoadBF16(in + i));
  if (i < n) StoreTail(out + i, LoadBF16Tail(in + i, n - i), n - i);
}

void F32ToBF16(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) StoreBF16(out + i, Load(in + i));
  if (i < n) StoreBF16Tail(out + i, LoadTail(in + i, n - i), n - i);
}

float Dot(const float* a, const float* b, int64_t n) {
  // Two accumulators hide the FMA latency on long rows.
  VecF32 acc0 = Set1(0.0f);
  VecF32 acc1 = Set1(0.0f);
  int64_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    acc0 = Fma(Load(a + i), Load(b + i), acc0);
    acc1 = Fma(Load(a + i + kLanes), Load(b + i + kLanes), acc1);
  }
  for (; i + kLanes <= n; i += kLanes) acc0 = Fma(Load(a + i), Load(b + i), acc0);
  if (i < n) acc1 = Fma(LoadTail(a + i, n - i), LoadTail(b + i, n - i), acc1);
  return ReduceSum(acc0 + acc1);
}

}  // namespace favor::kernels::FAVOR_KERNEL_NS
