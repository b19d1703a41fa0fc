// Every kernel of every ISA this CPU supports against the plain reference, at awkward sizes:
// 1, odd, one less and one more than the vector widths (8, 16), and long rows.
#include <bit>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/half.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/reference.h"
#include "tests/test_util.h"

namespace favor::kernels {
namespace {

using favor::testing::NormalizedError;
using favor::testing::RandomVector;

const std::vector<int64_t> kSizes = {1,  2,  3,  7,  8,   9,   15,   16,
                                     17, 31, 33, 64, 100, 257, 1000, 4099};
constexpr double kTolerance = 2e-6;  // Normalised error of f32 kernels against double references.

class KernelTest : public ::testing::TestWithParam<Isa> {
 protected:
  const KernelTable& k() const { return GetKernels(GetParam()); }
};

TEST_P(KernelTest, TableMatchesRequestedIsaAndIsComplete) {
  EXPECT_EQ(k().isa, GetParam());
  // Every entry after `isa` is a function pointer: a missing designated initializer is null.
  const auto* entries = reinterpret_cast<void* const*>(reinterpret_cast<const char*>(&k()) +
                                                       offsetof(KernelTable, add));
  const size_t count = (sizeof(KernelTable) - offsetof(KernelTable, add)) / sizeof(void*);
  for (size_t i = 0; i < count; ++i) EXPECT_NE(entries[i], nullptr) << "kernel table entry " << i;
}

TEST_P(KernelTest, GemmAtAwkwardShapes) {
  const int64_t shapes[][3] = {{1, 1, 1},   {1, 17, 3},   {3, 5, 7},     {4, 16, 8},
                               {5, 33, 64}, {7, 256, 64}, {64, 64, 256}, {65, 31, 9}};
  for (const auto& shape : shapes) {
    const int64_t m = shape[0], n = shape[1], depth = shape[2];
    const int64_t lda = depth + 3, ldb = n + 2, ldc = n + 5;  // Wider than the data.
    const auto a = RandomVector(m * lda, 41), b = RandomVector(depth * ldb, 42);
    auto c = RandomVector(m * ldc, 43);
    auto expected = c;
    for (bool accumulate : {false, true}) {
      k().gemm(m, n, depth, a.data(), lda, b.data(), ldb, c.data(), ldc, accumulate);
      reference::Gemm(m, n, depth, a.data(), lda, b.data(), ldb, expected.data(), ldc, accumulate);
      EXPECT_LT(NormalizedError(c, expected), 1e-6)
          << m << "x" << n << "x" << depth << " acc=" << accumulate;
    }
  }
}

TEST_P(KernelTest, MatVecBf16AtAwkwardShapes) {
  for (int64_t n : {1, 3, 4, 5, 17, 64}) {
    for (int64_t depth : {1, 7, 15, 16, 17, 33, 100, 768, 1001}) {
      for (int64_t rows = 1; rows <= kMatVecMaxRows; ++rows) {
        const auto weights = RandomVector(n * depth, 61);
        std::vector<uint16_t> rows_bf16(weights.size());
        for (size_t i = 0; i < weights.size(); ++i) rows_bf16[i] = F32ToBF16(weights[i]);
        std::vector<uint16_t> w(static_cast<size_t>(MatVecPackedElements(n, depth)), 0xffff);
        PackMatVecBf16(rows_bf16.data(), n, depth, w.data());
        const int64_t ldx = depth + 3, ldy = n + 2;  // Wider than the data.
        const auto x = RandomVector(rows * ldx, 62);
        auto y = RandomVector(rows * ldy, 63);
        auto expected = y;
        k().matvec_bf16(w.data(), n, depth, x.data(), ldx, rows, y.data(), ldy);
        reference::MatVecBf16(w.data(), n, depth, x.data(), ldx, rows, expected.data(), ldy);
        EXPECT_LT(NormalizedError(y, expected), 2e-6) << n << "x" << depth << " rows " << rows;
      }
    }
  }
}

// 16-bit weights read in place: rows of odd length (tails), every token count, both types.
TEST_P(KernelTest, HalfMatMulAtAwkwardShapes) {
  for (const bool bf16 : {false, true}) {
    for (int64_t n : {1, 3, 4, 5, 17}) {
      for (int64_t depth : {1, 7, 16, 17, 33, 100, 768}) {
        const auto weights = RandomVector(n * depth, 64);
        std::vector<uint16_t> w(weights.size());
        for (size_t i = 0; i < weights.size(); ++i) {
          w[i] = bf16 ? F32ToBF16(weights[i]) : F32ToF16(weights[i]);
        }
        for (int64_t tokens = 1; tokens <= kQuantMaxTokens; ++tokens) {
          const int64_t ldx = depth + 3, ldy = n + 2;  // Wider than the data.
          const auto x = RandomVector(tokens * ldx, 65);
          auto y = RandomVector(tokens * ldy, 66);
          auto expected = y;
          (bf16 ? k().bf16_matmul : k().f16_matmul)(w.data(), n, depth, x.data(), ldx, tokens,
                                                    y.data(), ldy);
          reference::HalfMatMul(w.data(), bf16, n, depth, x.data(), ldx, tokens, expected.data(),
                                ldy);
          EXPECT_LT(NormalizedError(y, expected), 2e-6)
              << (bf16 ? "bf16 " : "f16 ") << n << "x" << depth << " tokens " << tokens;
        }
      }
    }
  }
}

// f32 weights read in place: against a float64 product, the same awkward shapes.
TEST_P(KernelTest, F32MatMulAtAwkwardShapes) {
  for (int64_t n : {1, 3, 4, 5, 17}) {
    for (int64_t depth : {1, 7, 16, 17, 33, 100, 768}) {
      const auto w = RandomVector(n * depth, 67);
      for (int64_t tokens = 1; tokens <= kQuantMaxTokens; ++tokens) {
        const int64_t ldx = depth + 3, ldy = n + 2;  // Wider than the data.
        const auto x = RandomVector(tokens * ldx, 68);
        auto y = RandomVector(tokens * ldy, 69);
        auto expected = y;
        k().f32_matmul(w.data(), n, depth, x.data(), ldx, tokens, y.data(), ldy);
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t i = 0; i < n; ++i) {
            double sum = 0.0;
            for (int64_t p = 0; p < depth; ++p) {
              sum += static_cast<double>(w[static_cast<size_t>(i * depth + p)]) *
                     x[static_cast<size_t>(t * ldx + p)];
            }
            expected[static_cast<size_t>(t * ldy + i)] = static_cast<float>(sum);
          }
        }
        EXPECT_LT(NormalizedError(y, expected), 2e-6) << n << "x" << depth << " tokens " << tokens;
      }
    }
  }
}

