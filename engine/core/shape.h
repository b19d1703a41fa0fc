// Shape: up to kMaxRank dimensions, stored inline so that shapes and tensor views never touch the
// heap (the executor builds views on every run).
//
// A dimension may be the symbol T (kSeqLen): the number of tokens processed in one step, known
// only when a graph runs (T tokens at prefill, 1 at decode). Graphs are built and shape-checked
// once with T symbolic; the executor resolves T on each run. A second symbol, S (kSequences), is
// the number of sequences a run advances together (continuous batching: T counts the tokens of all
// of them); per-sequence results such as the logits of each sequence's last position have S rows.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"

namespace favor {

inline constexpr int kMaxRank = 6;
inline constexpr int64_t kSeqLen = -1;     // The symbolic dimension T.
inline constexpr int64_t kSequences = -2;  // The symbolic dimension S.

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);

  // Validates rank and dimensions (>= 0, kSeqLen or kSequences).
  static absl::StatusOr<Shape> Make(const int64_t* dims, int rank);

  int rank() const { return rank_; }
  int64_t dim(int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t operator[](int i) const { return dim(i); }
  int64_t back() const { return dims_[static_cast<size_t>(rank_ - 1)]; }
  void set_dim(int i, int64_t value) { dims_[static_cast<size_t>(i)] = value; }
  const int64_t* data() const { return dims_.data(); }

  // True when no dimension is symbolic.
  bool IsConcrete() const;
  // Replaces every kSeqLen by seq_len and every kSequences by sequences.
  Shape Resolve(int64_t seq_len, int64_t sequences = 1) const;
  // Product of the dimensions (a concrete shape; the empty shape is a scalar: 1).
  int64_t NumElements() const;
  // Product of all dimensions but the last: the number of rows of a row-major tensor.
  int64_t NumRows() const;

  std::string ToString() const;  // e.g. "[T, 768]"
  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// Row-major strides (in elements) of a concrete shape.
std::array<int64_t, kMaxRank> ContiguousStrides(const Shape& shape);

}  // namespace favor
