#include "tests/test_util.h"

#include <cstdlib>

#include "engine/core/storage.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace favor::testing {

const std::string& ModelsDir() {
  // FAVOR_MODELS_DIR in the environment points the tests at another copy.
  static const std::string dir = std::getenv("FAVOR_MODELS_DIR") != nullptr
                                     ? std::getenv("FAVOR_MODELS_DIR")
                                     : FAVOR_MODELS_DIR;
  return dir;
}

bool ModelsPresent() { return IsRegularFile(ModelsDir() + "/stories260K/stories260K.bin"); }

std::vector<float> RandomVector(int64_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = dist(rng);
  return values;
}

Tensor TensorFrom(const std::vector<float>& values, const Shape& shape) {
  Tensor t = Tensor::Allocate(DType::kF32, shape).value();
  std::memcpy(t.mutable_data<float>(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor RandomTensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  return TensorFrom(RandomVector(shape.NumElements(), seed, lo, hi), shape);
}

std::vector<float> ToVector(const Tensor& tensor) {
  const float* data = tensor.data<float>();
  return std::vector<float>(data, data + tensor.NumElements());
}

double NormalizedError(const float* actual, const float* expected, int64_t n) {
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(actual[i]) - expected[i];
    diff += d * d;
    norm += static_cast<double>(expected[i]) * expected[i];
  }
  if (std::isnan(diff)) return INFINITY;
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

double NormalizedError(const std::vector<float>& actual, const std::vector<float>& expected) {
  EXPECT_EQ(actual.size(), expected.size());
  return NormalizedError(actual.data(), expected.data(),
                         static_cast<int64_t>(std::min(actual.size(), expected.size())));
}

std::string IsaParamName(const ::testing::TestParamInfo<kernels::Isa>& info) {
  return std::string(kernels::IsaName(info.param));
}

absl::StatusOr<std::vector<std::vector<float>>> RunGraphOnce(std::shared_ptr<const Graph> graph,
                                                             const std::vector<Tensor>& inputs,
                                                             kernels::Isa isa, int64_t max_seq_len,
                                                             int threads) {
  ExecutorOptions options;
  options.isa = isa;
  options.max_seq_len = max_seq_len;
  options.threads = threads;
  auto executor = Executor::Create(std::move(graph), options);
  if (!executor.ok()) return executor.status();
  auto state = (*executor)->CreateState({.max_context = std::max<int64_t>(256, max_seq_len)});
  if (!state.ok()) return state.status();
  absl::Status status = (*executor)->Run(inputs, **state);
  if (!status.ok()) return status;
  std::vector<std::vector<float>> outputs;
  for (size_t i = 0; i < (*executor)->num_outputs(); ++i) {
    outputs.push_back(ToVector((*executor)->output(i)));
  }
  return outputs;
}

}  // namespace favor::testing

#include "absl/strings/str_cat.h"
#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/embedding.h"
#include "engine/ops/matmul.h"
#include "engine/ops/rms_norm.h"
#include "engine/ops/rope.h"

namespace favor::testing {

std::shared_ptr<Graph> BuildTinyTransformer(const TinyTransformerConfig& c) {
  auto graph = std::make_shared<Graph>();
  Graph& g = *graph;
  uint64_t seed = c.seed * 1000;
  const int64_t head_dim = c.dim / c.heads;
  const float weight_scale = 1.0f / std::sqrt(static_cast<float>(c.dim));
  auto matmul = [&](const std::string& name, ValueId x, int64_t in, int64_t out) {
    const Tensor w = RandomTensor(Shape{out, in}, ++seed, -weight_scale, weight_scale);
    auto op = MatMulOp::Create(w, {.weight_name = name}).value();
    return g.Add(name, op, {x}).value();
  };
  auto norm = [&](const std::string& name, ValueId x) {
    const ValueId w =
        g.AddConstant(name + ".weight", RandomTensor(Shape{c.dim}, ++seed, 0.8f, 1.2f)).value();
    return g.Add(name, std::make_shared<RmsNormOp>(1e-5f), {x, w}).value();
  };
  const ValueId ids = g.AddInput("tokens", {DType::kI32, Shape{kSeqLen}}).value();
  const ValueId table =
      g.AddConstant("embedding", RandomTensor(Shape{c.vocab, c.dim}, ++seed)).value();
  ValueId x = g.Add("embed", std::make_shared<EmbeddingOp>(), {table, ids}).value();
  auto rope_q = RopeOp::Create({.n_heads = c.heads, .head_dim = head_dim}).value();
  auto rope_k = RopeOp::Create({.n_heads = c.kv_heads, .head_dim = head_dim}).value();
  auto attention =
      AttentionOp::Create({.n_heads = c.heads, .n_kv_heads = c.kv_heads, .head_dim = head_dim})
          .value();
  for (int64_t layer = 0; layer < c.layers; ++layer) {
    const std::string p = absl::StrCat("layer", layer, ".");
    const ValueId h = norm(p + "attention_norm", x);
    const ValueId q = g.Add(p + "rope_q", rope_q, {matmul(p + "wq", h, c.dim, c.dim)}).value();
    const ValueId k =
        g.Add(p + "rope_k", rope_k, {matmul(p + "wk", h, c.dim, c.kv_heads * head_dim)}).value();
    const ValueId v = matmul(p + "wv", h, c.dim, c.kv_heads * head_dim);
    const ValueId a = g.Add(p + "attention", attention, {q, k, v}).value();
    x = g.Add(p + "residual1", std::make_shared<ElementwiseOp>(ElementwiseKind::kAdd),
              {x, matmul(p + "wo", a, c.dim, c.dim)})
            .value();
    const ValueId f = norm(p + "ffn_norm", x);
    const ValueId gate = g.Add(p + "silu", std::make_shared<ElementwiseOp>(ElementwiseKind::kSilu),
                               {matmul(p + "w1", f, c.dim, c.ffn)})
                             .value();
    const ValueId up = matmul(p + "w3", f, c.dim, c.ffn);
    const ValueId act =
        g.Add(p + "gate", std::make_shared<ElementwiseOp>(ElementwiseKind::kMul), {gate, up})
            .value();
    x = g.Add(p + "residual2", std::make_shared<ElementwiseOp>(ElementwiseKind::kAdd),
              {x, matmul(p + "w2", act, c.ffn, c.dim)})
            .value();
  }
  const ValueId logits = matmul("output", norm("final_norm", x), c.dim, c.vocab);
  EXPECT_TRUE(g.MarkOutput(logits).ok());
  return graph;
}

Tensor TokenIds(const std::vector<int32_t>& ids) {
  Tensor t = Tensor::Allocate(DType::kI32, Shape{static_cast<int64_t>(ids.size())}).value();
  std::memcpy(t.mutable_data<int32_t>(), ids.data(), ids.size() * sizeof(int32_t));
  return t;
}

}  // namespace favor::testing
