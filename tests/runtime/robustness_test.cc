// Generation is reproducible (same seed: same tokens, across runs, sessions and thread counts, for
// exact and random-feature attention), and sessions that could never fit in memory are refused
// before anything is allocated, with the figure they would need.
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "engine/core/memory_budget.h"
#include "engine/graph/attention_statistics.h"
#include "engine/rf/calibration.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

const std::string kModels = favor::testing::ModelsDir();
const std::string kLlama2c = kModels + "/stories260K/stories260K.bin";

std::vector<int32_t> Sampled(const Model& model, const ModelVariant& variant, int threads,
                             uint64_t seed) {
  auto session = Session::Create(variant, {.threads = threads});
  EXPECT_TRUE(session.ok()) << session.status();
  if (!session.ok()) return {};
  const std::vector<int32_t> prompt = model.tokenizer().Encode("Once upon a time", true).value();
  GenerationOptions options;
  options.sampling = {.temperature = 0.9f, .top_k = 40, .top_p = 0.95f, .seed = seed};
  options.max_tokens = 64;
  options.stop_at_eos = false;
  auto result = Generate(**session, model.tokenizer(), prompt, options, nullptr);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->tokens : std::vector<int32_t>{};
}

// Query/key statistics of the model on a short text (hybrid attention's tail needs them).
std::shared_ptr<const rf::Calibration> Calibrate() {
  auto model = Model::Load(kLlama2c).value();
  auto session = Session::Create(*model).value();
  auto recorder = AttentionStatisticsRecorder::Create(*model->exact().graph).value();
  session->executor().SetObserver(recorder.get());
  const auto ids =
      model->tokenizer()
          .Encode(
              "Lily found a small box in the garden. Inside was a shiny key. She ran to her "
              "mom and asked what it could open. They looked all over the house.",
              true)
          .value();
  EXPECT_TRUE(session->Feed(ids).ok());
  return std::make_shared<const rf::Calibration>(recorder->statistics());
}

class Reproducibility : public ::testing::TestWithParam<std::string> {};

TEST_P(Reproducibility, SameSeedSameTokensAcrossRunsAndThreadCounts) {
  FAVOR_REQUIRE_MODELS();
  AttentionSpec attention;
  attention.kind = ParseAttentionKind(GetParam()).value();
  attention.features = 64;
  std::shared_ptr<const rf::Calibration> calibration;
  if (attention.kind == AttentionKind::kHybrid) {
    calibration = Calibrate();
    attention.window = 16;  // The random-feature tail serves most of the 70 positions.
  }
  auto model = Model::Load(kLlama2c);
  ASSERT_TRUE(model.ok()) << model.status();
  auto variant = (*model)->Variant(attention, Logits::kLastPosition, calibration);
  ASSERT_TRUE(variant.ok()) << variant.status();
  const std::vector<int32_t> first = Sampled(**model, *variant, 1, 42);
  ASSERT_EQ(first.size(), 64u);
  EXPECT_EQ(Sampled(**model, *variant, 1, 42), first) << "second run, 1 thread";
  EXPECT_EQ(Sampled(**model, *variant, 2, 42), first) << "2 threads";
  EXPECT_EQ(Sampled(**model, *variant, 3, 42), first) << "3 threads (more than the cores)";
  // The seed matters: another one gives another story.
  EXPECT_NE(Sampled(**model, *variant, 2, 43), first);
  // Another variant of the same model, and a second model loaded from the same file: the same
  // random features for the same --favor-seed.
  auto again = (*model)->Variant(attention, Logits::kLastPosition, calibration);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Sampled(**model, *again, 2, 42), first) << "another variant";
  auto reloaded = Model::Load(kLlama2c);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(
      Sampled(**reloaded,
              (*reloaded)->Variant(attention, Logits::kLastPosition, calibration).value(), 2, 42),
      first)
      << "reloaded model";
}

INSTANTIATE_TEST_SUITE_P(Attention, Reproducibility,
                         ::testing::Values("exact", "favor#", "favor+", "hybrid"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& c : name) {
                             if (c == '#') c = 'S';
                             if (c == '+') c = 'P';
                           }
                           return name;
                         });

