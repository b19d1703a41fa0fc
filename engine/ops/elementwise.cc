#include "engine/ops/elementwise.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/core/parallel.h"
#include "engine/core/status.h"
#include "engine/ops/op_checks.h"

namespace favor {
namespace {

// Rows per thread below which a loop stays on the calling thread: about 16K values.
int64_t MinRowsPerThread(int64_t row_length) {
  return row_length >= 16384 ? 1 : 16384 / (row_length > 0 ? row_length : 1);
}

}  // namespace

bool ElementwiseOp::RowBroadcast(std::span<const TensorSpec> inputs) const {
  return (kind_ == ElementwiseKind::kAdd || kind_ == ElementwiseKind::kMul) &&
         inputs[1].dtype == DType::kF32 && inputs[1].shape.rank() == 1 &&
         inputs[0].shape.rank() >= 1 && inputs[1].shape.dim(0) == inputs[0].shape.back() &&
         inputs[0].shape.back() >= 0;
}

absl::string_view ElementwiseOp::type() const {
  switch (kind_) {
    case ElementwiseKind::kAdd:
      return "Add";
    case ElementwiseKind::kMul:
      return "Mul";
    case ElementwiseKind::kSilu:
      return "Silu";
    case ElementwiseKind::kSwiGlu:
      return "SwiGlu";
    case ElementwiseKind::kGelu:
      return "Gelu";
    case ElementwiseKind::kGeGlu:
      return "GeGlu";
    case ElementwiseKind::kScale:
      return "Scale";
    case ElementwiseKind::kSoftCap:
      return "SoftCap";
  }
  return "Elementwise";
}

std::string ElementwiseOp::Attributes() const {
  if (kind_ == ElementwiseKind::kScale) return absl::StrCat("factor=", parameter_);
  if (kind_ == ElementwiseKind::kSoftCap) return absl::StrCat("cap=", parameter_);
  return "";
}

bool ElementwiseOp::Unary() const {
  return kind_ == ElementwiseKind::kSilu || kind_ == ElementwiseKind::kGelu ||
         kind_ == ElementwiseKind::kScale || kind_ == ElementwiseKind::kSoftCap;
}

absl::StatusOr<std::vector<TensorSpec>> ElementwiseOp::InferOutputs(
    std::span<const TensorSpec> inputs) const {
  const size_t arity = Unary() ? 1 : 2;
  FAVOR_RETURN_IF_ERROR(CheckInputCount(inputs, arity));
  if (kind_ == ElementwiseKind::kSoftCap && !(parameter_ > 0.0f && std::isfinite(parameter_))) {
    return absl::InvalidArgumentError(
        absl::StrCat("SoftCap: the cap must be positive, got ", parameter_));
  }
  FAVOR_RETURN_IF_ERROR(CheckDType(inputs, 0, DType::kF32));
  if (inputs[0].shape.rank() == 0) {
    return absl::InvalidArgumentError("input 0: expected at least one dimension, got a scalar");
  }
  if (arity == 2 && !RowBroadcast(inputs)) FAVOR_RETURN_IF_ERROR(CheckSameSpec(inputs, 0, 1));
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status ElementwiseOp::Run(const RunContext& ctx, std::span<const Tensor> inputs,
                                std::span<Tensor> outputs, OpState* /*state*/) const {
  const kernels::KernelTable& k = *ctx.kernels;
  const float* a = inputs[0].data<float>();
  const float* b = inputs.size() > 1 ? inputs[1].data<float>() : nullptr;
  float* out = outputs[0].mutable_data<float>();
  const int64_t cols = inputs[0].shape().back();
  const int64_t rows = inputs[0].shape().NumRows();
  const ElementwiseKind kind = kind_;
  const float parameter = parameter_;
  // A one-row second input applies to every row.
  const bool broadcast = b != nullptr && inputs[1].shape().rank() == 1 && rows > 1;
  ParallelFor(rows, ctx.threads, MinRowsPerThread(cols), [&](int64_t r) {
    const int64_t offset = r * cols;
    const float* b_row = b == nullptr ? nullptr : broadcast ? b : b + offset;
    switch (kind) {
      case ElementwiseKind::kAdd:
        k.add(a + offset, b_row, out + offset, cols);
        break;
      case ElementwiseKind::kMul:
        k.mul(a + offset, b_row, out + offset, cols);
        break;
      case ElementwiseKind::kSilu:
        k.silu(a + offset, out + offset, cols);
        break;
      case ElementwiseKind::kSwiGlu:
        k.swiglu(a + offset, b_row, out + offset, cols);
        break;
      case ElementwiseKind::kGelu:
        k.gelu(a + offset, out + offset, cols);
        break;
      case ElementwiseKind::kGeGlu:
        k.geglu(a + offset, b_row, out + offset, cols);
        break;
      case ElementwiseKind::kScale:
        if (out != a) std::copy(a + offset, a + offset + cols, out + offset);
        k.scale(parameter, out + offset, cols);
        break;
      case ElementwiseKind::kSoftCap:
        k.soft_cap(a + offset, out + offset, cols, parameter);
        break;
    }
  });
  return absl::OkStatus();
}

}  // namespace favor
