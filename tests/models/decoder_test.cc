// The generic decoder reads what its config says: the tensors it needs (and refuses any it would
// not read, rather than ignoring a bias), the architecture's traits (refusing those it has no op
// for, by name), and the file's own numbers (query scale, head size).
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/synthetic.h"
#include "tests/test_util.h"

namespace favor::models {
namespace {

io::ModelFile Tiny() { return SyntheticModelFile(FindSyntheticShape("tiny").value()).value(); }

TEST(Decoder, ATensorItWouldNotReadIsRefusedByName) {
  io::ModelFile file = Tiny();
  ASSERT_TRUE(ValidateTensors(file).ok());
  const int64_t dim = file.config.dim;
  file.tensors.emplace("blk.0.attn_q.bias", Tensor::Allocate(DType::kF32, Shape{dim}).value());
  const absl::Status status = ValidateTensors(file);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'blk.0.attn_q.bias' has no place in the llama decoder"),
            std::string::npos)
      << status;
}

TEST(Decoder, AMissingOrMisshapenTensorIsNamed) {
  io::ModelFile file = Tiny();
  file.tensors.erase("blk.1.ffn_up.weight");
  EXPECT_NE(ValidateTensors(file).message().find("missing tensor 'blk.1.ffn_up.weight'"),
            std::string::npos);
  file = Tiny();
  file.tensors["blk.0.attn_k.weight"] = Tensor::Allocate(DType::kF32, Shape{3, 5}).value();
  EXPECT_NE(ValidateTensors(file).message().find("tensor 'blk.0.attn_k.weight'"),
            std::string::npos);
}

// Each trait brings its tensors: a file without them is refused, naming the first one missing.
TEST(Decoder, TraitsNameTheTensorsTheyNeed) {
  const std::vector<std::pair<std::function<void(io::ModelConfig&)>, std::string>> cases = {
      {[](io::ModelConfig& c) { c.norm = io::NormKind::kLayer; }, "output_norm.bias"},
      {[](io::ModelConfig& c) { c.positions = io::PositionKind::kLearned; },
       "position_embd.weight"},
      {[](io::ModelConfig& c) { c.post_norms = true; }, "blk.0.post_attention_norm.weight"},
      {[](io::ModelConfig& c) { c.linear_biases = true; }, "blk.0.attn_output.bias"},
  };
  for (const auto& [change, needle] : cases) {
    io::ModelFile file = Tiny();
    change(file.config);
    const absl::Status status = ValidateTensors(file);
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << needle;
    EXPECT_NE(status.message().find("missing tensor '" + needle + "'"), std::string::npos)
        << status;
  }
}

// Qwen2's row asks for q/k/v biases: a file without them is refused, naming the first one; with
// them it builds, and a GGUF file keeps Qwen2's rotary halves (its converter does not permute).
TEST(Decoder, QwenNeedsItsBiasesAndKeepsItsRotaryHalves) {
  io::ModelFile file = Tiny();
  file.config.architecture = "qwen2";
  file.gguf = true;
  const auto missing = BuildGraph(file, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing tensor 'blk.0.attn_q.bias'"),
            std::string::npos)
      << missing.status();
  const int64_t q_dim = file.config.n_heads * file.config.head_dim();
  const int64_t kv_dim = file.config.n_kv_heads * file.config.head_dim();
  for (int64_t l = 0; l < file.config.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    file.tensors[p + "attn_q.bias"] = favor::testing::RandomTensor(Shape{q_dim}, 1);
    file.tensors[p + "attn_k.bias"] = favor::testing::RandomTensor(Shape{kv_dim}, 2);
    file.tensors[p + "attn_v.bias"] = favor::testing::RandomTensor(Shape{kv_dim}, 3);
  }
  ASSERT_TRUE(BuildGraph(file, {}).ok());
  EXPECT_TRUE(file.config.attention_bias);
  EXPECT_EQ(file.config.rotary_pairs, io::RotaryPairs::kHalves);
  file.tensors[std::string("blk.0.attn_k.bias")] =
      favor::testing::RandomTensor(Shape{q_dim + 1}, 2);
  const auto misshapen = BuildGraph(file, {});
  ASSERT_FALSE(misshapen.ok());
  EXPECT_NE(misshapen.status().message().find("tensor 'blk.0.attn_k.bias'"), std::string::npos)
      << misshapen.status();
}

TEST(Decoder, TheArchitectureRowSetsTheTraitsAndUnknownOnesAreListed) {
  io::ModelFile file = Tiny();
  file.config.feed_forward = io::FeedForwardKind::kGelu;  // Overwritten by llama's row.
  ASSERT_TRUE(BuildGraph(file, {}).ok());
  EXPECT_EQ(file.config.feed_forward, io::FeedForwardKind::kSwiGlu);
  file.config.architecture = "mamba";
  const auto refused = BuildGraph(file, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("architecture 'mamba' is not supported (supported: "
                                            "llama, qwen2, gemma, gemma2, phi3, gpt2)"),
            std::string::npos)
      << refused.status();
}

TEST(Decoder, TheFilesQueryScaleReachesAttention) {
  io::ModelFile file = Tiny();
  file.config.query_scale = 0.5f;
  const auto graph = BuildGraph(file, {}).value();
  const auto attention = graph->FindNodesOfType("Attention");
  ASSERT_FALSE(attention.empty());
  EXPECT_NE(graph->node(attention[0]).op->Attributes().find("scale=0.5"), std::string::npos)
      << graph->node(attention[0]).op->Attributes();
}

}  // namespace
}  // namespace favor::models