// One head's random-feature state and a decode step's inputs, with the outputs of the step.
struct TailDecodeCase {
  int64_t heads, m, d;
  std::vector<float> bias, projection_t, queries, key, value, s, z, scale;
  std::vector<float> numerators, denominators, row_scales;

  // `empty_every`: every that-many-th feature holds nothing (-inf scale, zero sums); 1: none
  // holds anything yet.
  TailDecodeCase(int64_t heads_, int64_t m_, int64_t d_, int64_t empty_every, uint64_t seed)
      : heads(heads_), m(m_), d(d_) {
    bias = RandomVector(m, seed, -2.0f, 2.0f);
    projection_t = RandomVector(d * m, seed + 1, -0.5f, 0.5f);
    queries = RandomVector(heads * d, seed + 2);
    key = RandomVector(d, seed + 3);
    value = RandomVector(d, seed + 4);
    s = RandomVector(m * d, seed + 5);
    z = RandomVector(m, seed + 6, 0.5f, 3.0f);
    scale = RandomVector(m, seed + 7, -6.0f, 6.0f);
    for (int64_t f = 0; f < m; ++f) {
      if (f % empty_every != 0) continue;
      scale[static_cast<size_t>(f)] = -std::numeric_limits<float>::infinity();
      z[static_cast<size_t>(f)] = 0.0f;
      for (int64_t j = 0; j < d; ++j) s[static_cast<size_t>(f * d + j)] = 0.0f;
    }
    // Outputs start as garbage: the step must write all of them.
    numerators = RandomVector(heads * d, seed + 8);
    denominators = RandomVector(heads, seed + 9);
    row_scales = RandomVector(heads, seed + 10);
  }
  TailDecodeStep Step(bool joins, std::vector<float>& scratch) {
    scratch.assign(static_cast<size_t>((heads + 4) * m), std::nanf(""));  // Exactly its size.
    return {.features = m,
            .dim = d,
            .heads = heads,
            .bias = bias.data(),
            .projection_t = projection_t.data(),
            .queries = queries.data(),
            .key = joins ? key.data() : nullptr,
            .key_quadratic = -1.75f,
            .value = value.data(),
            .s = s.data(),
            .z = z.data(),
            .scale = scale.data(),
            .numerators = numerators.data(),
            .denominators = denominators.data(),
            .row_scales = row_scales.data(),
            .scratch = scratch.data()};
  }
};

