#include "engine/core/tensor.h"

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor {

absl::StatusOr<Tensor> Tensor::Allocate(DType dtype, const Shape& shape) {
  if (!shape.IsConcrete()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot allocate a tensor of symbolic shape ", shape.ToString()));
  }
  FAVOR_ASSIGN_OR_RETURN(const int64_t bytes, BytesFor(dtype, shape.NumElements()));
  FAVOR_ASSIGN_OR_RETURN(auto buffer, AlignedBuffer::Create(static_cast<size_t>(bytes)));
  Tensor t = Borrow(buffer->data(), dtype, shape, /*writable=*/true);
  t.storage_ = std::move(buffer);
  return t;
}

absl::StatusOr<Tensor> Tensor::ViewOf(std::shared_ptr<const Storage> storage, size_t offset,
                                      DType dtype, const Shape& shape) {
  if (storage == nullptr) return absl::InvalidArgumentError("view of null storage");
  if (!shape.IsConcrete()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot view a tensor of symbolic shape ", shape.ToString()));
  }
  FAVOR_ASSIGN_OR_RETURN(const int64_t bytes, BytesFor(dtype, shape.NumElements()));
  if (offset > storage->size() || static_cast<size_t>(bytes) > storage->size() - offset) {
    return absl::OutOfRangeError(absl::StrCat("view of ", bytes, " bytes at offset ", offset,
                                              " exceeds storage of ", storage->size(), " bytes"));
  }
  Tensor t = Borrow(storage->data() + offset, dtype, shape, storage->writable());
  t.storage_ = std::move(storage);
  return t;
}

Tensor Tensor::Borrow(void* data, DType dtype, const Shape& shape, bool writable) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.strides_ = ContiguousStrides(shape);
  t.data_ = data;
  t.writable_ = writable;
  return t;
}

int64_t Tensor::NumBytes() const {
  const DTypeInfo& info = GetDTypeInfo(dtype_);
  return NumElements() / info.block_elements * info.block_bytes;
}

bool Tensor::IsContiguous() const { return strides_ == ContiguousStrides(shape_); }

absl::StatusOr<Tensor> Tensor::Reshape(const Shape& shape) const {
  if (!IsContiguous()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot reshape non-contiguous tensor ", DebugString()));
  }
  if (!shape.IsConcrete() || shape.NumElements() != NumElements()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", DebugString(), " to ", shape.ToString()));
  }
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = ContiguousStrides(shape);
  return t;
}

absl::StatusOr<Tensor> Tensor::Slice(int64_t begin, int64_t end) const {
  if (rank() == 0 || begin < 0 || end < begin || end > dim(0)) {
    return absl::OutOfRangeError(absl::StrCat("slice [", begin, ", ", end, ") of ", DebugString()));
  }
  const DTypeInfo& info = GetDTypeInfo(dtype_);
  if (stride(0) % info.block_elements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice of ", DebugString(), " would split a quantized block"));
  }
  Tensor t = *this;
  t.shape_.set_dim(0, end - begin);
  const int64_t row_bytes = stride(0) / info.block_elements * info.block_bytes;
  t.data_ = static_cast<std::byte*>(data_) + begin * row_bytes;
  return t;
}

std::string Tensor::DebugString() const {
  return absl::StrCat(DTypeName(dtype_), shape_.ToString());
}

}  // namespace favor