// The up-front estimate is what the session then allocates, for every kind of attention state.
TEST(ResourceLimits, TheEstimateIsWhatTheStateTakes) {
  FAVOR_REQUIRE_MODELS();
  for (const std::string kind : {"exact", "favor#", "window"}) {
    AttentionSpec attention;
    attention.kind = ParseAttentionKind(kind).value();
    attention.features = 48;
    auto model = Model::Load(kLlama2c);
    ASSERT_TRUE(model.ok()) << model.status();
    auto session = Session::Create((*model)->Variant(attention).value(), {.context = 300});
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ((*session)->StateBytes(), (*session)->executor().StateBytes({.max_context = 300}))
        << kind;
    EXPECT_GT((*session)->StateBytes(), 0) << kind;
  }
}

TEST(ResourceLimits, MachineMemoryIsKnown) {
  // The physical memory the kernel reports (/proc/meminfo, read here independently), or the
  // cgroup's limit when that is lower.
  int64_t expected = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    int64_t kib = 0;
    meminfo >> kib;
    if (key == "MemTotal:") expected = kib * 1024;
    meminfo.ignore(256, '\n');
  }
  ASSERT_GT(expected, 0) << "no MemTotal in /proc/meminfo";
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream limit_file(path);
    int64_t limit = 0;
    if (limit_file >> limit && limit > 0 && limit < expected) expected = limit;
  }
  EXPECT_EQ(MachineMemoryBytes(), expected);
  EXPECT_EQ(FormatBytes(512), "512 bytes");
  EXPECT_EQ(FormatBytes(int64_t{3} << 29), "1.50 GiB");
  EXPECT_EQ(FormatBytes(int64_t{5} << 19), "2.5 MiB");
  EXPECT_EQ(FormatBytes(int64_t{5} << 49), "2.50 PiB");
  EXPECT_EQ(FormatBytes(std::numeric_limits<int64_t>::max()), "8.00 EiB");
}

TEST(ResourceLimits, AContextBeyondTheMachineIsRefusedWithTheFigure) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(kLlama2c).value();
  // stories260K: 5 layers x 4 kv heads x 8 dims x 2 (keys and values) x 4 bytes = 1280 bytes a
  // token; 2^36 tokens need 80 TiB.
  auto session = Session::Create(*model, {.context = int64_t{1} << 36});
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(session.status().message());
  EXPECT_NE(message.find("a context of 68719476736 tokens needs 80.00 TiB"), std::string::npos)
      << message;
  EXPECT_NE(message.find("this machine has"), std::string::npos) << message;
  // A context whose size overflows 64 bits is refused the same way, not wrapped around.
  auto overflow = Session::Create(*model, {.context = int64_t{1} << 62});
  ASSERT_FALSE(overflow.ok());
  EXPECT_NE(overflow.status().message().find("more than 8 EiB"), absl::string_view::npos)
      << overflow.status();
  // Within an explicit budget: 4096 tokens (5 MiB of KV cache) fit in 64 MiB, not in 4 MiB.
  EXPECT_TRUE(Session::Create(*model, {.context = 4096, .memory_limit_bytes = 64 << 20}).ok());
  auto small = Session::Create(*model, {.context = 4096, .memory_limit_bytes = 4 << 20});
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("needs 5.0 MiB of sequence state"),
            absl::string_view::npos)
      << small.status();
}

TEST(ResourceLimits, AFeatureCountBeyondTheBudgetIsRefusedWithTheFigure) {
  FAVOR_REQUIRE_MODELS();
  auto model = Model::Load(kLlama2c);
  ASSERT_TRUE(model.ok()) << model.status();
  auto variant = (*model)->Variant({.kind = AttentionKind::kFavorSharp, .features = kMaxFeatures});
  ASSERT_TRUE(variant.ok()) << variant.status();
  // 5 layers x 4 kv heads x 65536 features x (8 + 2) floats = 50 MiB, whatever the context.
  auto session = Session::Create(*variant, {.context = 64, .memory_limit_bytes = 16 << 20});
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("needs 50.0 MiB of sequence state"),
            absl::string_view::npos)
      << session.status();
  EXPECT_NE(session.status().message().find("--features"), absl::string_view::npos);
}

}  // namespace
}  // namespace favor::runtime