// Log-scales (values of a few nats, or -inf for nothing) equal to rounding.
void ExpectLogScalesNear(const std::vector<float>& actual, const std::vector<float>& expected,
                         const std::string& at) {
  ASSERT_EQ(actual.size(), expected.size()) << at;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::isinf(expected[i])) {
      EXPECT_EQ(actual[i], expected[i]) << at << " [" << i << "]";
    } else {
      EXPECT_NEAR(actual[i], expected[i], 1e-5 * (1 + std::abs(expected[i])))
          << at << " [" << i << "]";
    }
  }
}

TEST_P(KernelTest, TailDecodeMatchesItsDefinitionInDouble) {
  std::vector<float> scratch, expected_scratch;
  for (int64_t heads : {1, 2, 3, 5, 8, 11}) {
    for (int64_t m : {1, 7, 17, 64, 257}) {
      for (int64_t d : {1, 8, 17, 64, 100}) {
        // Some features empty; none held yet (the first key); every feature held.
        for (int64_t empty_every : {int64_t{3}, int64_t{1}, m + 1}) {
          for (bool joins : {true, false}) {
            const std::string at =
                absl::StrCat("heads ", heads, " M ", m, " d ", d, " empty every ", empty_every,
                             joins ? " key" : " no key");
            TailDecodeCase actual(heads, m, d, empty_every, 70), expected = actual;
            k().tail_decode(actual.Step(joins, scratch));
            reference::TailDecode(expected.Step(joins, expected_scratch));
            EXPECT_LT(NormalizedError(actual.numerators, expected.numerators), 1e-5) << at;
            EXPECT_LT(NormalizedError(actual.denominators, expected.denominators), 1e-5) << at;
            ExpectLogScalesNear(actual.row_scales, expected.row_scales, at);
            EXPECT_LT(NormalizedError(actual.s, expected.s), 1e-5) << at;
            EXPECT_LT(NormalizedError(actual.z, expected.z), 1e-5) << at;
            ExpectLogScalesNear(actual.scale, expected.scale, at);
            if (!joins) {
              const TailDecodeCase before(heads, m, d, empty_every, 70);
              EXPECT_EQ(actual.s, before.s) << at;  // Without a key the state is only read.
              EXPECT_EQ(actual.z, before.z) << at;
            }
          }
        }
      }
    }
  }
}

TEST_P(KernelTest, RowOperationsForRandomFeatures) {
  for (int64_t n : kSizes) {
    const auto x = RandomVector(n, 31, -20.0f, 5.0f), y0 = RandomVector(n, 32);
    std::vector<float> out(static_cast<size_t>(n)), expected(static_cast<size_t>(n));
    const float sum = k().exp_shifted(x.data(), 3.0f, out.data(), n);
    const float expected_sum = reference::ExpShifted(x.data(), 3.0f, expected.data(), n);
    EXPECT_LT(NormalizedError(out, expected), kTolerance) << "exp_shifted n=" << n;
    EXPECT_NEAR(sum, expected_sum, 1e-5 * expected_sum) << "n=" << n;
    EXPECT_EQ(k().max(x.data(), n), reference::Max(x.data(), n)) << "n=" << n;
    auto y = y0, y_expected = y0;
    k().axpy(0.7f, x.data(), y.data(), n);
    reference::Axpy(0.7f, x.data(), y_expected.data(), n);
    EXPECT_LT(NormalizedError(y, y_expected), 1e-6) << "axpy n=" << n;
    k().scale(-1.5f, y.data(), n);
    reference::Scale(-1.5f, y_expected.data(), n);
    EXPECT_LT(NormalizedError(y, y_expected), 1e-6) << "scale n=" << n;
  }
}

