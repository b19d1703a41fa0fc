// The whole model gives the same logits whatever the ISA and the thread count, at sequence
// lengths where every parallel loop really runs on several threads (the loops run inline below
// twice their minimum share, so short tests never exercise the threaded paths): T = 64, 150, 300
// on 1, 2 and 3 threads, for exact, favor# and hybrid attention. Rows are independent, so a thread
// count changes no bit (measured, oneDNN included); an ISA changes the rounding of every kernel.
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/kernels/kernels.h"
#include "engine/runtime/model.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

using testing::NormalizedError;

const std::string kModel = testing::ModelsDir() + "/stories260K/stories260K.bin";

Tensor Tokens(int64_t count) {
  Tensor tokens = Tensor::Allocate(DType::kI32, Shape{count}).value();
  for (int64_t i = 0; i < count; ++i) {
    tokens.mutable_data<int32_t>()[i] = static_cast<int32_t>(3 + (i * 37 + i / 5) % 500);
  }
  return tokens;
}

TEST(Agreement, LogitsAgreeAcrossIsasAndThreadCounts) {
  FAVOR_REQUIRE_MODELS();
  const std::vector<std::pair<std::string, AttentionSpec>> attentions = {
      {"exact", {}},
      {"favor#", {.kind = AttentionKind::kFavorSharp, .features = 64}},
      {"hybrid", {.kind = AttentionKind::kHybrid, .features = 64, .window = 16}}};
  const auto model = Model::Load(kModel).value();
  for (const auto& [name, attention] : attentions) {
    const auto graph = model->Variant(attention, Logits::kAllPositions).value().graph;
    for (int64_t tokens : {64, 150, 300}) {
      const Tensor input = Tokens(tokens);
      // The reference: scalar kernels on one thread.
      const auto reference = testing::RunGraphOnce(graph, {input}, kernels::Isa::kScalar, 512, 1);
      ASSERT_TRUE(reference.ok()) << reference.status();
      for (kernels::Isa isa : kernels::SupportedIsas()) {
        const auto one = testing::RunGraphOnce(graph, {input}, isa, 512, 1);
        ASSERT_TRUE(one.ok()) << one.status();
        // Float32 rounding of other kernels over 5 layers: 3.2e-7 measured. A wrong row split or
        // a race gives errors of order 1.
        EXPECT_LT(NormalizedError((*one)[0], (*reference)[0]), 2e-6)
            << name << " T=" << tokens << " " << kernels::IsaName(isa);
        for (int threads : {2, 3}) {
          // Every row is computed alone whatever the thread: bit for bit the same.
          const auto out = testing::RunGraphOnce(graph, {input}, isa, 512, threads);
          ASSERT_TRUE(out.ok()) << out.status();
          EXPECT_EQ((*out)[0], (*one)[0]) << name << " T=" << tokens << " " << kernels::IsaName(isa)
                                          << " " << threads << " threads";
        }
      }
    }
  }
}

}  // namespace
}  // namespace favor::runtime
