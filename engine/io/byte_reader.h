// A bounds-checked little-endian cursor over a byte range (a mapped model file). Every read
// checks the remaining size first and fails with the offset and what was being read, so a
// truncated or corrupt file is an error message, never a read past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace favor::io {

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> data, std::string source)
      : data_(data), source_(std::move(source)) {}

  size_t offset() const { return offset_; }
  size_t size() const { return data_.size(); }
  size_t remaining() const { return data_.size() - offset_; }
  const std::string& source() const { return source_; }

  template <typename T>
  absl::StatusOr<T> Read(absl::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return Truncated(what, sizeof(T));
    T value;
    std::memcpy(&value, data_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  absl::StatusOr<std::span<const std::byte>> ReadBytes(uint64_t count, absl::string_view what) {
    if (count > remaining()) return Truncated(what, count);
    auto bytes = data_.subspan(offset_, static_cast<size_t>(count));
    offset_ += static_cast<size_t>(count);
    return bytes;
  }

  absl::StatusOr<std::string> ReadString(uint64_t length, absl::string_view what) {
    auto bytes = ReadBytes(length, what);
    if (!bytes.ok()) return bytes.status();
    return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }

  absl::Status Seek(uint64_t offset, absl::string_view what) {
    if (offset > data_.size()) {
      return absl::OutOfRangeError(absl::StrCat(source_, ": ", what, " at offset ", offset,
                                                " is past the end of the file (", data_.size(),
                                                " bytes)"));
    }
    offset_ = static_cast<size_t>(offset);
    return absl::OkStatus();
  }

  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", message));
  }

 private:
  absl::Status Truncated(absl::string_view what, uint64_t wanted) const {
    return absl::OutOfRangeError(absl::StrCat(source_, ": truncated: ", what, " needs ", wanted,
                                              " bytes at offset ", offset_, " but only ",
                                              remaining(), " remain"));
  }

  std::span<const std::byte> data_;
  std::string source_;
  size_t offset_ = 0;
};

}  // namespace favor::io
