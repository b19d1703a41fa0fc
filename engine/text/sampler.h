// Token samplers, seeded and reproducible: the same seed and logits give the same tokens.
//
// Order of operations (llama.cpp's): repetition penalty over the last `repeat_last_n` tokens, then
// greedy if temperature <= 0; else top-k, top-p (nucleus), min-p (relative to the most likely
// token), temperature, and a draw from the renormalised distribution.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace favor::text {

// A seed that asks for a random one (llama.cpp's LLAMA_DEFAULT_SEED plays the same part); the
// generation reports the seed it drew, so a run can be repeated.
inline constexpr uint64_t kRandomSeed = UINT64_MAX;

// The defaults are llama.cpp's (common/common.h): the CLI and the library share them.
struct SamplerOptions {
  float temperature = 0.8f;
  int top_k = 40;               // <= 0: no limit.
  float top_p = 0.95f;          // In (0, 1]; 1: off.
  float min_p = 0.05f;          // <= 0: off.
  float repeat_penalty = 1.0f;  // 1: off. Positive logits are divided by it, negative multiplied.
  int repeat_last_n = 64;
  uint64_t seed = kRandomSeed;

  absl::Status Validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);

  // Picks the next token from `logits`, given the tokens so far (for the repetition penalty).
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history);

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<float> adjusted_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace favor::text