TEST_P(KernelTest, AddAndMul) {
  for (int64_t n : kSizes) {
    const auto a = RandomVector(n, 1), b = RandomVector(n, 2);
    std::vector<float> out(static_cast<size_t>(n) + 1, 42.0f), expected(static_cast<size_t>(n));
    k().add(a.data(), b.data(), out.data(), n);
    reference::Add(a.data(), b.data(), expected.data(), n);
    EXPECT_LT(NormalizedError(out.data(), expected.data(), n), 1e-7) << "add n=" << n;
    EXPECT_EQ(out[static_cast<size_t>(n)], 42.0f) << "add wrote past the end, n=" << n;
    k().mul(a.data(), b.data(), out.data(), n);
    reference::Mul(a.data(), b.data(), expected.data(), n);
    EXPECT_LT(NormalizedError(out.data(), expected.data(), n), 1e-7) << "mul n=" << n;
    EXPECT_EQ(out[static_cast<size_t>(n)], 42.0f) << "mul wrote past the end, n=" << n;
  }
}

TEST_P(KernelTest, SiluAndSwiGlu) {
  for (int64_t n : kSizes) {
    const auto gate = RandomVector(n, 3, -12.0f, 12.0f), up = RandomVector(n, 4);
    std::vector<float> out(static_cast<size_t>(n)), expected(static_cast<size_t>(n));
    k().silu(gate.data(), out.data(), n);
    reference::Silu(gate.data(), expected.data(), n);
    EXPECT_LT(NormalizedError(out, expected), kTolerance) << "silu n=" << n;
    k().swiglu(gate.data(), up.data(), out.data(), n);
    reference::SwiGlu(gate.data(), up.data(), expected.data(), n);
    EXPECT_LT(NormalizedError(out, expected), kTolerance) << "swiglu n=" << n;
  }
}

TEST_P(KernelTest, GeluAndGeGlu) {
  for (int64_t n : kSizes) {
    const auto gate = RandomVector(n, 5, -12.0f, 12.0f), up = RandomVector(n, 6);
    std::vector<float> out(static_cast<size_t>(n)), expected(static_cast<size_t>(n));
    k().gelu(gate.data(), out.data(), n);
    reference::Gelu(gate.data(), expected.data(), n);
    EXPECT_LT(NormalizedError(out, expected), kTolerance) << "gelu n=" << n;
    k().geglu(gate.data(), up.data(), out.data(), n);
    reference::GeGlu(gate.data(), up.data(), expected.data(), n);
    EXPECT_LT(NormalizedError(out, expected), kTolerance) << "geglu n=" << n;
  }
}

// tanh through the vector exp: small inputs (where 1 - 2/(e^2x + 1) would cancel) keep their
// relative precision, large ones saturate to exactly +-cap, and the sign is kept.
TEST_P(KernelTest, SoftCapKeepsRelativePrecisionAndSaturates) {
  for (int64_t n : kSizes) {
    for (float cap : {1.0f, 30.0f}) {
      const auto x = RandomVector(n, 7, -4.0f * cap, 4.0f * cap);
      std::vector<float> out(static_cast<size_t>(n)), expected(static_cast<size_t>(n));
      k().soft_cap(x.data(), out.data(), n, cap);
      reference::SoftCap(x.data(), expected.data(), n, cap);
      EXPECT_LT(NormalizedError(out, expected), kTolerance) << "soft_cap n=" << n;
    }
  }
  const std::vector<float> x = {1e-30f, -3e-6f, 1e-3f, -0.3f,  0.62f, 0.63f,
                                -5.0f,  40.0f,  1e30f, -1e30f, 0.0f,  -0.0f};
  std::vector<float> out(x.size()), expected(x.size());
  k().soft_cap(x.data(), out.data(), static_cast<int64_t>(x.size()), 1.0f);
  reference::SoftCap(x.data(), expected.data(), static_cast<int64_t>(x.size()), 1.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(out[i], expected[i], 4e-7 * std::abs(expected[i])) << "tanh(" << x[i] << ")";
    EXPECT_EQ(std::signbit(out[i]), std::signbit(x[i])) << "tanh(" << x[i] << ")";
  }
}

TEST_P(KernelTest, SiluExtremeInputsStayFinite) {
  const std::vector<float> x = {-1e30f, -200.0f, -90.0f, -88.5f, -87.0f, 0.0f,
                                87.0f,  88.5f,   90.0f,  200.0f, 1e30f};
  std::vector<float> out(x.size()), expected(x.size());
  k().silu(x.data(), out.data(), static_cast<int64_t>(x.size()));
  reference::Silu(x.data(), expected.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(std::isfinite(out[i])) << "silu(" << x[i] << ") = " << out[i];
    EXPECT_NEAR(out[i], expected[i], 1e-6 * std::fabs(expected[i]) + 1e-30) << "x=" << x[i];
  }
}

