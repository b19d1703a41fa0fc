// The kernel table: one set of function pointers per ISA, chosen at start-up.
//
// Kernels are row-level functions on contiguous f32 data (plus 16-bit conversions); ops loop over
// rows and threads. Each ISA's table comes from the same source files compiled with that ISA's
// flags (see vec.h). Tests compare every table the CPU supports with the plain references in
// engine/kernels/reference.h.
#pragma once

#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "engine/kernels/kernel_table.h"

namespace favor::kernels {

absl::string_view IsaName(Isa isa);
absl::StatusOr<Isa> ParseIsa(absl::string_view name);

// The ISAs this CPU can run, scalar first.
std::vector<Isa> SupportedIsas();
bool IsSupported(Isa isa);
Isa BestIsa();
// The ISA named by the FAVOR_ISA environment variable (scalar|avx2|avx512), or the best one when
// it is unset. An unknown name or an ISA the CPU lacks is an error.
absl::StatusOr<Isa> IsaFromEnvironment();

const KernelTable& GetKernels(Isa isa);

}  // namespace favor::kernels
