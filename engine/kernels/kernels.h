// The kernel table: one set of function pointers per ISA, chosen at start-up.
//
// Kernels are row-level functions on contiguous f32 data (plus 16-bit conversions); ops loop over
// rows and threads. Each ISA's table comes from the same source files compiled with that ISA's
// flags (see vec.h). Tests compare every table the CPU supports with the plain references in
// engine/kernels/reference.h.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// matvec_bf16's layout: the element count of a packed n x k matrix, and the packing of row-major
// bf16 rows (n x k) into it.
int64_t MatVecPackedElements(int64_t n, int64_t k);
void PackMatVecBf16(const uint16_t* rows, int64_t n, int64_t k, uint16_t* packed);

}  // namespace favor::kernels
