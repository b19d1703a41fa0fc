// Element-wise kernels and 16-bit conversions, compiled once per ISA.
#include "engine/kernels/kernel_impl.h"
#include "engine/kernels/vec.h"

namespace favor::kernels::FAVOR_KERNEL_NS {
namespace {

inline VecF32 SiluVec(VecF32 x) {
  const VecF32 one = Set1(1.0f);
  return x / (one + Exp(Set1(0.0f) - x));
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
