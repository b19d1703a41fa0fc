// Pins the logits of the real models, bit for bit, under every attention the engine builds: a
// refactoring of the layers around the kernels (loading, graph building, attention passes,
// sessions) must not change one bit of them. Each case feeds a fixed token sequence as one
// prefill chunk (logits of every position) and then as a prefill plus single-token decode steps
// (the last-position logits after each step), and hashes all the floats (FNV-1a over their bits).
//
// Bits depend on the kernels each library picks for the CPU (favor's ISA, oneDNN's) and on the
// build, so the hashes are compared only with the same signature as the one that wrote the file;
// elsewhere the recorded values of the last decode step are compared with a tolerance.
// FAVOR_UPDATE_GOLDEN=1 rewrites the file.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/kernels/kernels.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "tests/test_util.h"

namespace favor::runtime {
namespace {

const std::string kGolden =
    std::string(FAVOR_SOURCE_DIR) + "/tests/models/golden/pinned_logits.txt";
constexpr int kPrefill = 40;
constexpr int kDecode = 12;
constexpr int kRecordedValues = 4;

struct Case {
  std::string name;
  std::string model;  // Relative to the models folder.
  AttentionSpec attention;
};

std::vector<Case> Cases() {
  const std::vector<std::pair<std::string, std::string>> models = {
      {"llama2c", "stories260K/stories260K.bin"},
      {"gguf", "stories260K/tinyllamas-stories-260k-f32.gguf"},
      {"hf", "tinystories-656K"}};
  const std::vector<std::pair<std::string, AttentionSpec>> attentions = {
      {"exact", {}},
      {"favor+", {.kind = AttentionKind::kFavorPlus, .features = 32, .seed = 3}},
      {"favor++",
       {.kind = AttentionKind::kFavorPlusPlus, .features = 32, .seed = 4, .layers = {1}}},
      {"favor#", {.kind = AttentionKind::kFavorSharp, .features = 48, .seed = 5}},
      {"hybrid",
       {.kind = AttentionKind::kHybrid, .features = 32, .seed = 6, .window = 8, .sinks = 2}},
      {"window", {.kind = AttentionKind::kWindow, .window = 8, .sinks = 1}}};
  std::vector<Case> cases;
  for (const auto& [model_name, path] : models) {
    for (const auto& [attention_name, attention] : attentions) {
      cases.push_back({absl::StrCat(model_name, "/", attention_name), path, attention});
    }
  }
  return cases;
}

std::vector<int32_t> Tokens(int count) {
  std::vector<int32_t> ids = {1};
  for (int i = 1; i < count; ++i) ids.push_back(3 + (i * 37 + i / 5) % 500);
  return ids;
}

// The logits of every position after one prefill, then the last-position logits after a prefill
// of kPrefill tokens and each of kDecode single-token steps.
absl::StatusOr<std::vector<float>> Logits(const Case& c) {
  const std::string path = testing::ModelsDir() + "/" + c.model;
  const std::vector<int32_t> ids = Tokens(kPrefill + kDecode);
  std::vector<float> logits;
  auto model = Model::Load(path);
  if (!model.ok()) return model.status();
  for (bool all_logits : {true, false}) {
    auto variant =
        (*model)->Variant(c.attention, all_logits ? Logits::kAllPositions : Logits::kLastPosition);
    if (!variant.ok()) return variant.status();
    auto session = Session::Create(*variant, {.context = 128, .threads = 2});
    if (!session.ok()) return session.status();
    if (all_logits) {
      auto out = (*session)->Feed(ids);
      if (!out.ok()) return out.status();
      logits.insert(logits.end(), out->begin(), out->end());
      continue;
    }
    auto out = (*session)->Feed(std::span(ids).first(kPrefill));
    if (!out.ok()) return out.status();
    logits.insert(logits.end(), out->begin(), out->end());
    for (int t = kPrefill; t < kPrefill + kDecode; ++t) {
      out = (*session)->Feed(std::span(ids).subspan(static_cast<size_t>(t), 1));
      if (!out.ok()) return out.status();
      logits.insert(logits.end(), out->begin(), out->end());
    }
  }
  return logits;
}

uint64_t Fnv1a(const std::vector<float>& values) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    for (int byte = 0; byte < 4; ++byte) {
      hash ^= (bits >> (8 * byte)) & 0xff;
      hash *= 0x100000001b3ull;
    }
  }
  return hash;
}