TEST_P(KernelTest, Softmax) {
  for (int64_t n : kSizes) {
    auto x = RandomVector(n, 5, -30.0f, 30.0f);
    std::vector<float> out(static_cast<size_t>(n)), expected(static_cast<size_t>(n));
    k().softmax(x.data(), out.data(), n);
    reference::Softmax(x.data(), expected.data(), n);
    EXPECT_LT(NormalizedError(out, expected), kTolerance) << "n=" << n;
  }
}

TEST_P(KernelTest, SoftmaxWithMaskedEntries) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {1.0f, -inf, 2.0f, -inf, 0.5f, -inf, -inf, 3.0f, -inf, 0.0f, -inf};
  std::vector<float> out(x.size()), expected(x.size());
  k().softmax(x.data(), out.data(), static_cast<int64_t>(x.size()));
  reference::Softmax(x.data(), expected.data(), static_cast<int64_t>(x.size()));
  EXPECT_LT(NormalizedError(out, expected), kTolerance);
  std::vector<float> all_masked(9, -inf), zeros(9, 0.0f);
  k().softmax(all_masked.data(), out.data(), 9);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(out[static_cast<size_t>(i)], 0.0f);
}

TEST_P(KernelTest, RmsNorm) {
  for (int64_t n : kSizes) {
    const auto x = RandomVector(n, 6, -3.0f, 3.0f), w = RandomVector(n, 7, 0.5f, 1.5f);
    std::vector<float> out(static_cast<size_t>(n)), expected(static_cast<size_t>(n));
    k().rms_norm(x.data(), w.data(), out.data(), n, 1e-5f);
    reference::RmsNorm(x.data(), w.data(), expected.data(), n, 1e-5f);
    EXPECT_LT(NormalizedError(out, expected), kTolerance) << "n=" << n;
  }
}

// LayerNorm on rows centred far from zero (a mean of 100 over a spread of 3): a one-pass variance
// would lose most digits there; n = 1 has zero variance and gives the bias.
TEST_P(KernelTest, LayerNorm) {
  for (int64_t n : kSizes) {
    for (float center : {0.0f, 100.0f}) {
      const auto x = RandomVector(n, 6, center - 3.0f, center + 3.0f);
      const auto w = RandomVector(n, 7, 0.5f, 1.5f), b = RandomVector(n, 8, -1.0f, 1.0f);
      std::vector<float> out(static_cast<size_t>(n)), expected(static_cast<size_t>(n));
      k().layer_norm(x.data(), w.data(), b.data(), out.data(), n, 1e-5f);
      reference::LayerNorm(x.data(), w.data(), b.data(), expected.data(), n, 1e-5f);
      EXPECT_LT(NormalizedError(out, expected), center == 0.0f ? kTolerance : 2e-5)
          << "n=" << n << " center=" << center;
    }
  }
}

TEST_P(KernelTest, Dot) {
  for (int64_t n : kSizes) {
    const auto a = RandomVector(n, 8), b = RandomVector(n, 9);
    const double expected = reference::Dot(a.data(), b.data(), n);
    const double scale = std::sqrt(static_cast<double>(n));  // Typical magnitude of the sum.
    EXPECT_NEAR(k().dot(a.data(), b.data(), n), expected, 1e-6 * scale) << "n=" << n;
  }
}

TEST_P(KernelTest, RopeBothStyles) {
  for (RopeStyle style : {RopeStyle::kAdjacentPairs, RopeStyle::kHalves}) {
    for (int64_t head_dim : {2, 6, 8, 14, 16, 34, 64, 128, 256}) {
      for (int64_t position : {0, 1, 17, 4095}) {
        const int64_t heads = 3;
        auto x = RandomVector(heads * head_dim, 10);
        auto expected = x;
        std::vector<float> cos_values(static_cast<size_t>(head_dim / 2));
        std::vector<float> sin_values(static_cast<size_t>(head_dim / 2));
        for (int64_t i = 0; i < head_dim / 2; ++i) {
          const double angle = position * std::pow(10000.0, -2.0 * i / head_dim);
          cos_values[static_cast<size_t>(i)] = static_cast<float>(std::cos(angle));
          sin_values[static_cast<size_t>(i)] = static_cast<float>(std::sin(angle));
        }
        k().rope(x.data(), cos_values.data(), sin_values.data(), heads, head_dim, style);
        reference::Rope(expected.data(), position, 10000.0, heads, head_dim, style);
        EXPECT_LT(NormalizedError(x, expected), kTolerance)
            << "head_dim=" << head_dim << " position=" << position
            << " style=" << (style == RopeStyle::kHalves ? "halves" : "adjacent");
      }
    }
  }
}

