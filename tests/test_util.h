// Shared helpers for the engine's tests: seeded random data, normalised errors, ISA parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/graph/executor.h"
#include "engine/graph/graph.h"
#include "engine/kernels/kernels.h"
#include "gtest/gtest.h"

namespace favor::testing {

// The real pretrained models beside the repository (../shared/models, see its README; the
// FAVOR_MODELS_DIR environment variable points elsewhere): the one place tests find them. A test
// that reads them starts with FAVOR_REQUIRE_MODELS(), which skips it, saying where they were looked
// for, when they are absent.
const std::string& ModelsDir();
bool ModelsPresent();
#define FAVOR_REQUIRE_MODELS()                                                   \
  if (!::favor::testing::ModelsPresent())                                        \
  GTEST_SKIP() << "the real models are not at " << ::favor::testing::ModelsDir() \
               << " (see ../shared/models/README.md)"

// Uniform values in [lo, hi) from a fixed seed.
std::vector<float> RandomVector(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
Tensor RandomTensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
Tensor TensorFrom(const std::vector<float>& values, const Shape& shape);
std::vector<float> ToVector(const Tensor& tensor);

// ||actual - expected|| / ||expected|| (absolute error when expected is all zeros), the
// normalised error used by every comparison with a reference.
double NormalizedError(const float* actual, const float* expected, int64_t n);
double NormalizedError(const std::vector<float>& actual, const std::vector<float>& expected);

// gtest parameter names for ISAs: "scalar", "avx2", "avx512".
std::string IsaParamName(const ::testing::TestParamInfo<kernels::Isa>& info);

// Runs a graph once on one ISA with a fresh state and returns copies of its outputs.
absl::StatusOr<std::vector<std::vector<float>>> RunGraphOnce(std::shared_ptr<const Graph> graph,
                                                             const std::vector<Tensor>& inputs,
                                                             kernels::Isa isa,
                                                             int64_t max_seq_len = 64,
                                                             int threads = 2);

}  // namespace favor::testing

namespace favor::testing {

struct TinyTransformerConfig {
  int64_t dim = 64;
  int64_t heads = 8;
  int64_t kv_heads = 4;
  int64_t ffn = 96;
  int64_t vocab = 101;
  int64_t layers = 2;
  uint64_t seed = 1;
};

// A Llama-style decoder built from the engine's ops with random weights: embedding, per layer
// RMSNorm, q/k/v projections, RoPE, GQA attention with a KV cache, output projection, residual,
// RMSNorm, SiLU-gated feed-forward (Silu and Mul, fused by FuseSwiGluPass), residual; final
// RMSNorm and logits. Input: token ids i32[T]; output: logits f32[T, vocab].
std::shared_ptr<Graph> BuildTinyTransformer(const TinyTransformerConfig& config);
Tensor TokenIds(const std::vector<int32_t>& ids);

}  // namespace favor::testing
