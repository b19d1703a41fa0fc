// Peak memory of one process that holds several attention variants of a model, through the public
// C++ API: an exact session first, then favor# and hybrid sessions and a Score on the exact one.
// Weights are loaded, checked and packed once per model (the variants are copies of the exact graph
// sharing its packed weights), so the extra sessions cost their state and activations, not another
// copy of the weights.
//   favor_synthetic_model --shape stories110M --out /tmp/s110m
//   favor_variants_memory /tmp/s110m/model.bin [context]
// Prints peak resident memory (VmHWM) after the exact session and after all of them, and the ratio.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/core/memory_budget.h"
#include "favor/favor.hpp"

namespace {

double PeakResidentMiB() { return static_cast<double>(favor::PeakResidentBytes()) / (1 << 20); }

bool Run(favor::Session& session, const char* what) {
  favor::GenerateOptions options;
  options.max_tokens = 32;
  options.sampling.temperature = 0;
  const auto out = session.Generate("Once upon a time", options);
  if (!out.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(out.status().message()).c_str());
    return false;
  }
  std::fprintf(stderr, "%-8s state %7.2f MiB, peak RSS so far %8.1f MiB\n", what,
               static_cast<double>(session.state_bytes()) / (1 << 20), PeakResidentMiB());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: favor_variants_memory MODEL [context (default 512)]\n");
    return 2;
  }
  const int64_t context = argc > 2 ? std::atoll(argv[2]) : 512;
  auto model = favor::Model::Load(argv[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  auto exact = favor::Session::Create(*model, {.context = context});
  if (!exact.ok() || !Run(**exact, "exact")) return 1;
  const double one = PeakResidentMiB();

  favor::SessionOptions favor_sharp{.context = context};
  favor_sharp.attention.kind = favor::AttentionKind::kFavorSharp;
  favor::SessionOptions hybrid{.context = context};
  hybrid.attention.kind = favor::AttentionKind::kHybrid;
  auto s1 = favor::Session::Create(*model, favor_sharp);
  auto s2 = favor::Session::Create(*model, hybrid);
  if (!s1.ok() || !s2.ok()) return 1;
  if (!Run(**s1, "favor#") || !Run(**s2, "hybrid")) return 1;
  const auto score = (*exact)->Score(
      "Once upon a time, there was a little girl named Lily. She loved to play outside.");
  if (!score.ok()) return 1;
  const double all = PeakResidentMiB();
  std::printf("peak RSS, one exact session: %.1f MiB\n", one);
  std::printf("peak RSS, exact + favor# + hybrid sessions and a Score: %.1f MiB\n", all);
  std::printf("ratio: %.3f\n", all / one);
  return 0;
}
