// MatMul (oneDNN) against a double-precision reference, at decode (T = 1) and prefill shapes,
// odd sizes, both weight layouts, f16 weights, and bf16 compute.
#include "engine/ops/matmul.h"
#include "absl/strings/str_cat.h"
#include "engine/core/half.h"
#include "tests/test_util.h"

namespace favor {
namespace {

using testing::NormalizedError;
using testing::RandomTensor;

// y[t, n] = sum_k x[t, k] w[n, k] with w stored [N, K].
std::vector<float> ReferenceMatMul(const Tensor& x, const Tensor& w_out_by_in) {
  const int64_t tokens = x.dim(0), in = x.dim(1), out = w_out_by_in.dim(0);
  std::vector<float> y(static_cast<size_t>(tokens * out));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t n = 0; n < out; ++n) {
      double sum = 0.0;
      for (int64_t k = 0; k < in; ++k) {
        sum += static_cast<double>(x.data<float>()[t * in + k]) *
               w_out_by_in.data<float>()[n * in + k];
      }
      y[static_cast<size_t>(t * out + n)] = static_cast<float>(sum);
    }
  }
  return y;
}

std::vector<float> RunMatMul(std::shared_ptr<const Op> op, int64_t in, const Tensor& x) {
  auto graph = std::make_shared<Graph>();
  const ValueId input = graph->AddInput("x", {DType::kF32, Shape{kSeqLen, in}}).value();
  const ValueId y = graph->Add("matmul", std::move(op), {input}).value();
  EXPECT_TRUE(graph->MarkOutput(y).ok());
  auto result = testing::RunGraphOnce(graph, {x}, kernels::BestIsa(), 128);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? (*result)[0] : std::vector<float>{};
}

struct MatMulShape {
  int64_t tokens, in, out;
};

class MatMulTest : public ::testing::TestWithParam<MatMulShape> {};

TEST_P(MatMulTest, F32MatchesReference) {
  const auto [tokens, in, out] = GetParam();
  const Tensor w = RandomTensor(Shape{out, in}, 1);
  const Tensor x = RandomTensor(Shape{tokens, in}, 2);
  auto op = MatMulOp::Create(w, {.weight_name = "w"});
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_LT(NormalizedError(RunMatMul(*op, in, x), ReferenceMatMul(x, w)), 1e-5);
}

TEST_P(MatMulTest, InByOutLayoutGivesTheSameProduct) {
  const auto [tokens, in, out] = GetParam();
  const Tensor w = RandomTensor(Shape{out, in}, 3);
  Tensor transposed = Tensor::Allocate(DType::kF32, Shape{in, out}).value();
  for (int64_t n = 0; n < out; ++n) {
    for (int64_t k = 0; k < in; ++k) {
      transposed.mutable_data<float>()[k * out + n] = w.data<float>()[n * in + k];
    }
  }
  const Tensor x = RandomTensor(Shape{tokens, in}, 4);
  auto op = MatMulOp::Create(transposed, {.weight_name = "wt", .layout = WeightLayout::kInByOut});
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_LT(NormalizedError(RunMatMul(*op, in, x), ReferenceMatMul(x, w)), 1e-5);
}

TEST_P(MatMulTest, F16WeightsAreWidenedExactly) {
  const auto [tokens, in, out] = GetParam();
  Tensor w = RandomTensor(Shape{out, in}, 5);
  Tensor w16 = Tensor::Allocate(DType::kF16, w.shape()).value();
  for (int64_t i = 0; i < w.NumElements(); ++i) {
    w16.mutable_data<uint16_t>()[i] = F32ToF16(w.data<float>()[i]);
    w.mutable_data<float>()[i] = F16ToF32(w16.data<uint16_t>()[i]);  // The exact f16 values.
  }
  const Tensor x = RandomTensor(Shape{tokens, in}, 6);
  auto op = MatMulOp::Create(w16, {.weight_name = "w16"});
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_TRUE((*op)->ReadsWeightsInPlace());
  EXPECT_LT(NormalizedError(RunMatMul(*op, in, x), ReferenceMatMul(x, w)), 1e-5);
  // Stored [K, N], the rows are not the kernels' rows: the packed path, the same product.
  Tensor transposed = Tensor::Allocate(DType::kF16, Shape{in, out}).value();
  for (int64_t n = 0; n < out; ++n) {
    for (int64_t k = 0; k < in; ++k) {
      transposed.mutable_data<uint16_t>()[k * out + n] = w16.data<uint16_t>()[n * in + k];
    }
  }
  auto packed =
      MatMulOp::Create(transposed, {.weight_name = "w16t", .layout = WeightLayout::kInByOut});
  ASSERT_TRUE(packed.ok()) << packed.status();
  EXPECT_FALSE((*packed)->ReadsWeightsInPlace());
  EXPECT_LT(NormalizedError(RunMatMul(*packed, in, x), ReferenceMatMul(x, w)), 1e-5);
}

