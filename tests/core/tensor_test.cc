#include <unistd.h>

#include <omp.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/storage.h"
#include "engine/core/tensor.h"
#include "engine/core/threading.h"
#include "gtest/gtest.h"

namespace favor {
namespace {

TEST(DType, SizesIncludingBlockTypes) {
  EXPECT_EQ(BytesFor(DType::kF32, 10).value(), 40);
  EXPECT_EQ(BytesFor(DType::kBF16, 10).value(), 20);
  EXPECT_EQ(BytesFor(DType::kQ8_0, 64).value(), 68);
  EXPECT_FALSE(BytesFor(DType::kQ8_0, 33).ok());               // Not a whole number of blocks.
  EXPECT_FALSE(BytesFor(DType::kF32, int64_t{1} << 62).ok());  // Overflows.
  EXPECT_EQ(ParseDType("bf16").value(), DType::kBF16);
  EXPECT_FALSE(ParseDType("f8").ok());
}

TEST(Shape, SymbolicDimensionResolves) {
  const Shape s{kSeqLen, 768};
  EXPECT_FALSE(s.IsConcrete());
  EXPECT_EQ(s.ToString(), "[T, 768]");
  EXPECT_EQ(s.Resolve(5), (Shape{5, 768}));
  EXPECT_EQ(s.Resolve(5).NumElements(), 3840);
  EXPECT_EQ((Shape{2, 3, 4}).NumRows(), 6);
  const int64_t dims[] = {2, -5};
  EXPECT_FALSE(Shape::Make(dims, 2).ok());
  EXPECT_FALSE(Shape::Make(dims, kMaxRank + 1).ok());
}

TEST(Tensor, AllocatesAlignedZeroedStorage) {
  Tensor t = Tensor::Allocate(DType::kF32, Shape{3, 5}).value();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % kTensorAlignment, 0u);
  EXPECT_EQ(t.NumBytes(), 60);
  EXPECT_TRUE(t.IsContiguous());
  EXPECT_EQ(t.stride(0), 5);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  EXPECT_FALSE(Tensor::Allocate(DType::kF32, Shape{kSeqLen, 4}).ok());
}

TEST(Tensor, ReshapeAndSliceAreViews) {
  Tensor t = Tensor::Allocate(DType::kF32, Shape{4, 6}).value();
  for (int i = 0; i < 24; ++i) t.mutable_data<float>()[i] = static_cast<float>(i);
  Tensor r = t.Reshape(Shape{2, 12}).value();
  EXPECT_EQ(r.raw_data(), t.raw_data());
  EXPECT_FALSE(t.Reshape(Shape{5, 5}).ok());
  Tensor s = t.Slice(1, 3).value();
  EXPECT_EQ(s.dim(0), 2);
  EXPECT_EQ(s.data<float>()[0], 6.0f);
  EXPECT_FALSE(t.Slice(3, 5).ok());
  EXPECT_EQ(s.DebugString(), "f32[2, 6]");
}

TEST(Tensor, ViewOfChecksBounds) {
  auto buffer = AlignedBuffer::Create(100).value();
  EXPECT_TRUE(Tensor::ViewOf(buffer, 0, DType::kF32, Shape{25}).ok());
  const auto too_big = Tensor::ViewOf(buffer, 8, DType::kF32, Shape{25});
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("exceeds storage of 100 bytes"),
            absl::string_view::npos);
  EXPECT_FALSE(Tensor::ViewOf(buffer, 1000, DType::kF32, Shape{1}).ok());
}

TEST(MappedFile, ViewsKeepTheMappingAliveAndAreReadOnly) {
  const std::string path =
      ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_favor_mapped_test.bin";
  {
    std::ofstream out(path, std::ios::binary);
    const float values[4] = {1.5f, 2.5f, 3.5f, 4.5f};
    out.write(reinterpret_cast<const char*>(values), sizeof(values));
  }
  Tensor view;
  {
    auto file = MappedFile::Open(path).value();
    EXPECT_EQ(file->size(), 16u);
    view = Tensor::ViewOf(file, 4, DType::kF32, Shape{3}).value();
  }  // The file object is gone; the view still owns the mapping.
  std::remove(path.c_str());
  EXPECT_EQ(view.data<float>()[0], 2.5f);
  EXPECT_EQ(view.data<float>()[2], 4.5f);
  EXPECT_FALSE(view.writable());
  EXPECT_EQ(view.mutable_data<float>(), nullptr);
}

TEST(MappedFile, MissingFileIsANamedError) {
  const auto file = MappedFile::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("/nonexistent/model.gguf"), absl::string_view::npos);
  EXPECT_FALSE(MappedFile::Open("/tmp").ok());  // A directory.
}

TEST(Threading, PhysicalCoresAndScopedCount) {
  EXPECT_GE(PhysicalCoreCount(), 1);
  EXPECT_LE(PhysicalCoreCount(), static_cast<int>(std::thread::hardware_concurrency()));
  const int before = omp_get_max_threads();
  {
    ScopedThreadCount scoped(before + 2);
    EXPECT_EQ(omp_get_max_threads(), before + 2);
    {
      ScopedThreadCount nested(0);  // Zero means one thread, never OpenMP's "unset".
      EXPECT_EQ(omp_get_max_threads(), 1);
    }
    EXPECT_EQ(omp_get_max_threads(), before + 2);
  }
  EXPECT_EQ(omp_get_max_threads(), before);
}

}  // namespace
}  // namespace favor
