// The quantized matrix kernels of every ISA against the float64 definition (the weights
// dequantized by the type table, which tests/core/quant_blocks_test.cc checks against ggml bit for
// bit), for every block format, at awkward sizes: 1 to 4 tokens, odd row counts, one block and
// many. The weight blocks are random bytes (every code and packed scale pattern occurs) under
// random finite f16 scales.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/core/half.h"
#include "engine/core/quant_interleaved.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/reference.h"
#include "tests/test_util.h"

namespace favor::kernels {
namespace {

using favor::testing::NormalizedError;
using favor::testing::RandomVector;

// The f16 scale fields of each format's block (byte offsets), set to finite values.
struct FormatCase {
  DType dtype;
  std::vector<int> scale_offsets;
};
const std::vector<FormatCase> kFormats = {
    {DType::kQ8_0, {0}},   {DType::kQ4_0, {0}},    {DType::kQ4_1, {0, 2}},
    {DType::kQ5_0, {0}},   {DType::kQ5_1, {0, 2}}, {DType::kQ2_K, {80, 82}},
    {DType::kQ3_K, {108}}, {DType::kQ4_K, {0, 2}}, {DType::kQ5_K, {0, 2}},
    {DType::kQ6_K, {208}}, {DType::kIQ4_NL, {0}},  {DType::kIQ4_XS, {0}},
};

std::vector<uint8_t> RandomBlocks(const FormatCase& format, int64_t elements, uint64_t seed) {
  const DTypeInfo& info = GetDTypeInfo(format.dtype);
  const int64_t blocks = elements / info.block_elements;
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  std::vector<uint8_t> bytes(static_cast<size_t>(blocks * info.block_bytes));
  for (auto& byte : bytes) byte = static_cast<uint8_t>(random());
  for (int64_t b = 0; b < blocks; ++b) {
    for (const int offset : format.scale_offsets) {
      const uint16_t half = F32ToF16(scale(random));
      bytes[b * info.block_bytes + offset] = static_cast<uint8_t>(half & 0xff);
      bytes[b * info.block_bytes + offset + 1] = static_cast<uint8_t>(half >> 8);
    }
  }
  return bytes;
}

struct QuantizedRows {
  std::vector<int8_t> codes;
  std::vector<float> scales, sums;
  Q8Rows View(int64_t k) const { return {codes.data(), scales.data(), sums.data(), k}; }
};

QuantizedRows Quantize(const KernelTable& table, const std::vector<float>& x, int64_t rows,
                       int64_t k) {
  QuantizedRows q{std::vector<int8_t>(static_cast<size_t>(rows * k)),
                  std::vector<float>(static_cast<size_t>(rows * k / kQ8Block)),
                  std::vector<float>(static_cast<size_t>(rows * k / 16))};
  for (int64_t r = 0; r < rows; ++r) {
    table.quantize_q8(x.data() + r * k, k, q.codes.data() + r * k,
                      q.scales.data() + r * (k / kQ8Block), q.sums.data() + r * (k / 16));
  }
  return q;
}

class QuantMatMulTest : public ::testing::TestWithParam<Isa> {
 protected:
  const KernelTable& k() const { return GetKernels(GetParam()); }
};

TEST_P(QuantMatMulTest, EveryQuantizedTypeHasAKernelAndNoOtherType) {
  size_t quantized = 0;
  for (const DTypeInfo& info : AllDTypes()) {
    EXPECT_EQ(k().quant_matmul[static_cast<int>(info.dtype)] != nullptr, info.quantized())
        << info.name;
    quantized += info.quantized() ? 1 : 0;
  }
  EXPECT_EQ(kFormats.size(), quantized);  // This test's cases cover every quantized type.
}

TEST_P(QuantMatMulTest, QuantizationIsTheSameOnEveryIsaAndWithinHalfAStep) {
  const int64_t depth = 32 * 37;
  auto x = RandomVector(2 * depth, 71, -3.0f, 3.0f);
  for (int64_t i = 32; i < 64; ++i) x[i] = 0.0f;  // An all-zero block: scale 0, codes 0.
  x[70] = 0.5f;                                   // A tie once scaled? Either way bit-identical.
  const QuantizedRows ours = Quantize(k(), x, 2, depth);
  const QuantizedRows scalar = Quantize(GetKernels(Isa::kScalar), x, 2, depth);
  EXPECT_EQ(ours.codes, scalar.codes);
  EXPECT_EQ(ours.scales, scalar.scales);
  for (size_t i = 0; i < ours.sums.size(); ++i) {
    EXPECT_FLOAT_EQ(ours.sums[i], scalar.sums[i]) << i;
  }
  for (int64_t i = 0; i < 2 * depth; ++i) {
    const float d = ours.scales[i / kQ8Block];
    EXPECT_LE(std::fabs(x[i] - d * ours.codes[i]), 0.5f * d * (1 + 1e-6f)) << i;
  }
  for (int64_t b = 0; b < 2 * depth / 16; ++b) {
    int sum = 0;
    for (int64_t i = 16 * b; i < 16 * b + 16; ++i) sum += ours.codes[i];
    EXPECT_FLOAT_EQ(ours.sums[b], ours.scales[b / 2] * static_cast<float>(sum)) << b;
  }
}

TEST_P(QuantMatMulTest, NonFiniteActivationsGiveNaNNotGarbage) {
  const int64_t depth = 256;
  auto x = RandomVector(depth, 72);
  x[40] = std::numeric_limits<float>::infinity();
  const QuantizedRows q = Quantize(k(), x, 1, depth);
  EXPECT_TRUE(std::isnan(q.scales[1]));
  for (const FormatCase& format : kFormats) {
    const auto w = RandomBlocks(format, depth, 73);
    float y = 0.0f;
    k().quant_matmul[static_cast<int>(format.dtype)](w.data(), static_cast<int64_t>(w.size()), 1,
                                                     q.View(depth), 1, &y, 1);
    EXPECT_TRUE(std::isnan(y)) << DTypeName(format.dtype);
  }
}

TEST_P(QuantMatMulTest, EveryFormatAgreesWithTheFloat64DefinitionAtAwkwardShapes) {
  for (const FormatCase& format : kFormats) {
    const DTypeInfo& info = GetDTypeInfo(format.dtype);
    for (int64_t n : {1, 2, 3, 5, 17}) {
      for (int64_t blocks : {1, 3, 8}) {
        const int64_t depth = blocks * info.block_elements;
        const int64_t row_bytes = blocks * info.block_bytes;
        const auto w = RandomBlocks(format, n * depth, 74 + n);
        std::vector<float> dequantized(static_cast<size_t>(n * depth));
        info.to_f32(w.data(), dequantized.data(), n * depth);
        for (int64_t tokens = 1; tokens <= kQuantMaxTokens; ++tokens) {
          const auto x = RandomVector(tokens * depth, 75 + tokens);
          const QuantizedRows q = Quantize(k(), x, tokens, depth);
          const int64_t ldy = n + 3;  // Wider than the data.
          std::vector<float> y(static_cast<size_t>(tokens * ldy), -7.0f), expected = y;
          k().quant_matmul[static_cast<int>(format.dtype)](w.data(), row_bytes, n, q.View(depth),
                                                           tokens, y.data(), ldy);
          reference::QuantMatMul(dequantized.data(), n, q.View(depth), tokens, expected.data(),
                                 ldy);
          // f32 sums of k / 16 partial products and offsets, which cancel in part: a few ulps of
          // the largest partial sum, relative to a result that can be smaller.
          EXPECT_LT(NormalizedError(y, expected), 1e-5)
              << info.name << " n=" << n << " k=" << depth << " tokens=" << tokens;
        }
      }
    }
  }
}

// The kernels' dequantization (prefill widens weights with it) against the type table's, which
// is ggml's bit for bit: the same values but for the order of one multiply and subtract, so within
// an ulp of the block's largest term.
TEST_P(QuantMatMulTest, DequantizationMatchesTheTypeTable) {
  for (const FormatCase& format : kFormats) {
    const DTypeInfo& info = GetDTypeInfo(format.dtype);
    const int64_t count = 3 * info.block_elements;
    const auto w = RandomBlocks(format, count, 81);
    std::vector<float> ours(static_cast<size_t>(count)), expected(ours.size());
    k().quant_to_f32[static_cast<int>(format.dtype)](w.data(), ours.data(), count);
    info.to_f32(w.data(), expected.data(), count);
    float largest = 0.0f;
    for (const float v : expected) largest = std::max(largest, std::fabs(v));
    for (int64_t i = 0; i < count; ++i) {
      EXPECT_NEAR(ours[i], expected[i], 4e-7f * largest) << info.name << " " << i;
    }
  }
}

// The interleaved layouts (8 rows repacked for the decode kernels): repacking loses nothing (each
// row comes back as the file had it), every format with a layout has a kernel, and the kernels
// agree with the float64 definition like the file-layout ones.
TEST_P(QuantMatMulTest, InterleavedLayoutsRoundTripAndTheirKernelsAgree) {
  int kernels = 0;
  for (const FormatCase& format : kFormats) {
    const DTypeInfo& info = GetDTypeInfo(format.dtype);
    const quant::InterleavedFormat layout = quant::GetInterleavedFormat(format.dtype);
    const InterleavedMatMulFn kernel = k().interleaved_matmul[static_cast<int>(format.dtype)];
    EXPECT_EQ(kernel != nullptr, layout.block_elements > 0) << info.name;
    if (kernel == nullptr) continue;
    ++kernels;
    for (int64_t groups : {1, 3}) {
      for (int64_t blocks : {1, 3}) {
        const int64_t n = groups * quant::kInterleavedRows;
        const int64_t depth = blocks * info.block_elements;
        const int64_t row_bytes = blocks * info.block_bytes;
        const auto w = RandomBlocks(format, n * depth, 90 + groups);
        std::vector<uint8_t> packed(
            static_cast<size_t>(groups * blocks * layout.group_block_bytes));
        quant::Interleave(format.dtype, w.data(), n, depth, packed.data());
        for (int64_t r = 0; r < n; ++r) {
          std::vector<uint8_t> row(static_cast<size_t>(row_bytes));
          quant::DeinterleaveRow(
              format.dtype,
              packed.data() + r / quant::kInterleavedRows * blocks * layout.group_block_bytes,
              r % quant::kInterleavedRows, depth, row.data());
          ASSERT_TRUE(std::equal(row.begin(), row.end(), w.begin() + r * row_bytes))
              << info.name << " row " << r;
        }
        std::vector<float> dequantized(static_cast<size_t>(n * depth));
        info.to_f32(w.data(), dequantized.data(), n * depth);
        for (int64_t tokens = 1; tokens <= kQuantMaxTokens; ++tokens) {
          const auto x = RandomVector(tokens * depth, 95 + tokens);
          const QuantizedRows q = Quantize(k(), x, tokens, depth);
          const int64_t ldy = n + 3;
          std::vector<float> y(static_cast<size_t>(tokens * ldy), -7.0f), expected = y;
          kernel(packed.data(), groups, q.View(depth), tokens, y.data(), ldy);
          reference::QuantMatMul(dequantized.data(), n, q.View(depth), tokens, expected.data(),
                                 ldy);
          EXPECT_LT(NormalizedError(y, expected), 1e-5)
              << info.name << " n=" << n << " k=" << depth << " tokens=" << tokens;
        }
      }
    }
  }
  EXPECT_EQ(kernels, 7);  // Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS.
}

INSTANTIATE_TEST_SUITE_P(AllIsas, QuantMatMulTest, ::testing::ValuesIn(SupportedIsas()),
                         favor::testing::IsaParamName);

}  // namespace
}  // namespace favor::kernels
