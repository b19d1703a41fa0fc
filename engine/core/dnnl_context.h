// The oneDNN CPU engine shared by every op that calls oneDNN. A oneDNN engine is an immutable
// handle to the CPU device: creating it once per process is what oneDNN expects.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

namespace favor {

const dnnl::engine& CpuEngine();
// "oneDNN 2.6.3 (avx512_core_bf16)": the version and the ISA oneDNN chose.
std::string DnnlDescription();

}  // namespace favor
