#include "engine/rf/projection.h"

#include <cmath>
#include <random>

namespace favor::rf {
namespace {

// SplitMix64: a strong 64-bit mixer, so nearby (layer, head) pairs get unrelated streams.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t StreamSeed(uint64_t seed, int64_t layer, int64_t head) {
  return Mix(Mix(Mix(seed) ^ static_cast<uint64_t>(layer)) ^ static_cast<uint64_t>(head));
}

Matrix GaussianProjection(int64_t features, int64_t dim, ProjectionKind kind,
                          uint64_t stream_seed) {
  std::mt19937_64 rng(stream_seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix omega(features, dim);
  if (kind == ProjectionKind::kIid) {
    for (int64_t r = 0; r < features; ++r) {
      for (int64_t c = 0; c < dim; ++c) omega(r, c) = normal(rng);
    }
    return omega;
  }
  for (int64_t start = 0; start < features; start += dim) {
    Matrix gaussian(dim, dim);
    for (int64_t r = 0; r < dim; ++r) {
      for (int64_t c = 0; c < dim; ++c) gaussian(r, c) = normal(rng);
    }
    const Matrix q = OrthogonalFromQr(gaussian);
    // A last partial block takes the first rows of a fresh block.
    for (int64_t r = 0; r < dim && start + r < features; ++r) {
      double norm2 = 0.0;
      for (int64_t c = 0; c < dim; ++c) {
        const double g = normal(rng);
        norm2 += g * g;
      }
      const double length = std::sqrt(norm2);  // chi_d distributed.
      for (int64_t c = 0; c < dim; ++c) omega(start + r, c) = q(c, r) * length;  // Columns of Q.
    }
  }
  return omega;
}

}  // namespace favor::rf
