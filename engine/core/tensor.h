// Tensor: a dtype, a concrete shape, strides and a pointer into storage. It is a view: it owns
// its storage (an AlignedBuffer), shares it (a mapped file), or merely borrows memory (executor
// arena slices; no owner). Copying a tensor copies the view, never the data. Tensors do no math.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/storage.h"

namespace favor {

class Tensor {
 public:
  Tensor() = default;

  // A new zero-filled tensor with its own 64-byte aligned storage.
  static absl::StatusOr<Tensor> Allocate(DType dtype, const Shape& shape);
  // A contiguous view of `shape` at byte `offset` inside shared storage; checks the bounds.
  static absl::StatusOr<Tensor> ViewOf(std::shared_ptr<const Storage> storage, size_t offset,
                                       DType dtype, const Shape& shape);
  // A contiguous view of memory that the caller keeps alive (no ownership, no checks beyond
  // the shape being concrete). Used for arena slices on the hot path: no allocation.
  static Tensor Borrow(void* data, DType dtype, const Shape& shape, bool writable = true);

  bool empty() const { return data_ == nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_.dim(i); }
  int64_t stride(int i) const { return strides_[static_cast<size_t>(i)]; }
  int64_t NumElements() const { return shape_.NumElements(); }
  int64_t NumBytes() const;
  bool IsContiguous() const;
  bool writable() const { return writable_; }

  const void* raw_data() const { return data_; }
  void* mutable_raw_data() const { return writable_ ? data_ : nullptr; }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  template <typename T>
  T* mutable_data() const {
    return static_cast<T*>(mutable_raw_data());
  }

  // The same data under another shape with the same element count (contiguous tensors only).
  absl::StatusOr<Tensor> Reshape(const Shape& shape) const;
  // Rows [begin, end) of the first dimension: a view with the same strides.
  absl::StatusOr<Tensor> Slice(int64_t begin, int64_t end) const;

  std::string DebugString() const;  // "f32[4, 8]"

  // Tells the storage that this tensor's bytes will not be read soon (Storage::ReleaseResidency):
  // a view of a mapped file gives its pages back; the data stays valid either way.
  void ReleaseResidency() const {
    if (storage_ != nullptr)
      storage_->ReleaseResidency(static_cast<const std::byte*>(data_),
                                 static_cast<size_t>(NumBytes()));
  }

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::array<int64_t, kMaxRank> strides_{};
  void* data_ = nullptr;
  bool writable_ = false;
  std::shared_ptr<const Storage> storage_;
};

}  // namespace favor