// bf16 weights read in place: decode multiplies them by the f32 activations; prefill (on CPUs with
// bf16 dot products) hands the stored rows to oneDNN as they are, with the activations rounded to
// bf16. Either way the product of those operands, accumulated in f32.
TEST_P(MatMulTest, Bf16WeightsAreMultipliedAsStored) {
  const auto [tokens, in, out] = GetParam();
  Tensor w = RandomTensor(Shape{out, in}, 9);
  Tensor w16 = Tensor::Allocate(DType::kBF16, w.shape()).value();
  for (int64_t i = 0; i < w.NumElements(); ++i) {
    w16.mutable_data<uint16_t>()[i] = F32ToBF16(w.data<float>()[i]);
    w.mutable_data<float>()[i] = BF16ToF32(w16.data<uint16_t>()[i]);
  }
  const Tensor x = RandomTensor(Shape{tokens, in}, 10);
  auto op = MatMulOp::Create(w16, {.weight_name = "wb16"});
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_TRUE((*op)->ReadsWeightsInPlace());
  const bool bf16_prefill =
      tokens >= 16 && (*op)->implementation().find("widened to bf16") != std::string::npos;
  Tensor x_operand = Tensor::Allocate(DType::kF32, x.shape()).value();
  for (int64_t i = 0; i < x.NumElements(); ++i) {
    x_operand.mutable_data<float>()[i] =
        bf16_prefill ? BF16ToF32(F32ToBF16(x.data<float>()[i])) : x.data<float>()[i];
  }
  EXPECT_LT(NormalizedError(RunMatMul(*op, in, x), ReferenceMatMul(x_operand, w)), 1e-6)
      << (*op)->implementation();
}

TEST_P(MatMulTest, Bf16ComputeIsCloseToF32) {
  // Without AVX-512 oneDNN has no bf16 matmul and every T takes the engine's matvec_bf16 path.
  const auto [tokens, in, out] = GetParam();
  const Tensor w = RandomTensor(Shape{out, in}, 7);
  const Tensor x = RandomTensor(Shape{tokens, in}, 8);
  auto op = MatMulOp::Create(w, {.weight_name = "wb", .compute = DType::kBF16});
  ASSERT_TRUE(op.ok()) << op.status();
  // The weights are rounded to bf16; so are the activations on oneDNN's bf16 GEMM (T above the
  // matrix-vector kernel's rows, on CPUs that have it), not on the engine's matrix-vector kernel,
  // which reads them in f32. Against a reference on the same rounded operands only the f32
  // accumulation differs (a wrong rounding, or an operand rounded that should not be, is ~1e-3
  // off; so is the f32 reference, which is why that comparison proves little).
  const bool gemm =
      tokens > kernels::kMatVecMaxRows && (*op)->implementation() != "favor:matvec_bf16";
  Tensor w_rounded = Tensor::Allocate(DType::kF32, w.shape()).value();
  Tensor x_rounded = Tensor::Allocate(DType::kF32, x.shape()).value();
  for (int64_t i = 0; i < w.NumElements(); ++i) {
    w_rounded.mutable_data<float>()[i] = BF16ToF32(F32ToBF16(w.data<float>()[i]));
  }
  for (int64_t i = 0; i < x.NumElements(); ++i) {
    x_rounded.mutable_data<float>()[i] =
        gemm ? BF16ToF32(F32ToBF16(x.data<float>()[i])) : x.data<float>()[i];
  }
  const auto result = RunMatMul(*op, in, x);
  EXPECT_LT(NormalizedError(result, ReferenceMatMul(x_rounded, w_rounded)), 1e-6);
  EXPECT_GT(NormalizedError(result, ReferenceMatMul(x, w)), 1e-4)
      << "the operands were not rounded";
  EXPECT_EQ((*op)->PackedWeightBytes() >= in * out * 2, true);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatMulTest,
                         ::testing::Values(MatMulShape{1, 64, 32}, MatMulShape{1, 17, 33},
                                           MatMulShape{1, 768, 300}, MatMulShape{7, 64, 100},
                                           MatMulShape{5, 13, 1}, MatMulShape{64, 256, 128},
                                           MatMulShape{100, 96, 77}),
                         [](const auto& param_info) {
                           return absl::StrCat("T", param_info.param.tokens, "_K",
                                               param_info.param.in, "_N", param_info.param.out);
                         });

