// The favor command-line tool. Sub-commands arrive with the issues that build them; today:
// `info` (what the engine sees on this machine). `generate` is reported as coming.
#include <cstdio>
#include "absl/strings/string_view.h"

#include "engine/core/dnnl_context.h"
#include "engine/core/threading.h"
#include "engine/kernels/kernels.h"

namespace {

constexpr absl::string_view kUsage =
    "usage: favor <command> [options]\n"
    "\n"
    "commands:\n"
    "  info       show the CPU features, chosen ISA, threads and oneDNN version\n"
    "  generate   generate text (coming: model loading and generation are being built)\n"
    "\n"
    "environment:\n"
    "  FAVOR_ISA=scalar|avx2|avx512   force the SIMD kernels\n";

int Info() {
  auto isa = favor::kernels::IsaFromEnvironment();
  if (!isa.ok()) {
    std::fprintf(stderr, "favor: %s\n", std::string(isa.status().message()).c_str());
    return 1;
  }
  std::printf("favor 0.1.0\n");
  std::printf("kernels:  %s (supported:", std::string(favor::kernels::IsaName(*isa)).c_str());
  for (auto supported : favor::kernels::SupportedIsas()) {
    std::printf(" %s", std::string(favor::kernels::IsaName(supported)).c_str());
  }
  std::printf(")\n");
  std::printf("threads:  %d (physical cores)\n", favor::PhysicalCoreCount());
  std::printf("matmul:   %s\n", favor::DnnlDescription().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage.data(), stderr);
    return 2;
  }
  const absl::string_view command = argv[1];
  if (command == "info") return Info();
  if (command == "generate") {
    std::fputs(
        "favor generate: coming. The engine foundation (runtime, graph, ops, kernels) is in "
        "place;\n"
        "model loading, tokenization and generation are the next milestone.\n",
        stderr);
    return 3;
  }
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage.data(), stdout);
    return 0;
  }
  std::fprintf(stderr, "favor: unknown command '%s'\n\n%s", argv[1], kUsage.data());
  return 2;
}
