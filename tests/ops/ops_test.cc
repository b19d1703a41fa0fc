// Element-wise, normalisation, RoPE and embedding ops, run through a graph on every ISA and
// compared with the references at awkward sizes (T = 1, odd T, odd widths).
#include <cmath>
#include <cstring>

#include "engine/core/half.h"
#include "engine/kernels/reference.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/embedding.h"
#include "engine/ops/rms_norm.h"
#include "engine/ops/rope.h"
#include "engine/ops/softmax.h"
#include "tests/test_util.h"

namespace favor {
namespace {

using kernels::Isa;
using testing::NormalizedError;
using testing::RandomTensor;
using testing::RunGraphOnce;
using testing::ToVector;

constexpr double kTolerance = 2e-6;

class OpsTest : public ::testing::TestWithParam<Isa> {};

TEST_P(OpsTest, ElementwiseOps) {
  for (int64_t tokens : {1, 3}) {
    for (int64_t width : {1, 17, 100}) {
      for (auto kind : {ElementwiseKind::kAdd, ElementwiseKind::kMul, ElementwiseKind::kSilu,
                        ElementwiseKind::kSwiGlu, ElementwiseKind::kGelu, ElementwiseKind::kGeGlu,
                        ElementwiseKind::kScale, ElementwiseKind::kSoftCap}) {
        auto graph = std::make_shared<Graph>();
        const TensorSpec spec{DType::kF32, Shape{kSeqLen, width}};
        const ValueId a = graph->AddInput("a", spec).value();
        const ValueId b = graph->AddInput("b", spec).value();
        const float parameter = kind == ElementwiseKind::kScale ? -2.5f : 3.0f;
        auto op = std::make_shared<ElementwiseOp>(kind, parameter);
        const bool unary = kind == ElementwiseKind::kSilu || kind == ElementwiseKind::kGelu ||
                           kind == ElementwiseKind::kScale || kind == ElementwiseKind::kSoftCap;
        std::vector<ValueId> inputs = {a, b};
        if (unary) inputs = {a};
        const ValueId out = graph->Add("op", op, inputs).value();
        ASSERT_TRUE(graph->MarkOutput(out).ok());
        const Tensor ta = RandomTensor(Shape{tokens, width}, 1, -5, 5);
        const Tensor tb = RandomTensor(Shape{tokens, width}, 2, -5, 5);
        auto result = RunGraphOnce(graph, {ta, tb}, GetParam());
        ASSERT_TRUE(result.ok()) << result.status();
        std::vector<float> expected(static_cast<size_t>(tokens * width));
        const int64_t n = tokens * width;
        switch (kind) {
          case ElementwiseKind::kAdd:
            kernels::reference::Add(ta.data<float>(), tb.data<float>(), expected.data(), n);
            break;
          case ElementwiseKind::kMul:
            kernels::reference::Mul(ta.data<float>(), tb.data<float>(), expected.data(), n);
            break;
          case ElementwiseKind::kSilu:
            kernels::reference::Silu(ta.data<float>(), expected.data(), n);
            break;
          case ElementwiseKind::kSwiGlu:
            kernels::reference::SwiGlu(ta.data<float>(), tb.data<float>(), expected.data(), n);
            break;
          case ElementwiseKind::kGelu:
            kernels::reference::Gelu(ta.data<float>(), expected.data(), n);
            break;
          case ElementwiseKind::kGeGlu:
            kernels::reference::GeGlu(ta.data<float>(), tb.data<float>(), expected.data(), n);
            break;
          case ElementwiseKind::kScale:
            for (int64_t i = 0; i < n; ++i) expected[i] = parameter * ta.data<float>()[i];
            break;
          case ElementwiseKind::kSoftCap:
            kernels::reference::SoftCap(ta.data<float>(), expected.data(), n, parameter);
            break;
        }
        EXPECT_LT(NormalizedError((*result)[0], expected), kTolerance)
            << op->type() << " T=" << tokens << " width=" << width;
      }
    }
  }
}

// Add and Mul with one row as the second input: the row applies to every row of the first.
TEST_P(OpsTest, AddAndMulBroadcastOneRow) {
  for (int64_t tokens : {1, 3, 7}) {
    for (int64_t width : {1, 17, 100}) {
      for (auto kind : {ElementwiseKind::kAdd, ElementwiseKind::kMul}) {
        auto graph = std::make_shared<Graph>();
        const ValueId a = graph->AddInput("a", {DType::kF32, Shape{kSeqLen, width}}).value();
        const Tensor row = RandomTensor(Shape{width}, 2, -5, 5);
        const ValueId b = graph->AddConstant("row", row).value();
        const ValueId out = graph->Add("op", std::make_shared<ElementwiseOp>(kind), {a, b}).value();
        ASSERT_TRUE(graph->MarkOutput(out).ok());
        const Tensor ta = RandomTensor(Shape{tokens, width}, 1, -5, 5);
        auto result = RunGraphOnce(graph, {ta}, GetParam());
        ASSERT_TRUE(result.ok()) << result.status();
        std::vector<float> expected(static_cast<size_t>(tokens * width));
        for (int64_t t = 0; t < tokens; ++t) {
          const float* in = ta.data<float>() + t * width;
          float* o = expected.data() + t * width;
          if (kind == ElementwiseKind::kAdd) {
            kernels::reference::Add(in, row.data<float>(), o, width);
          } else {
            kernels::reference::Mul(in, row.data<float>(), o, width);
          }
        }
        EXPECT_LT(NormalizedError((*result)[0], expected), kTolerance)
            << (kind == ElementwiseKind::kAdd ? "Add" : "Mul") << " T=" << tokens
            << " width=" << width;
      }
    }
  }
  // A row of the wrong width is refused when the graph is built.
  auto graph = std::make_shared<Graph>();
  const ValueId a = graph->AddInput("a", {DType::kF32, Shape{kSeqLen, 8}}).value();
  const ValueId b = graph->AddConstant("row", RandomTensor(Shape{7}, 2)).value();
  EXPECT_FALSE(
      graph->Add("op", std::make_shared<ElementwiseOp>(ElementwiseKind::kAdd), {a, b}).ok());
}

TEST_P(OpsTest, RmsNormAndSoftmax) {
  for (int64_t tokens : {1, 5}) {
    for (int64_t width : {3, 64, 129}) {
      auto graph = std::make_shared<Graph>();
      const ValueId x = graph->AddInput("x", {DType::kF32, Shape{kSeqLen, width}}).value();
      const ValueId w = graph->AddConstant("w", RandomTensor(Shape{width}, 3, 0.5f, 1.5f)).value();
      const ValueId norm = graph->Add("norm", std::make_shared<RmsNormOp>(1e-6f), {x, w}).value();
      const ValueId soft = graph->Add("softmax", std::make_shared<SoftmaxOp>(), {x}).value();
      ASSERT_TRUE(graph->MarkOutput(norm).ok());
      ASSERT_TRUE(graph->MarkOutput(soft).ok());
      const Tensor tx = RandomTensor(Shape{tokens, width}, 4, -4, 4);
      auto result = RunGraphOnce(graph, {tx}, GetParam());
      ASSERT_TRUE(result.ok()) << result.status();
      std::vector<float> expected_norm(static_cast<size_t>(tokens * width));
      std::vector<float> expected_soft(expected_norm.size());
      const Tensor& tw = graph->value(w).constant;
      for (int64_t t = 0; t < tokens; ++t) {
        kernels::reference::RmsNorm(tx.data<float>() + t * width, tw.data<float>(),
                                    expected_norm.data() + t * width, width, 1e-6f);
        kernels::reference::Softmax(tx.data<float>() + t * width, expected_soft.data() + t * width,
                                    width);
      }
      EXPECT_LT(NormalizedError((*result)[0], expected_norm), kTolerance) << "width=" << width;
      EXPECT_LT(NormalizedError((*result)[1], expected_soft), kTolerance) << "width=" << width;
    }
  }
}

TEST_P(OpsTest, RopeAtAStartPositionBothStyles) {
  for (auto style : {kernels::RopeStyle::kAdjacentPairs, kernels::RopeStyle::kHalves}) {
    for (int64_t head_dim : {8, 14, 64}) {
      const int64_t heads = 3, tokens = 7;
      auto graph = std::make_shared<Graph>();
      const ValueId x =
          graph->AddInput("x", {DType::kF32, Shape{kSeqLen, heads * head_dim}}).value();
      auto rope = RopeOp::Create(
          {.n_heads = heads, .head_dim = head_dim, .theta = 500000.0, .style = style});
      ASSERT_TRUE(rope.ok()) << rope.status();
      const ValueId y = graph->Add("rope", *rope, {x}).value();
      ASSERT_TRUE(graph->MarkOutput(y).ok());
      // Two steps: 4 tokens then 3, so the second starts at position 4.
      ExecutorOptions options{.max_seq_len = 8, .threads = 2, .isa = GetParam()};
      auto executor = Executor::Create(graph, options).value();
      auto state = executor->CreateState({.max_context = 16}).value();
      const Tensor all = RandomTensor(Shape{tokens, heads * head_dim}, 5);
      std::vector<float> expected = ToVector(all), actual;
      for (int64_t t = 0; t < tokens; ++t) {
        kernels::reference::Rope(expected.data() + t * heads * head_dim, t, 500000.0, heads,
                                 head_dim, style);
      }
      for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 4}, {4, 7}}) {
        ASSERT_TRUE(executor->Run({all.Slice(begin, end).value()}, *state).ok());
        const auto part = ToVector(executor->output(0));
        actual.insert(actual.end(), part.begin(), part.end());
      }
      EXPECT_LT(NormalizedError(actual, expected), kTolerance) << "head_dim=" << head_dim;
    }
  }
}

