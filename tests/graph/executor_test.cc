// The executor on a small Llama-style decoder: reuse, prefill/decode consistency, ISA and thread
// agreement, input validation and the memory plan.
#include "engine/graph/executor.h"
#include "engine/graph/pass.h"
#include "tests/test_util.h"

namespace favor {
namespace {

using testing::BuildTinyTransformer;
using testing::NormalizedError;
using testing::TokenIds;
using testing::ToVector;

const std::vector<int32_t> kPrompt = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46};

std::vector<float> RunTokens(Executor& executor, GraphState& state,
                             const std::vector<int32_t>& ids) {
  EXPECT_TRUE(executor.Run({TokenIds(ids)}, state).ok());
  return ToVector(executor.output(0));
}

TEST(Executor, RunsRepeatedlyWithTheSameResults) {
  auto executor = Executor::Create(BuildTinyTransformer({}), {.max_seq_len = 16}).value();
  auto state = executor->CreateState({.max_context = 64}).value();
  const auto first = RunTokens(*executor, *state, kPrompt);
  state->Reset();
  const auto second = RunTokens(*executor, *state, kPrompt);
  EXPECT_EQ(first, second);
  // A second state on the same executor is independent of the first.
  auto other = executor->CreateState({.max_context = 64}).value();
  EXPECT_EQ(RunTokens(*executor, *other, kPrompt), first);
}

TEST(Executor, DecodingTokenByTokenMatchesPrefill) {
  auto executor = Executor::Create(BuildTinyTransformer({}), {.max_seq_len = 16}).value();
  auto state = executor->CreateState({.max_context = 64}).value();
  const auto prefill = RunTokens(*executor, *state, kPrompt);
  const int64_t vocab = 101;
  // Prefill 4 tokens, then decode the rest one at a time: the logits of every position agree.
  state->Reset();
  std::vector<float> incremental =
      RunTokens(*executor, *state, std::vector<int32_t>(kPrompt.begin(), kPrompt.begin() + 4));
  for (size_t t = 4; t < kPrompt.size(); ++t) {
    const auto row = RunTokens(*executor, *state, {kPrompt[t]});
    ASSERT_EQ(row.size(), static_cast<size_t>(vocab));
    incremental.insert(incremental.end(), row.begin(), row.end());
  }
  EXPECT_EQ(state->position(), static_cast<int64_t>(kPrompt.size()));
  EXPECT_LT(NormalizedError(incremental, prefill), 1e-5);
}

TEST(Executor, EveryIsaAndThreadCountAgrees) {
  auto graph = BuildTinyTransformer({.dim = 48, .heads = 6, .kv_heads = 2, .ffn = 80});
  std::vector<float> baseline;
  for (kernels::Isa isa : kernels::SupportedIsas()) {
    for (int threads : {1, 2}) {
      auto executor =
          Executor::Create(graph, {.max_seq_len = 16, .threads = threads, .isa = isa}).value();
      auto state = executor->CreateState({.max_context = 32}).value();
      const auto logits = RunTokens(*executor, *state, kPrompt);
      if (baseline.empty()) {
        baseline = logits;
      } else {
        EXPECT_LT(NormalizedError(logits, baseline), 1e-5)
            << kernels::IsaName(isa) << " threads=" << threads;
      }
    }
  }
}

TEST(Executor, FusionPassKeepsTheLogits) {
  auto graph = BuildTinyTransformer({});
  auto executor = Executor::Create(graph, {.max_seq_len = 16}).value();
  auto state = executor->CreateState({.max_context = 64}).value();
  const auto before = RunTokens(*executor, *state, kPrompt);

  auto fused_graph = std::make_shared<Graph>(*graph);
  FuseSwiGluPass fuse;
  const GraphPass* passes[] = {&fuse};
  ASSERT_TRUE(RunPasses(*fused_graph, passes).ok());
  EXPECT_EQ(fused_graph->FindNodesOfType("SwiGlu").size(), 2u);
  auto fused = Executor::Create(fused_graph, {.max_seq_len = 16}).value();
  auto fused_state = fused->CreateState({.max_context = 64}).value();
  EXPECT_LT(NormalizedError(RunTokens(*fused, *fused_state, kPrompt), before), 1e-6);
  EXPECT_LT(fused_graph->FindNodes([](const Node&) { return true; }).size(),
            graph->FindNodes([](const Node&) { return true; }).size());
}

TEST(Executor, RejectsBadInputsWithClearErrors) {
  auto executor = Executor::Create(BuildTinyTransformer({}), {.max_seq_len = 8}).value();
  auto state = executor->CreateState({.max_context = 64}).value();
  // Too many tokens for one run.
  absl::Status status = executor->Run({TokenIds(kPrompt)}, *state);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("1 to 8 tokens"), absl::string_view::npos) << status;
  // Wrong dtype.
  const Tensor floats = Tensor::Allocate(DType::kF32, Shape{3}).value();
  status = executor->Run({floats}, *state);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("input 'tokens': expected i32[T]"), absl::string_view::npos)
      << status;
  // Wrong number of inputs.
  EXPECT_FALSE(executor->Run({}, *state).ok());
  // A state made for another graph.
  auto other = Executor::Create(BuildTinyTransformer({.seed = 2}), {.max_seq_len = 8}).value();
  auto foreign = other->CreateState({.max_context = 8}).value();
  EXPECT_FALSE(executor->Run({TokenIds({1})}, *foreign).ok());
  EXPECT_EQ(state->position(), 0);  // Nothing ran.
  // Bad options.
  EXPECT_FALSE(Executor::Create(BuildTinyTransformer({}), {.max_seq_len = 0}).ok());
  EXPECT_FALSE(executor->CreateState({.max_context = 0}).ok());
}

TEST(Executor, PlansSharedMemoryAndReportsIt) {
  auto executor =
      Executor::Create(BuildTinyTransformer({.layers = 4}), {.max_seq_len = 32}).value();
  const std::string summary = executor->PlanSummary();
  EXPECT_NE(summary.find("arena"), std::string::npos);
  EXPECT_NE(summary.find(std::string(kernels::IsaName(executor->isa()))), std::string::npos);
  // 4 layers of buffers fold into a few: far less than one buffer per value.
  auto state = executor->CreateState({.max_context = 100}).value();
  // KV cache: 4 layers x 2 (k, v) x 4 kv heads x 8 dims x 100 tokens x 4 bytes.
  EXPECT_EQ(state->NumBytes(), 4 * 2 * 4 * 8 * 100 * 4);
  EXPECT_NE(summary.find("unshared"), std::string::npos);
}

}  // namespace
}  // namespace favor
