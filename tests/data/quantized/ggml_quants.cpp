// Reference quantized blocks and their dequantized values from ggml itself, for
// tests/data/quantized (a scratch tool built against libggml outside the favor build; ggml is the
// oracle, never a dependency):
//   g++ -O2 -std=c++17 ggml_quants.cpp -I$LLAMA_CPP/ggml/include -L$LLAMA_CPP/build/bin \
//       -lggml -lggml-base -Wl,-rpath,$LLAMA_CPP/build/bin -o ggml-quants
//   ggml-quants OUT.bin
// For each type: 4 rows of 256 values (normal, seed 1234, every 37th value x 30 as an outlier),
// then 8 rows of the shapes that take the quantizers' other branches (all positive, all negative,
// zero sub-blocks, a constant, values below ggml's zero threshold, large values, one spike, a
// ramp), quantized by ggml_quantize_chunk (no importance matrix), and ggml's to_float of the
// result.
// OUT.bin: u32 elements and the f32 input values; then per type, u32 name length, the name, u32
// ggml type, u32 elements, u32 bytes, the blocks, then elements f32 values.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "ggml.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.bin\n", argv[0]);
    return 2;
  }
  const ggml_type types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,   GGML_TYPE_Q5_1,
                             GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,   GGML_TYPE_Q4_K,
                             GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS};
  const int64_t rows = 12, per_row = 256, count = rows * per_row;
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(count);
  for (int64_t i = 0; i < 4 * per_row; ++i) {
    values[i] = normal(rng) * (i % 37 == 0 ? 30.0f : 1.0f);
  }
  for (int64_t row = 4; row < rows; ++row) {
    for (int64_t j = 0; j < per_row; ++j) {
      const float v = normal(rng);
      float& out = values[row * per_row + j];
      switch (row) {
        case 4:
          out = std::fabs(v);
          break;  // All positive.
        case 5:
          out = -std::fabs(v) - 0.25f;
          break;  // All negative.
        case 6:
          out = (j / 16) % 3 == 0 ? 0.0f : v;
          break;  // Zero sub-blocks.
        case 7:
          out = 0.5f;
          break;  // A constant.
        case 8:
          out = v * 1e-17f;
          break;  // Below the zero threshold.
        case 9:
          out = v * 3e3f;
          break;  // Large.
        case 10:
          out = j == 77 ? 9.0f : 0.0f;
          break;  // One spike.
        default:
          out = static_cast<float>(j) / 64.0f - 1.5f;  // A ramp.
      }
    }
  }
  // ggml_init fills the f16 table that ggml's dequantizers read; without it they return zeros.
  ggml_init_params params = {1 << 20, nullptr, false};
  ggml_context* context = ggml_init(params);
  ggml_quantize_init(GGML_TYPE_COUNT);
  FILE* out = std::fopen(argv[1], "wb");
  const uint32_t total = static_cast<uint32_t>(count);
  std::fwrite(&total, 4, 1, out);
  std::fwrite(values.data(), 4, count, out);
  for (const ggml_type type : types) {
    const std::string name = ggml_type_name(type);
    std::vector<uint8_t> blocks(ggml_row_size(type, per_row) * rows);
    const size_t bytes =
        ggml_quantize_chunk(type, values.data(), blocks.data(), 0, rows, per_row, nullptr);
    std::vector<float> decoded(count);
    ggml_get_type_traits(type)->to_float(blocks.data(), decoded.data(), count);
    const uint32_t header[] = {static_cast<uint32_t>(name.size())};
    std::fwrite(header, 4, 1, out);
    std::fwrite(name.data(), 1, name.size(), out);
    const uint32_t sizes[] = {static_cast<uint32_t>(type), static_cast<uint32_t>(count),
                              static_cast<uint32_t>(bytes)};
    std::fwrite(sizes, 4, 3, out);
    std::fwrite(blocks.data(), 1, bytes, out);
    std::fwrite(decoded.data(), 4, count, out);
  }
  std::fclose(out);
  ggml_free(context);
  return 0;
}
