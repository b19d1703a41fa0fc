// Every row of the type table (engine/core/dtype.h), checked the same way: a new type is tested by
// adding its row. Conversions round-trip within the type's precision, the reference dot product
// is the dot of the converted values, a NaN or Inf is found where it is, and sizes and file names
// agree with the table.
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "engine/core/dtype.h"
#include "tests/test_util.h"

namespace favor {
namespace {

// Largest error of a round trip, relative to the largest magnitude of its block: f32 is exact,
// f16 and bf16 round to 11 and 8 significant bits, Q8_0 to 1/254 of the block's largest value.
double Tolerance(const DTypeInfo& info) {
  if (info.name == "f32") return 0;
  if (info.name == "f16") return 1.0 / 2048;
  if (info.name == "bf16") return 1.0 / 256;
  if (info.name == "q8_0") return 1.0 / 254 + 1.0 / 2048;  // Plus the f16 scale's rounding.
  // Symmetric 4/5-bit formats map the largest value to -8 / -16 steps: the other side clamps at
  // 7 / 15 steps, a whole step of error. Asymmetric ones: half a step of (max - min) / 15 or 31,
  // plus the f16 rounding of the minimum and the scale.
  if (info.name == "q4_0") return 1.0 / 8 + 1.0 / 512;
  if (info.name == "q5_0") return 1.0 / 16 + 1.0 / 512;
  if (info.name == "q4_1") return 1.0 / 15 + 1.0 / 512;
  if (info.name == "q5_1") return 1.0 / 31 + 1.0 / 512;
  // K-quants: relative to the super-block's largest value, a sub-block's range spans at most
  // twice it; the searches trade the largest error for the weighted one, and the sub-block scales
  // are themselves quantized (4 bits in Q2_K, 6 in Q3_K-Q5_K, 8 in Q6_K). A step of the full
  // range: 2/3 (Q2_K), 2/7 (Q3_K's 8 levels), 2/15, 2/31 and 1/32 (Q6_K's symmetric 64 levels).
  if (info.name == "q2_k") return 2.0 / 3;
  if (info.name == "q3_k") return 2.0 / 7;
  if (info.name == "q4_k") return 2.0 / 15;
  if (info.name == "q5_k") return 2.0 / 31;
  if (info.name == "q6_k") return 1.0 / 32;
  // Non-linear levels: the widest gap between two of them is 24 of the 254 that span the range
  // (half of it, 12/127, at most), and IQ4_XS's sub-block scales are 6-bit steps of the largest
  // one (1/64 of the super-block's largest value, times up to 2 for the search's shrinking).
  if (info.name == "iq4_nl") return 12.0 / 127 + 1.0 / 512;
  if (info.name == "iq4_xs") return 12.0 / 127 + 2.0 / 64;
  ADD_FAILURE() << "no tolerance for " << info.name << ": add its row to this test";
  return 0;
}

std::vector<std::byte> Encode(const DTypeInfo& info, const std::vector<float>& values) {
  std::vector<std::byte> bytes(static_cast<size_t>(BytesFor(info.dtype, values.size()).value()));
  info.from_f32(values.data(), bytes.data(), static_cast<int64_t>(values.size()));
  return bytes;
}

TEST(DTypes, EveryWeightTypeRoundTripsAndDotsLikeItsValues) {
  for (const DTypeInfo& info : AllDTypes()) {
    if (!info.weights()) continue;
    SCOPED_TRACE(std::string(info.name));
    double worst = 0;
    // Awkward sizes: one block, several, odd counts of blocks; values of mixed magnitudes.
    for (int64_t blocks : {1, 3, 7}) {
      const int64_t count = blocks * std::max<int64_t>(info.block_elements, 33);
      const int64_t whole = count / info.block_elements * info.block_elements;
      std::vector<float> values = testing::RandomVector(whole, 5 + static_cast<uint64_t>(blocks));
      for (int64_t i = 0; i < whole; i += 5) values[static_cast<size_t>(i)] *= 40.0f;
      const auto bytes = Encode(info, values);
      std::vector<float> decoded(values.size());
      info.to_f32(bytes.data(), decoded.data(), whole);
      const int64_t block = std::max<int64_t>(info.block_elements, 1);
      for (int64_t start = 0; start < whole; start += block) {
        double largest = 0;
        for (int64_t i = start; i < start + block; ++i) {
          largest = std::max(largest, std::fabs(static_cast<double>(values[i])));
        }
        for (int64_t i = start; i < start + block; ++i) {
          const double magnitude = info.quantized() ? largest : std::fabs(values[i]);
          worst = std::max(worst, std::fabs(decoded[i] - values[i]) / (magnitude + 1e-30));
          ASSERT_LE(std::fabs(decoded[i] - values[i]), Tolerance(info) * magnitude + 1e-30)
              << "element " << i;
        }
      }
      const std::vector<float> x = testing::RandomVector(whole, 99);
      double expected = 0;
      for (int64_t i = 0; i < whole; ++i) expected += static_cast<double>(decoded[i]) * x[i];
      EXPECT_NEAR(info.dot_f32(bytes.data(), x.data(), whole), expected,
                  1e-9 * (1 + std::fabs(expected)));
      EXPECT_EQ(info.first_non_finite(bytes.data(), whole), -1);
    }
    std::printf("%s: largest round-trip error %.4f of the block's largest value\n",
                std::string(info.name).c_str(), worst);
  }
}

TEST(DTypes, EveryWeightTypeFindsANanOrInfWhereItIs) {
  for (const DTypeInfo& info : AllDTypes()) {
    if (!info.weights() || info.from_f32 == nullptr) continue;
    SCOPED_TRACE(std::string(info.name));
    const int64_t count = 4 * std::max<int64_t>(info.block_elements, 32);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY}) {
      std::vector<float> values = testing::RandomVector(count, 3);
      values[77] = bad;
      const auto bytes = Encode(info, values);
      // Per element for plain types; the block's first element for block types.
      EXPECT_EQ(info.first_non_finite(bytes.data(), count),
                77 / info.block_elements * info.block_elements)
          << bad;
    }
  }
}

TEST(DTypes, TheTableIsConsistentWithItsLookups) {
  for (const DTypeInfo& info : AllDTypes()) {
    EXPECT_EQ(&GetDTypeInfo(info.dtype), &info);
    EXPECT_EQ(ParseDType(info.name).value(), info.dtype);
    if (info.ggml_type >= 0) {
      EXPECT_EQ(DTypeFromGgml(static_cast<uint32_t>(info.ggml_type)).value(), info.dtype);
    }
    if (!info.safetensors_name.empty()) {
      EXPECT_EQ(DTypeFromSafetensors(info.safetensors_name).value(), info.dtype);
    }
    EXPECT_EQ(BytesFor(info.dtype, 4 * info.block_elements).value(), 4 * info.block_bytes);
  }
  // 16 is IQ2_XXS, not supported.
  EXPECT_NE(DTypeFromGgml(16).status().message().find(
                "unsupported GGML type 16 (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, "
                "Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)"),
            std::string::npos)
      << DTypeFromGgml(16).status();
  EXPECT_NE(DTypeFromSafetensors("F8_E4M3").status().message().find("supported: F32, F16, BF16"),
            std::string::npos);
}

}  // namespace
}  // namespace favor