TEST(MatMulOp, WrongInputWidthIsABuildTimeErrorNamingTheNode) {
  auto op = MatMulOp::Create(RandomTensor(Shape{8, 16}, 9), {.weight_name = "blk.0.wq"}).value();
  Graph graph;
  const ValueId x = graph.AddInput("x", {DType::kF32, Shape{kSeqLen, 12}}).value();
  const auto y = graph.Add("blk.0.q_proj", op, {x});
  ASSERT_FALSE(y.ok());
  const std::string message(y.status().message());
  EXPECT_NE(message.find("blk.0.q_proj"), std::string::npos) << message;
  EXPECT_NE(message.find("MatMul"), std::string::npos) << message;
  EXPECT_NE(message.find("16"), std::string::npos) << message;
  EXPECT_NE(message.find("f32[T, 12]"), std::string::npos) << message;
}

TEST(MatMulOp, RejectsBadWeights) {
  EXPECT_FALSE(MatMulOp::Create(RandomTensor(Shape{8}, 1), {.weight_name = "v"}).ok());
  Tensor ints = Tensor::Allocate(DType::kI32, Shape{4, 4}).value();
  const auto bad = MatMulOp::Create(ints, {.weight_name = "ints"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ints"), absl::string_view::npos);
}

}  // namespace
}  // namespace favor

namespace favor {
namespace {

// Quantized weights are multiplied in place: every T (1 token, a partial group of kQuantMaxTokens,
// many) and an output count that is not a whole number of the op's row blocks, on every ISA,
// against the dequantized weights times the f32 activations. The gap is the activations' 8-bit
// quantization (about 1/254 of each block's largest value, so well under 1 % of the product).
// Every path of quantized weights: the file's rows (N = 37), the 8-row interleaved layout of the
// formats that have one (N = 40: all but Q5_1), and prefill's widening from either (T >=
// 16).
TEST(MatMulOp, QuantizedWeightsAreMultipliedInPlaceAtEveryTokenCount) {
  for (const DType dtype :
       {DType::kQ8_0, DType::kQ4_0, DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (const int64_t out : {37, 40}) {
      const int64_t in = 256;
      const Tensor f32 = RandomTensor(Shape{out, in}, 11);
      Tensor w = Tensor::Allocate(dtype, Shape{out, in}).value();
      GetDTypeInfo(dtype).from_f32(f32.data<float>(), w.mutable_raw_data(), out * in);
      Tensor dequantized = Tensor::Allocate(DType::kF32, Shape{out, in}).value();
      GetDTypeInfo(dtype).to_f32(w.raw_data(), dequantized.mutable_data<float>(), out * in);
      auto op = MatMulOp::Create(w, {.weight_name = "w"});
      ASSERT_TRUE(op.ok()) << op.status();
      const bool interleaved = out % 8 == 0 && dtype != DType::kQ5_1;  // Q5_1 has no layout.
      EXPECT_EQ((*op)->InterleavesWeights(), interleaved) << DTypeName(dtype) << " N=" << out;
      // Read where it is, or from the repacked copy of the same size (Q4_K: 1184 bytes per 8
      // rows' super-block against 8 x 144, Q5_K 1440 against 8 x 176).
      const int64_t repacked = dtype == DType::kQ4_K   ? out / 8 * 1184
                               : dtype == DType::kQ5_K ? out / 8 * 1440
                                                       : w.NumBytes();
      EXPECT_EQ((*op)->PackedWeightBytes(), interleaved ? repacked : 0);
      for (int64_t tokens : {1, 3, 4, 5, 9, 33}) {
        const Tensor x = RandomTensor(Shape{tokens, in}, 12);
        for (const kernels::Isa isa : kernels::SupportedIsas()) {
          auto graph = std::make_shared<Graph>();
          const ValueId input = graph->AddInput("x", {DType::kF32, Shape{kSeqLen, in}}).value();
          ASSERT_TRUE(graph->MarkOutput(graph->Add("matmul", *op, {input}).value()).ok());
          auto result = testing::RunGraphOnce(graph, {x}, isa, 64);
          ASSERT_TRUE(result.ok()) << result.status();
          EXPECT_LT(NormalizedError((*result)[0], ReferenceMatMul(x, dequantized)), 1e-2)
              << DTypeName(dtype) << " N=" << out << " T=" << tokens << " "
              << kernels::IsaName(isa);
        }
      }
    }
  }
}

TEST(MatMulOp, QuantizedWeightsMustBeOutByInRows) {
  Tensor w = Tensor::Allocate(DType::kQ8_0, Shape{4, 64}).value();
  auto op = MatMulOp::Create(w, {.weight_name = "w", .layout = WeightLayout::kInByOut});
  ASSERT_FALSE(op.ok());
  EXPECT_NE(op.status().message().find("q8_0 weights must be contiguous [N, K] rows"),
            std::string::npos)
      << op.status();
}

}  // namespace
}  // namespace favor
