// Graph building, validation, rewriting (passes) and dumps.
#include "engine/graph/graph.h"
#include "engine/graph/pass.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/rms_norm.h"
#include "engine/ops/softmax.h"
#include "tests/test_util.h"

namespace favor {
namespace {

using testing::NormalizedError;
using testing::RandomTensor;

std::shared_ptr<ElementwiseOp> Elementwise(ElementwiseKind kind) {
  return std::make_shared<ElementwiseOp>(kind);
}

TEST(Graph, ShapeMismatchNamesTheNodeAndBothShapes) {
  Graph graph;
  const ValueId a = graph.AddInput("a", {DType::kF32, Shape{kSeqLen, 8}}).value();
  const ValueId b = graph.AddInput("b", {DType::kF32, Shape{kSeqLen, 9}}).value();
  const auto sum = graph.Add("residual.3", Elementwise(ElementwiseKind::kAdd), {a, b});
  ASSERT_FALSE(sum.ok());
  const std::string message(sum.status().message());
  EXPECT_NE(message.find("node 'residual.3' (Add)"), std::string::npos) << message;
  EXPECT_NE(message.find("f32[T, 8]"), std::string::npos) << message;
  EXPECT_NE(message.find("f32[T, 9]"), std::string::npos) << message;
}

TEST(Graph, DTypeMismatchIsABuildTimeError) {
  Graph graph;
  const ValueId ids = graph.AddInput("ids", {DType::kI32, Shape{kSeqLen, 4}}).value();
  const auto out = graph.Add("silu", Elementwise(ElementwiseKind::kSilu), {ids});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("expected dtype f32, got i32[T, 4]"),
            absl::string_view::npos)
      << out.status();
}

TEST(Graph, UnknownValueAndMissingOutputAreErrors) {
  Graph graph;
  EXPECT_FALSE(graph.Add("x", Elementwise(ElementwiseKind::kSilu), {42}).ok());
  EXPECT_FALSE(graph.Validate().ok());  // No outputs.
}

TEST(Graph, CycleCreatedByARewriteIsRejected) {
  Graph graph;
  const ValueId x = graph.AddInput("x", {DType::kF32, Shape{kSeqLen, 4}}).value();
  const ValueId a = graph.Add("a", Elementwise(ElementwiseKind::kSilu), {x}).value();
  const ValueId b = graph.Add("b", Elementwise(ElementwiseKind::kSilu), {a}).value();
  ASSERT_TRUE(graph.MarkOutput(b).ok());
  ASSERT_TRUE(graph.Validate().ok());
  // Make node a read b: a -> b -> a.
  ASSERT_TRUE(graph.ReplaceAllUses(x, b).ok());
  const absl::Status status = graph.Validate();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cycle"), absl::string_view::npos) << status;
  EXPECT_FALSE(Executor::Create(std::make_shared<Graph>(graph)).ok());
  EXPECT_NE(graph.Dump().find("not a DAG"), std::string::npos);
}

TEST(Graph, DumpIsReadable) {
  Graph graph;
  const ValueId x = graph.AddInput("x", {DType::kF32, Shape{kSeqLen, 4}}).value();
  const ValueId w = graph.AddConstant("norm.weight", RandomTensor(Shape{4}, 1)).value();
  const ValueId n = graph.Add("norm", std::make_shared<RmsNormOp>(1e-5f), {x, w}).value();
  ASSERT_TRUE(graph.MarkOutput(n).ok());
  const std::string dump = graph.Dump();
  EXPECT_NE(dump.find("input %0 'x' : f32[T, 4]"), std::string::npos) << dump;
  EXPECT_NE(dump.find("const %1 'norm.weight' : f32[4]"), std::string::npos) << dump;
  EXPECT_NE(dump.find("%2 = RmsNorm(%0, %1) {eps=1e-05} : f32[T, 4]  # norm"), std::string::npos)
      << dump;
  EXPECT_NE(dump.find("output %2"), std::string::npos) << dump;
}

TEST(Graph, RemoveDeadNodesKeepsWhatReachesOutputs) {
  Graph graph;
  const ValueId x = graph.AddInput("x", {DType::kF32, Shape{kSeqLen, 4}}).value();
  const ValueId used = graph.Add("used", Elementwise(ElementwiseKind::kSilu), {x}).value();
  graph.Add("unused", std::make_shared<SoftmaxOp>(), {x}).value();
  ASSERT_TRUE(graph.MarkOutput(used).ok());
  EXPECT_EQ(graph.RemoveDeadNodes(), 1);
  EXPECT_EQ(graph.FindNodesOfType("Softmax").size(), 0u);
  EXPECT_EQ(graph.FindNodesOfType("Silu").size(), 1u);
}

// Builds y = Mul(Silu(g), u) + r, the Llama feed-forward pattern.
std::shared_ptr<Graph> FeedForwardPattern() {
  auto graph = std::make_shared<Graph>();
  const TensorSpec spec{DType::kF32, Shape{kSeqLen, 33}};
  const ValueId g = graph->AddInput("gate", spec).value();
  const ValueId u = graph->AddInput("up", spec).value();
  const ValueId act = graph->Add("act", Elementwise(ElementwiseKind::kSilu), {g}).value();
  const ValueId prod = graph->Add("prod", Elementwise(ElementwiseKind::kMul), {act, u}).value();
  const ValueId y = graph->Add("residual", Elementwise(ElementwiseKind::kAdd), {prod, u}).value();
  EXPECT_TRUE(graph->MarkOutput(y).ok());
  return graph;
}

TEST(Passes, FuseSwiGluRewritesTheSubgraphAndKeepsTheResult) {
  auto graph = FeedForwardPattern();
  const std::vector<Tensor> inputs = {RandomTensor(Shape{5, 33}, 1, -4, 4),
                                      RandomTensor(Shape{5, 33}, 2)};
  const auto before = testing::RunGraphOnce(graph, inputs, kernels::BestIsa()).value();

  FuseSwiGluPass fuse;
  const GraphPass* passes[] = {&fuse};
  ASSERT_TRUE(RunPasses(*graph, passes).ok());
  EXPECT_EQ(graph->FindNodesOfType("Silu").size(), 0u);
  EXPECT_EQ(graph->FindNodesOfType("Mul").size(), 0u);
  EXPECT_EQ(graph->FindNodesOfType("SwiGlu").size(), 1u);
  const auto after = testing::RunGraphOnce(graph, inputs, kernels::BestIsa()).value();
  EXPECT_LT(NormalizedError(after[0], before[0]), 1e-6);
}

TEST(Passes, FuseSwiGluLeavesASharedSiluAlone) {
  auto graph = std::make_shared<Graph>();
  const TensorSpec spec{DType::kF32, Shape{kSeqLen, 8}};
  const ValueId g = graph->AddInput("gate", spec).value();
  const ValueId u = graph->AddInput("up", spec).value();
  const ValueId act = graph->Add("act", Elementwise(ElementwiseKind::kSilu), {g}).value();
  const ValueId prod = graph->Add("prod", Elementwise(ElementwiseKind::kMul), {act, u}).value();
  const ValueId y = graph->Add("sum", Elementwise(ElementwiseKind::kAdd), {prod, act}).value();
  ASSERT_TRUE(graph->MarkOutput(y).ok());
  EXPECT_FALSE(FuseSwiGluPass().Run(*graph).value());
}

TEST(Passes, ReplaceOpPassSwapsOpsAndRejectsIncompatibleOnes) {
  auto graph = FeedForwardPattern();
  ReplaceOpPass to_add("mul-to-add", "Mul", [](const Graph&, NodeId) {
    return absl::StatusOr<std::shared_ptr<const Op>>(Elementwise(ElementwiseKind::kAdd));
  });
  const GraphPass* passes[] = {&to_add};
  ASSERT_TRUE(RunPasses(*graph, passes).ok());
  EXPECT_EQ(graph->FindNodesOfType("Mul").size(), 0u);
  EXPECT_EQ(graph->FindNodesOfType("Add").size(), 2u);

  // A replacement whose shapes do not fit is refused, with the pass and node named.
  ReplaceOpPass to_norm("add-to-norm", "Add", [](const Graph&, NodeId) {
    return absl::StatusOr<std::shared_ptr<const Op>>(std::make_shared<RmsNormOp>(1e-5f));
  });
  const GraphPass* bad[] = {&to_norm};
  const absl::Status status = RunPasses(*graph, bad);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("pass 'add-to-norm'"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("RmsNorm"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace favor