TEST_P(KernelTest, AttentionRow) {
  for (int64_t head_dim : {1, 8, 13, 16, 64, 100, 256}) {
    for (int64_t n_keys : {1, 3, 63, 64, 65, 129, 1000}) {
      const auto q = RandomVector(head_dim, 11, -2.0f, 2.0f);
      const auto keys = RandomVector(n_keys * head_dim, 12, -2.0f, 2.0f);
      const auto values = RandomVector(n_keys * head_dim, 13);
      const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      std::vector<float> out(static_cast<size_t>(head_dim)),
          expected(static_cast<size_t>(head_dim));
      for (float soft_cap : {0.0f, 1.5f, 50.0f}) {
        float log_sum = 0.0f, expected_log_sum = 0.0f;
        k().attention_row(q.data(), keys.data(), values.data(), n_keys, head_dim, scale, soft_cap,
                          out.data(), &log_sum);
        reference::AttentionRow(q.data(), keys.data(), values.data(), n_keys, head_dim, scale,
                                soft_cap, expected.data(), &expected_log_sum);
        EXPECT_LT(NormalizedError(out, expected), 1e-5)
            << "head_dim=" << head_dim << " n_keys=" << n_keys << " soft_cap=" << soft_cap;
        EXPECT_NEAR(log_sum, expected_log_sum, 1e-5 * std::max(1.0f, std::abs(expected_log_sum)))
            << "head_dim=" << head_dim << " n_keys=" << n_keys << " soft_cap=" << soft_cap;
      }
    }
  }
}

// A tile of query rows against each row alone in double: tiles of 1 to 16 rows at positions that
// start a key block, cross one or fall mid-block, with sliding windows and soft caps, at odd head
// dimensions; the rows of q and out are strided like heads in a token's row.
TEST_P(KernelTest, AttentionTileEqualsEachRowAlone) {
  for (int64_t head_dim : {1, 13, 64, 100}) {
    for (int64_t rows : {1, 5, 16}) {
      for (int64_t first_position : {0, 3, 60, 130}) {
        const int64_t keys_count = first_position + rows, ld = 2 * head_dim + 3;
        const auto q = RandomVector(rows * ld, 21, -2.0f, 2.0f);
        const auto keys = RandomVector(keys_count * head_dim, 22, -2.0f, 2.0f);
        const auto values = RandomVector(keys_count * head_dim, 23);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        for (const auto& [window, soft_cap] :
             {std::pair<int64_t, float>{0, 0.0f}, {7, 0.0f}, {100, 1.5f}, {0, 30.0f}}) {
          std::vector<float> out(static_cast<size_t>(rows * ld), 0.0f), expected = out;
          k().attention_tile(q.data(), ld, rows, first_position, keys.data(), values.data(),
                             head_dim, scale, soft_cap, window, out.data(), ld);
          reference::AttentionTile(q.data(), ld, rows, first_position, keys.data(), values.data(),
                                   head_dim, scale, soft_cap, window, expected.data(), ld);
          EXPECT_LT(NormalizedError(out, expected), 1e-5)
              << "head_dim=" << head_dim << " rows=" << rows << " at " << first_position
              << " window=" << window << " soft_cap=" << soft_cap;
        }
      }
    }
  }
}

TEST_P(KernelTest, AttentionRowWithPeakedScores) {
  // Large scores: the online softmax must rescale its accumulator without overflow.
  const int64_t head_dim = 16, n_keys = 300;
  auto q = RandomVector(head_dim, 14, -20.0f, 20.0f);
  auto keys = RandomVector(n_keys * head_dim, 15, -20.0f, 20.0f);
  const auto values = RandomVector(n_keys * head_dim, 16);
  std::vector<float> out(head_dim), expected(head_dim);
  float log_sum = 0.0f, expected_log_sum = 0.0f;
  k().attention_row(q.data(), keys.data(), values.data(), n_keys, head_dim, 1.0f, 0.0f, out.data(),
                    &log_sum);
  reference::AttentionRow(q.data(), keys.data(), values.data(), n_keys, head_dim, 1.0f, 0.0f,
                          expected.data(), &expected_log_sum);
  EXPECT_LT(NormalizedError(out, expected), 1e-5);
  EXPECT_NEAR(log_sum, expected_log_sum, 1e-5 * std::abs(expected_log_sum));
  // No key: nothing to average, and a log-weight that merges as nothing.
  k().attention_row(q.data(), keys.data(), values.data(), 0, head_dim, 1.0f, 0.0f, out.data(),
                    &log_sum);
  EXPECT_EQ(log_sum, -INFINITY);
}

