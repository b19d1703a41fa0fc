#include "engine/core/shape.h"

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor {

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) {
    if (rank_ == kMaxRank) break;  // Make() reports this; literals in code stay within rank.
    dims_[static_cast<size_t>(rank_++)] = d;
  }
}

absl::StatusOr<Shape> Shape::Make(const int64_t* dims, int rank) {
  if (rank < 0 || rank > kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is outside [0, ", kMaxRank, "]"));
  }
  Shape shape;
  shape.rank_ = rank;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] < 0 && dims[i] != kSeqLen && dims[i] != kSequences) {
      return absl::InvalidArgumentError(absl::StrCat("negative dimension ", dims[i]));
    }
    shape.dims_[static_cast<size_t>(i)] = dims[i];
  }
  return shape;
}

bool Shape::IsConcrete() const {
  for (int i = 0; i < rank_; ++i) {
    if (dim(i) == kSeqLen || dim(i) == kSequences) return false;
  }
  return true;
}

Shape Shape::Resolve(int64_t seq_len, int64_t sequences) const {
  Shape out = *this;
  for (int i = 0; i < rank_; ++i) {
    if (dim(i) == kSeqLen) out.set_dim(i, seq_len);
    if (dim(i) == kSequences) out.set_dim(i, sequences);
  }
  return out;
}

int64_t Shape::NumElements() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dim(i);
  return n;
}

int64_t Shape::NumRows() const {
  int64_t n = 1;
  for (int i = 0; i + 1 < rank_; ++i) n *= dim(i);
  return n;
}

std::string Shape::ToString() const {
  std::string out = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i > 0) out += ", ";
    if (dim(i) == kSeqLen) {
      out += "T";
    } else if (dim(i) == kSequences) {
      out += "S";
    } else {
      absl::StrAppend(&out, dim(i));
    }
  }
  out += "]";
  return out;
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank_ != b.rank_) return false;
  for (int i = 0; i < a.rank_; ++i) {
    if (a.dim(i) != b.dim(i)) return false;
  }
  return true;
}

std::array<int64_t, kMaxRank> ContiguousStrides(const Shape& shape) {
  std::array<int64_t, kMaxRank> strides{};
  int64_t stride = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    strides[static_cast<size_t>(i)] = stride;
    stride *= shape.dim(i);
  }
  return strides;
}

}  // namespace favor
