// Could a random-feature tail keep its state S (M x d) in 16 bits? The tail's numerator is
// sum_m phi_m S_m with S_m = sum_j w_jm v_j, every key adding to every row of S. This program
// runs that recurrence with S stored in f32, bf16 and f16 (f32 arithmetic, the engine's
// round-to-nearest-even on every store: what a 16-bit state would hold) against a double
// reference, and prints the relative error of the numerator as keys accumulate.
//
// Weights are log-normal, at most about 1 (the state keeps each feature's sum relative to its
// largest key); values have zero mean, or a mean of `--value-mean` standard deviations (real
// values rarely average out). Usage: favor_tail_state_precision [--value-mean X] [--keys N]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/core/half.h"

namespace {

enum class Storage { kF32, kBf16, kF16 };

float Store(Storage storage, float x) {
  switch (storage) {
    case Storage::kBf16:
      return favor::BF16ToF32(favor::F32ToBF16(x));
    case Storage::kF16:
      return favor::F16ToF32(favor::F32ToF16(x));
    case Storage::kF32:
      break;
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  double value_mean = 0.0;
  int64_t keys = 32768;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--value-mean") {
      value_mean = std::atof(argv[i + 1]);
    } else if (flag == "--keys") {
      keys = std::atoll(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--value-mean X] [--keys N]\n", argv[0]);
      return 2;
    }
  }
  constexpr int64_t kFeatures = 64, kDim = 16;
  std::printf("relative error of the tail's numerator, M = %lld, d = %lld, value mean %.2f\n",
              static_cast<long long>(kFeatures), static_cast<long long>(kDim), value_mean);
  std::printf("| keys | f32 | bf16 | f16 |\n|---:|---:|---:|---:|\n");
  std::vector<int64_t> checkpoints;
  for (int64_t n = 64; n <= keys; n *= 8) checkpoints.push_back(n);
  std::vector<std::vector<double>> errors(3);
  for (Storage storage : {Storage::kF32, Storage::kBf16, Storage::kF16}) {
    std::mt19937_64 rng(1);  // The same keys, values and query for every storage.
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> phi(kFeatures), reference(kFeatures * kDim, 0.0), value(kDim);
    std::vector<float> state(kFeatures * kDim, 0.0f);
    for (double& p : phi) p = std::exp(normal(rng));
    size_t next = 0;
    for (int64_t j = 1; j <= keys && next < checkpoints.size(); ++j) {
      for (double& x : value) x = value_mean + normal(rng);
      for (int64_t m = 0; m < kFeatures; ++m) {
        const double w = std::exp(normal(rng) - 1.0);
        for (int64_t i = 0; i < kDim; ++i) {
          const auto at = static_cast<size_t>(m * kDim + i);
          reference[at] += w * value[static_cast<size_t>(i)];
          state[at] =
              Store(storage, state[at] + static_cast<float>(w * value[static_cast<size_t>(i)]));
        }
      }
      if (j != checkpoints[next]) continue;
      double error = 0, norm = 0;
      for (int64_t i = 0; i < kDim; ++i) {
        double exact = 0, stored = 0;
        for (int64_t m = 0; m < kFeatures; ++m) {
          exact += phi[static_cast<size_t>(m)] * reference[static_cast<size_t>(m * kDim + i)];
          stored += phi[static_cast<size_t>(m)] * state[static_cast<size_t>(m * kDim + i)];
        }
        error += (exact - stored) * (exact - stored);
        norm += exact * exact;
      }
      errors[static_cast<size_t>(storage)].push_back(std::sqrt(error / norm));
      ++next;
    }
  }
  for (size_t c = 0; c < checkpoints.size(); ++c) {
    std::printf("| %lld | %.1e | %.1e | %.1e |\n", static_cast<long long>(checkpoints[c]),
                errors[0][c], errors[1][c], errors[2][c]);
  }
  return 0;
}