// Frequency factors divide every frequency: all 0.5 turns position t into position 2t.
TEST_P(OpsTest, RopeFrequencyFactorsScaleTheAngles) {
  const int64_t heads = 2, head_dim = 12, tokens = 5;
  auto graph = std::make_shared<Graph>();
  const ValueId x = graph->AddInput("x", {DType::kF32, Shape{kSeqLen, heads * head_dim}}).value();
  auto rope = RopeOp::Create({.n_heads = heads,
                              .head_dim = head_dim,
                              .theta = 10000.0,
                              .style = kernels::RopeStyle::kHalves,
                              .frequency_factors = std::vector<double>(head_dim / 2, 0.5)});
  ASSERT_TRUE(rope.ok()) << rope.status();
  ASSERT_TRUE(graph->MarkOutput(graph->Add("rope", *rope, {x}).value()).ok());
  const Tensor all = RandomTensor(Shape{tokens, heads * head_dim}, 6);
  auto result = RunGraphOnce(graph, {all}, GetParam());
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<float> expected = ToVector(all);
  for (int64_t t = 0; t < tokens; ++t) {
    kernels::reference::Rope(expected.data() + t * heads * head_dim, 2 * t, 10000.0, heads,
                             head_dim, kernels::RopeStyle::kHalves);
  }
  EXPECT_LT(NormalizedError((*result)[0], expected), kTolerance);
}

