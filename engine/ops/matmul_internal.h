// What the two halves of MatMulOp (matmul.cc: oneDNN on packed copies; matmul_in_place.cc:
// weights read as stored) share. Not part of the op's interface.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace favor::matmul_internal {

inline constexpr int64_t kLayoutProbeRows = 256;  // A prefill-sized T to choose layouts.
inline constexpr size_t kMaxCachedPrimitives = 32;

// Every primitive gets its scratchpad from the caller (see MatMulOp::Primitive).
inline dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

inline int64_t RoundUp64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

inline absl::Status FromDnnlError(const dnnl::error& e, absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": oneDNN error ", e.status, ": ", e.what()));
}

}  // namespace favor::matmul_internal
