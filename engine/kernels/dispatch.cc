// ISA detection and the choice of kernel table. Compiled with baseline flags.
#include <cpuid.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/kernels/kernels.h"

namespace favor::kernels {

namespace scalar {
const KernelTable& Table();
}
namespace avx2 {
const KernelTable& Table();
}
namespace avx512 {
const KernelTable& Table();
}

absl::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

absl::StatusOr<Isa> ParseIsa(absl::string_view name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (IsaName(isa) == name) return isa;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ISA '", name, "' (expected scalar, avx2 or avx512)"));
}

namespace {

// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not know "f16c".
bool CpuHasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & (1u << 29)) != 0;
}

}  // namespace

bool IsSupported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CpuHasF16c();
    case Isa::kAvx512:
      return IsSupported(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq");
  }
  return false;
}

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (IsSupported(isa)) isas.push_back(isa);
  }
  return isas;
}

Isa BestIsa() { return SupportedIsas().back(); }

absl::StatusOr<Isa> IsaFromEnvironment() {
  const char* forced = std::getenv("FAVOR_ISA");
  if (forced == nullptr || *forced == '\0') return BestIsa();
  auto isa = ParseIsa(forced);
  if (!isa.ok())
    return absl::InvalidArgumentError(absl::StrCat("FAVOR_ISA: ", isa.status().message()));
  if (!IsSupported(*isa)) {
    return absl::FailedPreconditionError(
        absl::StrCat("FAVOR_ISA=", forced, " but this CPU does not support ", IsaName(*isa)));
  }
  return *isa;
}

const KernelTable& GetKernels(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return avx2::Table();
    case Isa::kAvx512:
      return avx512::Table();
    case Isa::kScalar:
      break;
  }
  return scalar::Table();
}

int64_t MatVecPackedElements(int64_t n, int64_t k) {
  const int64_t groups = (n + kMatVecGroup - 1) / kMatVecGroup;
  const int64_t padded_k = (k + kMatVecBlock - 1) / kMatVecBlock * kMatVecBlock;
  return groups * kMatVecGroup * padded_k;
}

void PackMatVecBf16(const uint16_t* rows, int64_t n, int64_t k, uint16_t* packed) {
  const int64_t padded_k = (k + kMatVecBlock - 1) / kMatVecBlock * kMatVecBlock;
  const int64_t groups = (n + kMatVecGroup - 1) / kMatVecGroup;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t block = 0; block < padded_k / kMatVecBlock; ++block) {
      for (int64_t o = 0; o < kMatVecGroup; ++o) {
        const int64_t row = g * kMatVecGroup + o;
        for (int64_t j = 0; j < kMatVecBlock; ++j) {
          const int64_t column = block * kMatVecBlock + j;
          *packed++ = row < n && column < k ? rows[row * k + column] : uint16_t{0};
        }
      }
    }
  }
}

}  // namespace favor::kernels