TEST(RopeOp, RejectsBadOptions) {
  EXPECT_FALSE(RopeOp::Create({.n_heads = 2, .head_dim = 7}).ok());  // Odd head_dim.
  EXPECT_FALSE(RopeOp::Create({.n_heads = 0, .head_dim = 8}).ok());
  EXPECT_FALSE(RopeOp::Create({.n_heads = 1, .head_dim = 8, .theta = 0.5}).ok());
  // One factor per frequency (head_dim / 2), each positive.
  EXPECT_FALSE(RopeOp::Create({.n_heads = 1, .head_dim = 8, .frequency_factors = {1, 1, 1}}).ok());
  EXPECT_FALSE(
      RopeOp::Create({.n_heads = 1, .head_dim = 8, .frequency_factors = {1, 1, 0, 1}}).ok());
}

TEST_P(OpsTest, EmbeddingInAllTableTypes) {
  const int64_t vocab = 11, width = 19;
  const Tensor table = RandomTensor(Shape{vocab, width}, 6);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    Tensor stored = table;
    if (dtype != DType::kF32) {
      stored = Tensor::Allocate(dtype, table.shape()).value();
      for (int64_t i = 0; i < table.NumElements(); ++i) {
        stored.mutable_data<uint16_t>()[i] = dtype == DType::kF16
                                                 ? F32ToF16(table.data<float>()[i])
                                                 : F32ToBF16(table.data<float>()[i]);
      }
    }
    auto graph = std::make_shared<Graph>();
    const ValueId ids = graph->AddInput("ids", {DType::kI32, Shape{kSeqLen}}).value();
    const ValueId tab = graph->AddConstant("table", stored).value();
    const ValueId out = graph->Add("embed", std::make_shared<EmbeddingOp>(), {tab, ids}).value();
    ASSERT_TRUE(graph->MarkOutput(out).ok());
    Tensor token_ids = Tensor::Allocate(DType::kI32, Shape{3}).value();
    const int32_t chosen[3] = {10, 0, 4};
    std::memcpy(token_ids.mutable_data<int32_t>(), chosen, sizeof(chosen));
    auto result = RunGraphOnce(graph, {token_ids}, GetParam());
    ASSERT_TRUE(result.ok()) << result.status();
    // A row is the stored values widened, exactly: 16-bit to f32 loses nothing.
    for (int t = 0; t < 3; ++t) {
      for (int64_t i = 0; i < width; ++i) {
        const int64_t at = chosen[t] * width + i;
        const float expected = dtype == DType::kF32   ? table.data<float>()[at]
                               : dtype == DType::kF16 ? F16ToF32(stored.data<uint16_t>()[at])
                                                      : BF16ToF32(stored.data<uint16_t>()[at]);
        ASSERT_EQ((*result)[0][static_cast<size_t>(t * width + i)], expected)
            << DTypeName(dtype) << " row " << t << " column " << i;
      }
    }
    // An id outside the vocabulary is an error naming it.
    token_ids.mutable_data<int32_t>()[1] = 11;
    auto bad = RunGraphOnce(graph, {token_ids}, GetParam());
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("token id 11 at position 1"), absl::string_view::npos)
        << bad.status();
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, OpsTest, ::testing::ValuesIn(kernels::SupportedIsas()),
                         testing::IsaParamName);

}  // namespace
}  // namespace favor
