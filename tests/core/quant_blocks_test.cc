// GGML's block formats against ggml itself (tests/data/quantized/blocks.bin, written by
// ggml_quants.cpp with ggml's quantizers and its to_float): every type dequantizes to ggml's values
// bit for bit, and the legacy formats quantize to ggml's blocks bit for bit.
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "engine/core/dtype.h"
#include "gtest/gtest.h"

namespace favor {
namespace {

struct Reference {
  std::string name;
  uint32_t ggml_type = 0;
  int64_t count = 0;
  std::vector<uint8_t> blocks;
  std::vector<float> values;  // ggml's to_float of the blocks.
};

class Reader {
 public:
  explicit Reader(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    bytes_ = buffer.str();
  }
  bool done() const { return offset_ >= bytes_.size(); }
  uint32_t U32() {
    uint32_t value = 0;
    Copy(&value, 4);
    return value;
  }
  void Copy(void* out, size_t size) {
    ASSERT_LE(offset_ + size, bytes_.size()) << "truncated fixture";
    std::memcpy(out, bytes_.data() + offset_, size);
    offset_ += size;
  }

 private:
  std::string bytes_;
  size_t offset_ = 0;
};

struct Fixture {
  std::vector<float> input;
  std::vector<Reference> types;
};

Fixture ReadFixture() {
  Fixture fixture;
  Reader reader(std::string(FAVOR_SOURCE_DIR) + "/tests/data/quantized/blocks.bin");
  fixture.input.resize(reader.U32());
  reader.Copy(fixture.input.data(), fixture.input.size() * sizeof(float));
  while (!reader.done()) {
    Reference r;
    r.name.resize(reader.U32());
    reader.Copy(r.name.data(), r.name.size());
    r.ggml_type = reader.U32();
    r.count = reader.U32();
    r.blocks.resize(reader.U32());
    reader.Copy(r.blocks.data(), r.blocks.size());
    r.values.resize(static_cast<size_t>(r.count));
    reader.Copy(r.values.data(), r.values.size() * sizeof(float));
    fixture.types.push_back(std::move(r));
  }
  return fixture;
}

TEST(QuantBlocks, EveryTypeDequantizesToGgmlsValuesBitForBit) {
  const Fixture fixture = ReadFixture();
  ASSERT_EQ(fixture.types.size(), 12u);
  for (const Reference& r : fixture.types) {
    SCOPED_TRACE(r.name);
    const auto dtype = ParseDType(absl::AsciiStrToLower(r.name));
    ASSERT_TRUE(dtype.ok()) << dtype.status();
    const DTypeInfo& info = GetDTypeInfo(*dtype);
    EXPECT_EQ(info.ggml_type, static_cast<int>(r.ggml_type));
    ASSERT_EQ(BytesFor(*dtype, r.count).value(), static_cast<int64_t>(r.blocks.size()));
    std::vector<float> ours(static_cast<size_t>(r.count));
    info.to_f32(r.blocks.data(), ours.data(), r.count);
    int64_t differing = 0;
    for (int64_t i = 0; i < r.count; ++i) {
      if (std::bit_cast<uint32_t>(ours[i]) != std::bit_cast<uint32_t>(r.values[i])) {
        if (differing++ < 3) {
          ADD_FAILURE() << "element " << i << ": " << ours[i] << " vs ggml's " << r.values[i];
        }
      }
    }
    EXPECT_EQ(differing, 0);
    EXPECT_EQ(info.first_non_finite(r.blocks.data(), r.count), -1);
  }
}

TEST(QuantBlocks, EveryFormatQuantizesToGgmlsBlocksBitForBit) {
  const Fixture fixture = ReadFixture();
  for (const Reference& r : fixture.types) {
    const DTypeInfo& info = GetDTypeInfo(ParseDType(absl::AsciiStrToLower(r.name)).value());
    ASSERT_NE(info.from_f32, nullptr);
    SCOPED_TRACE(r.name);
    ASSERT_EQ(static_cast<int64_t>(fixture.input.size()), r.count);
    std::vector<uint8_t> ours(r.blocks.size());
    info.from_f32(fixture.input.data(), ours.data(), r.count);
    EXPECT_EQ(ours, r.blocks);
  }
}

// A corrupt f16 scale (a NaN or an Inf) is found in the block that holds it.
TEST(QuantBlocks, ANonFiniteScaleIsFoundInItsBlock) {
  const Fixture fixture = ReadFixture();
  for (const Reference& r : fixture.types) {
    SCOPED_TRACE(r.name);
    const DTypeInfo& info = GetDTypeInfo(ParseDType(absl::AsciiStrToLower(r.name)).value());
    const int64_t blocks = r.count / info.block_elements;
    ASSERT_GE(blocks, 2);
    // Flip every byte pair of block 1 to 0x7e00 (an f16 NaN) in turn: the check must flag the
    // block when the pair is a scale and may not flag anything else as block 0.
    bool found = false;
    for (int64_t offset = 0; offset + 1 < info.block_bytes; ++offset) {
      std::vector<uint8_t> corrupt = r.blocks;
      corrupt[static_cast<size_t>(info.block_bytes + offset)] = 0x00;
      corrupt[static_cast<size_t>(info.block_bytes + offset + 1)] = 0x7e;
      const int64_t at = info.first_non_finite(corrupt.data(), r.count);
      EXPECT_TRUE(at == -1 || at == info.block_elements) << "offset " << offset << ": " << at;
      found = found || at == info.block_elements;
    }
    EXPECT_TRUE(found) << "no scale position is checked";
  }
}

// A NaN or an Inf among the values to quantize poisons its block's scale, so that the loader's
// check refuses the tensor instead of running garbage codes.
TEST(QuantBlocks, QuantizingANonFiniteValuePoisonsItsBlock) {
  const Fixture fixture = ReadFixture();
  for (const Reference& r : fixture.types) {
    SCOPED_TRACE(r.name);
    const DTypeInfo& info = GetDTypeInfo(ParseDType(absl::AsciiStrToLower(r.name)).value());
    for (const float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      std::vector<float> input = fixture.input;
      const int64_t at = 2 * info.block_elements + 5;
      input[static_cast<size_t>(at)] = bad;
      std::vector<uint8_t> blocks(r.blocks.size());
      info.from_f32(input.data(), blocks.data(), r.count);
      EXPECT_EQ(info.first_non_finite(blocks.data(), r.count), 2 * info.block_elements);
    }
  }
}

}  // namespace
}  // namespace favor
