// safetensors headers built by hand, each broken one way: every one is a clear error naming the
// tensor, before any byte of data is read, and nothing overflows.
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/core/storage.h"
#include "engine/io/huggingface.h"
#include "tests/test_util.h"

namespace favor::io {
namespace {

// An 8-byte header length, the header, then `data_bytes` zero bytes.
absl::Status Parse(const std::string& header, size_t data_bytes = 64) {
  std::string bytes(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);
  bytes += header;
  bytes.append(data_bytes, '\0');
  auto buffer = AlignedBuffer::Create(bytes.size()).value();
  std::memcpy(buffer->data(), bytes.data(), bytes.size());
  ModelFile model;
  return ParseSafetensors(buffer, "test.safetensors", model);
}

std::string Entry(const std::string& name, const std::string& shape, const std::string& offsets,
                  const std::string& dtype = "F32") {
  return absl::StrCat("\"", name, "\": {\"dtype\": \"", dtype, "\", \"shape\": ", shape,
                      ", \"data_offsets\": ", offsets, "}");
}

void ExpectError(const std::string& header, const std::string& needle) {
  const absl::Status status = Parse(header);
  ASSERT_FALSE(status.ok()) << "accepted: " << header;
  EXPECT_NE(status.message().find(needle), absl::string_view::npos) << status;
}

constexpr char kNorm[] = "model.norm.weight";

// A JSON object of the given members (absl::StrCat: GCC 12 warns falsely on "{" + string).
template <typename... Members>
std::string Object(const Members&... members) {
  std::string out = "{";
  const std::string parts[] = {members...};
  for (size_t i = 0; i < sizeof...(members); ++i)
    absl::StrAppend(&out, i > 0 ? ", " : "", parts[i]);
  return absl::StrCat(out, "}");
}

TEST(BadSafetensors, WellFormedHeaderParses) {
  EXPECT_TRUE(Parse(Object(Entry(kNorm, "[16]", "[0, 64]"))).ok());
  EXPECT_TRUE(
      Parse(Object("\"__metadata__\": {\"format\": \"pt\"}", Entry(kNorm, "[4, 4]", "[0, 64]")))
          .ok());
}

// Biases and unknown layer parameters keep a canonical name, so that the decoder refuses them by
// name instead of the loader dropping them; non-parameter buffers are skipped.
TEST(BadSafetensors, BiasesAreKeptUnderCanonicalNames) {
  std::string bytes(8, '\0');
  const std::string header =
      Object(Entry("model.layers.3.self_attn.q_proj.bias", "[4]", "[0, 16]"),
             Entry("model.layers.3.mlp.experts.weight", "[4]", "[16, 32]"),
             Entry("model.layers.3.self_attn.rotary_emb.inv_freq", "[4]", "[32, 48]"));
  const uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);
  bytes += header;
  bytes.append(64, '\0');
  auto buffer = AlignedBuffer::Create(bytes.size()).value();
  std::memcpy(buffer->data(), bytes.data(), bytes.size());
  ModelFile model;
  ASSERT_TRUE(ParseSafetensors(buffer, "test.safetensors", model).ok());
  EXPECT_EQ(model.tensors.count("blk.3.attn_q.bias"), 1u);
  EXPECT_EQ(model.tensors.count("blk.3.mlp.experts.weight"), 1u);
  EXPECT_EQ(model.tensors.size(), 2u) << "inv_freq is a buffer, not a parameter";
}

TEST(BadSafetensors, SizesAndOffsets) {
  // Dimension products that overflow 64 bits, absurd and non-positive dimensions.
  ExpectError(Object(Entry(kNorm, "[4294967296, 4294967296]", "[0, 64]")), "too large");
  ExpectError(Object(Entry(kNorm, "[65536, 65536, 65536, 65536]", "[0, 64]")), "too large");
  ExpectError(Object(Entry(kNorm, "[8589934592]", "[0, 64]")), "dimension 8589934592");
  ExpectError(Object(Entry(kNorm, "[0]", "[0, 64]")), "dimension 0");
  ExpectError(Object(Entry(kNorm, "[-16]", "[0, 64]")), "dimension -16");
  ExpectError(Object(Entry(kNorm, "[1e300]", "[0, 64]")), "dimension");
  ExpectError(Object(Entry(kNorm, "[1, 1, 1, 1, 1, 1, 1, 1, 1]", "[0, 4]")), "rank");
  // Offsets past the end, reversed, negative, not matching the shape, absurd.
  ExpectError(Object(Entry(kNorm, "[32]", "[0, 128]")), "do not fit");
  ExpectError(Object(Entry(kNorm, "[16]", "[64, 0]")), "do not fit");
  ExpectError(Object(Entry(kNorm, "[16]", "[-64, 0]")), "do not fit");
  ExpectError(Object(Entry(kNorm, "[8]", "[0, 64]")), "do not fit 32 bytes");
  ExpectError(Object(Entry(kNorm, "[16]", "[18446744073709551552, 64]")),
              "tensor 'model.norm.weight'");
  // A header length beyond the file.
  std::string bytes(8, '\xff');
  auto buffer = AlignedBuffer::Create(bytes.size()).value();
  std::memcpy(buffer->data(), bytes.data(), bytes.size());
  ModelFile model;
  EXPECT_NE(ParseSafetensors(buffer, "f", model).message().find("header length"),
            absl::string_view::npos);
}

TEST(BadSafetensors, MalformedEntries) {
  ExpectError("[1, 2]", "not a JSON object");
  ExpectError("", "invalid JSON");
  ExpectError(Object(Entry(kNorm, "[16]", "[0, 64]", "I64")), "unsupported dtype I64");
  ExpectError(Object(absl::StrCat("\"", kNorm, "\": {\"dtype\": \"F32\", \"shape\": [16]}")),
              "malformed header entry");
  ExpectError(Object(Entry(kNorm, "[16]", "[0, 32, 64]")), "malformed header entry");
  ExpectError(Object(Entry(kNorm, "16", "[0, 64]")), "malformed header entry");
  ExpectError(Object(Entry(kNorm, "[\"16\"]", "[0, 64]")), "dimension");
}

TEST(BadSafetensors, DuplicateTensors) {
  // The same name twice in the header: ambiguous, refused by the JSON reader.
  ExpectError(Object(Entry(kNorm, "[16]", "[0, 64]"), Entry(kNorm, "[8]", "[0, 32]")),
              "duplicate member name 'model.norm.weight'");
  // Two names for one tensor (layer "01" and "1").
  ExpectError(Object(Entry("model.layers.1.mlp.up_proj.weight", "[16]", "[0, 64]"),
                     Entry("model.layers.01.mlp.up_proj.weight", "[16]", "[0, 64]")),
              "duplicate tensor");
}

}  // namespace
}  // namespace favor::io