// NaN of every kind (quiet, signalling, negative, a mantissa whose rounding would carry into the
// exponent) stays NaN; infinities, zeros, the largest finite value and subnormals convert as the
// scalar reference does, at every lane position.
TEST_P(KernelTest, Bf16ConversionKeepsNanAndSpecialValues) {
  const std::vector<uint32_t> specials = {0x7fffffffu, 0xffffffffu, 0x7f800001u, 0xff800001u,
                                          0x7fc00000u, 0x7fbfffffu, 0x7f800000u, 0xff800000u,
                                          0x00000000u, 0x80000000u, 0x7f7fffffu, 0x00000001u,
                                          0x807fffffu, 0x3f808000u, 0x3f818000u, 0x3f80ffffu};
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{33}}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      x[static_cast<size_t>(i)] =
          std::bit_cast<float>(specials[static_cast<size_t>(i) % specials.size()]);
    }
    std::vector<uint16_t> bf16(static_cast<size_t>(n));
    k().f32_to_bf16(x.data(), bf16.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const float value = x[static_cast<size_t>(i)];
      const uint16_t got = bf16[static_cast<size_t>(i)];
      EXPECT_EQ(got, F32ToBF16(value)) << std::hex << std::bit_cast<uint32_t>(value);
      EXPECT_EQ(std::isnan(BF16ToF32(got)), std::isnan(value))
          << std::hex << std::bit_cast<uint32_t>(value) << " -> " << got;
    }
  }
}

TEST_P(KernelTest, HalfConversionsMatchScalarReference) {
  for (int64_t n : kSizes) {
    const auto x = RandomVector(n, 17, -70000.0f, 70000.0f);
    std::vector<uint16_t> f16(static_cast<size_t>(n)), bf16(static_cast<size_t>(n) + 1, 0xabcd);
    for (int64_t i = 0; i < n; ++i)
      f16[static_cast<size_t>(i)] = F32ToF16(x[static_cast<size_t>(i)] / 4);
    std::vector<float> out(static_cast<size_t>(n));
    k().f16_to_f32(f16.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[static_cast<size_t>(i)], F16ToF32(f16[static_cast<size_t>(i)])) << "i=" << i;
    }
    k().f32_to_bf16(x.data(), bf16.data(), n);
    EXPECT_EQ(bf16[static_cast<size_t>(n)], 0xabcd) << "f32_to_bf16 wrote past the end";
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(bf16[static_cast<size_t>(i)], F32ToBF16(x[static_cast<size_t>(i)])) << "i=" << i;
    }
    k().bf16_to_f32(bf16.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[static_cast<size_t>(i)], BF16ToF32(bf16[static_cast<size_t>(i)])) << "i=" << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, KernelTest, ::testing::ValuesIn(SupportedIsas()),
                         favor::testing::IsaParamName);

TEST(IsaSelection, ParsesNamesAndRejectsUnknownOnes) {
  EXPECT_EQ(ParseIsa("avx2").value(), Isa::kAvx2);
  EXPECT_EQ(ParseIsa("scalar").value(), Isa::kScalar);
  const auto bad = ParseIsa("sse9");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sse9"), absl::string_view::npos);
}

TEST(IsaSelection, EnvironmentForcesAnIsa) {
  ASSERT_EQ(setenv("FAVOR_ISA", "scalar", 1), 0);
  EXPECT_EQ(IsaFromEnvironment().value(), Isa::kScalar);
  ASSERT_EQ(setenv("FAVOR_ISA", "nonsense", 1), 0);
  EXPECT_FALSE(IsaFromEnvironment().ok());
  ASSERT_EQ(unsetenv("FAVOR_ISA"), 0);
  EXPECT_EQ(IsaFromEnvironment().value(), BestIsa());
}

}  // namespace
}  // namespace favor::kernels
