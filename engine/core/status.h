// The single error convention of the engine: absl::Status / absl::StatusOr.
//
// Every fallible function returns a Status or StatusOr<T>; messages name the object involved
// (tensor, node, op, file) so that an error read in a log is actionable on its own. Exceptions are
// not used across engine boundaries (oneDNN's exceptions are caught at the call site and turned
// into a Status).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define FAVOR_STATUS_CONCAT_INNER(a, b) a##b
#define FAVOR_STATUS_CONCAT(a, b) FAVOR_STATUS_CONCAT_INNER(a, b)

// Returns early from the enclosing function when `expr` yields a non-OK absl::Status.
#define FAVOR_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status favor_status_ = (expr);         \
    if (!favor_status_.ok()) return favor_status_; \
  } while (false)

// `lhs = value of rexpr`, or returns its error. lhs may be a declaration: `auto x`.
#define FAVOR_ASSIGN_OR_RETURN(lhs, rexpr) \
  FAVOR_ASSIGN_OR_RETURN_IMPL(FAVOR_STATUS_CONCAT(favor_statusor_, __LINE__), lhs, rexpr)

#define FAVOR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

namespace favor {

// Prefixes `context: ` to the message of a non-OK status, keeping its code. Used to add the
// name of the node, tensor or file as an error travels up.
absl::Status WithContext(const absl::Status& status, absl::string_view context);

}  // namespace favor
