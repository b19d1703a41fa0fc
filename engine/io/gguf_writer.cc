// GGUF version 3 writer: header, typed metadata, tensor infos (GGML's innermost-first dimensions),
// then the tensor data, each aligned to general.alignment. Little-endian, as the reader expects.
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/io/gguf_file.h"

namespace favor::io {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// A file, or memory (open_memstream: the bytes are in `memory` once closed).
class Output {
 public:
  explicit Output(std::string path) : path_(std::move(path)) {}
  ~Output() {
    file_.reset();
    std::free(memory_);
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  absl::Status Open() {
    file_.reset(std::fopen(path_.c_str(), "wb"));
    if (file_ == nullptr) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write '", path_, "': ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  absl::Status OpenMemory() {
    file_.reset(open_memstream(&memory_, &memory_size_));
    if (file_ == nullptr) return absl::ResourceExhaustedError("cannot open a memory stream");
    return absl::OkStatus();
  }
  // After Close: what a memory stream holds.
  std::string memory() const { return std::string(memory_, memory_size_); }

  void Bytes(const void* data, size_t size) {
    if (ok_ && size > 0 && std::fwrite(data, 1, size, file_.get()) != size) ok_ = false;
    offset_ += size;
  }
  template <typename T>
  void Scalar(T value) {
    Bytes(&value, sizeof(value));
  }
  void String(const std::string& text) {
    Scalar<uint64_t>(text.size());
    Bytes(text.data(), text.size());
  }
  void PadTo(uint64_t alignment) {
    static constexpr char kZeros[64] = {};
    while (offset_ % alignment != 0) {
      Bytes(kZeros, std::min<uint64_t>(sizeof(kZeros), alignment - offset_ % alignment));
    }
  }

  absl::Status Close() {
    if (ok_ && std::fflush(file_.get()) != 0) ok_ = false;
    std::FILE* f = file_.release();
    if (f != nullptr && std::fclose(f) != 0) ok_ = false;
    if (!ok_) {
      return absl::DataLossError(
          absl::StrCat("writing '", path_, "' failed: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

  uint64_t offset() const { return offset_; }

 private:
  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  uint64_t offset_ = 0;
  bool ok_ = true;
  char* memory_ = nullptr;
  size_t memory_size_ = 0;
};

// One number of an array or a scalar, in the file's type.
absl::Status WriteNumber(Output& out, uint32_t type, double number, int64_t integer,
                         const std::string& key) {
  switch (type) {
    case kUint8:
      out.Scalar(static_cast<uint8_t>(integer));
      break;
    case kInt8:
      out.Scalar(static_cast<int8_t>(integer));
      break;
    case kUint16:
      out.Scalar(static_cast<uint16_t>(integer));
      break;
    case kInt16:
      out.Scalar(static_cast<int16_t>(integer));
      break;
    case kUint32:
      out.Scalar(static_cast<uint32_t>(integer));
      break;
    case kInt32:
      out.Scalar(static_cast<int32_t>(integer));
      break;
    case kUint64:
      out.Scalar(static_cast<uint64_t>(integer));
      break;
    case kInt64:
      out.Scalar(static_cast<int64_t>(integer));
      break;
    case kBool:
      out.Scalar(static_cast<uint8_t>(integer != 0));
      break;
    case kFloat32:
      out.Scalar(static_cast<float>(number));
      break;
    case kFloat64:
      out.Scalar(number);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("metadata '", key, "': cannot write value type ", type));
  }
  return absl::OkStatus();
}

absl::Status WriteValue(Output& out, const std::string& key, const GgufValue& value) {
  out.Scalar<uint32_t>(value.type);
  if (value.type == kString) {
    out.String(value.text);
    return absl::OkStatus();
  }
  if (value.type != kArray) {
    return WriteNumber(out, value.type, value.number, value.integer, key);
  }
  out.Scalar<uint32_t>(value.element_type);
  if (value.element_type == kString) {
    out.Scalar<uint64_t>(value.strings.size());
    for (const std::string& s : value.strings) out.String(s);
    return absl::OkStatus();
  }
  out.Scalar<uint64_t>(value.numbers.size());
  for (const double number : value.numbers) {
    // Integers of arrays were read into doubles: exact up to 2^53, which token types and ids are.
    FAVOR_RETURN_IF_ERROR(
        WriteNumber(out, value.element_type, number, static_cast<int64_t>(number), key));
  }
  return absl::OkStatus();
}

absl::Status Write(Output& out, const GgufContents& contents,
                   const std::function<void(size_t written)>& progress) {
  uint64_t alignment = 32;
  for (const auto& [key, value] : contents.metadata) {
    if (key == "general.alignment" && value.is_integer && value.integer > 0) {
      alignment = static_cast<uint64_t>(value.integer);
    }
  }
  out.Scalar<uint32_t>(0x46554747u);  // "GGUF"
  out.Scalar<uint32_t>(3);
  out.Scalar<uint64_t>(contents.tensors.size());
  out.Scalar<uint64_t>(contents.metadata.size());
  for (const auto& [key, value] : contents.metadata) {
    out.String(key);
    FAVOR_RETURN_IF_ERROR(WriteValue(out, key, value));
  }
  uint64_t data_offset = 0;
  for (const auto& [name, tensor] : contents.tensors) {
    const DTypeInfo& info = GetDTypeInfo(tensor.dtype());
    if (info.ggml_type < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "': ", info.name, " has no GGUF type"));
    }
    out.String(name);
    out.Scalar<uint32_t>(static_cast<uint32_t>(tensor.rank()));
    for (int d = tensor.rank() - 1; d >= 0; --d) out.Scalar<uint64_t>(tensor.dim(d));
    out.Scalar<uint32_t>(static_cast<uint32_t>(info.ggml_type));
    out.Scalar<uint64_t>(data_offset);
    data_offset +=
        (static_cast<uint64_t>(tensor.NumBytes()) + alignment - 1) / alignment * alignment;
  }
  out.PadTo(alignment);
  for (size_t i = 0; i < contents.tensors.size(); ++i) {
    const Tensor& tensor = contents.tensors[i].second;
    out.Bytes(tensor.raw_data(), static_cast<size_t>(tensor.NumBytes()));
    out.PadTo(alignment);
    if (progress) progress(i + 1);
  }
  return out.Close();
}

}  // namespace

absl::Status WriteGguf(const std::string& path, const GgufContents& contents,
                       const std::function<void(size_t written)>& progress) {
  Output out(path);
  FAVOR_RETURN_IF_ERROR(out.Open());
  return Write(out, contents, progress);
}

absl::StatusOr<std::string> SerializeGguf(const GgufContents& contents) {
  Output out("memory");
  FAVOR_RETURN_IF_ERROR(out.OpenMemory());
  FAVOR_RETURN_IF_ERROR(Write(out, contents, nullptr));
  return out.memory();
}

}  // namespace favor::io