// What produces the bits: favor's kernel dispatch, oneDNN's, and the build (the sanitized Debug
// build's compiler rounds the scalar code differently from the optimized one).
std::string CpuSignature() {
#ifdef FAVOR_SANITIZED_BUILD
  constexpr const char* kBuild = "sanitized";
#else
  constexpr const char* kBuild = "optimized";
#endif
  return absl::StrCat("favor=", kernels::IsaName(kernels::IsaFromEnvironment().value()),
                      " onednn=", static_cast<int>(dnnl::get_effective_cpu_isa()),
                      " build=", kBuild);
}

struct Pinned {
  std::string hash;
  std::vector<float> leading;
};

TEST(PinnedLogits, RealModelsUnderEveryAttention) {
  FAVOR_REQUIRE_MODELS();
  const bool update = std::getenv("FAVOR_UPDATE_GOLDEN") != nullptr;
  std::map<std::string, Pinned> golden;
  std::string signature;
  if (!update) {
    std::ifstream in(kGolden);
    ASSERT_TRUE(in) << "cannot read " << kGolden;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line.rfind("cpu ", 0) == 0) {
        signature = line.substr(4);
        continue;
      }
      const std::vector<std::string> fields = absl::StrSplit(line, ' ');
      ASSERT_EQ(fields.size(), 2u + kRecordedValues) << line;
      Pinned& pinned = golden[fields[0]];
      pinned.hash = fields[1];
      for (int i = 0; i < kRecordedValues; ++i) {
        pinned.leading.push_back(std::stof(fields[2 + static_cast<size_t>(i)]));
      }
    }
  }
  const bool same_cpu = signature == CpuSignature();
  std::ostringstream written;
  written << "# Written by tests/models/pinned_logits_test.cc with FAVOR_UPDATE_GOLDEN=1.\n"
          << "cpu " << CpuSignature() << "\n";
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const auto logits = Logits(c);
    ASSERT_TRUE(logits.ok()) << logits.status();
    const std::string hash = absl::StrCat(absl::Hex(Fnv1a(*logits), absl::kZeroPad16));
    written << c.name << " " << hash;
    for (int i = 0; i < kRecordedValues; ++i) {
      written << " " << absl::StrCat((*logits)[logits->size() - 1 - static_cast<size_t>(i) * 7]);
    }
    written << "\n";
    if (update) continue;
    const auto it = golden.find(c.name);
    ASSERT_NE(it, golden.end()) << "no pinned logits for " << c.name << " in " << kGolden;
    for (int i = 0; i < kRecordedValues; ++i) {
      EXPECT_NEAR((*logits)[logits->size() - 1 - static_cast<size_t>(i) * 7],
                  it->second.leading[static_cast<size_t>(i)],
                  1e-4f * (1.0f + std::abs(it->second.leading[static_cast<size_t>(i)])));
    }
    if (same_cpu) {
      EXPECT_EQ(hash, it->second.hash) << "the logits changed";
    }
  }
  if (!same_cpu && !update) {
    std::cout << "[ NOTE ] pinned on '" << signature << "', this CPU is '" << CpuSignature()
              << "': compared within 1e-4, not bit for bit\n";
  }
  if (update) {
    std::ofstream(kGolden) << written.str();
    std::cout << "wrote " << kGolden << "\n";
  }
}

}  // namespace
}  // namespace favor::runtime
