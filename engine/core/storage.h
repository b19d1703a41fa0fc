// Memory that tensors view: an owned 64-byte aligned buffer, or a read-only memory-mapped file.
// Both are RAII; tensors share ownership through std::shared_ptr<const Storage>, so a view into a
// mapped model file keeps the mapping alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace favor {

inline constexpr size_t kTensorAlignment = 64;  // One cache line; the widest vector load.

class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::byte* data() const = 0;
  virtual size_t size() const = 0;
  virtual bool writable() const = 0;
  // A hint that [begin, begin + bytes) will not be read again soon: a mapped file drops those
  // pages from memory (they are read back from the file if they are); owned memory keeps them.
  virtual void ReleaseResidency(const std::byte* /*begin*/, size_t /*bytes*/) const {}
};

class AlignedBuffer final : public Storage {
 public:
  // Zero-initialised; fails (instead of throwing) when the allocation cannot be satisfied.
  static absl::StatusOr<std::shared_ptr<AlignedBuffer>> Create(size_t bytes);
  ~AlignedBuffer() override;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  std::byte* data() const override { return data_; }
  size_t size() const override { return size_; }
  bool writable() const override { return true; }

 private:
  AlignedBuffer(std::byte* data, size_t size) : data_(data), size_(size) {}
  std::byte* data_;
  size_t size_;
};

// Whether `path` names a regular file (not a directory, not missing).
bool IsRegularFile(const std::string& path);

// The whole content of a (small) file: texts, JSON, tokenizer models. Errors: NotFound "cannot
// open 'PATH': <reason>" (missing, a directory, unreadable), DataLoss when reading fails.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

class MappedFile final : public Storage {
 public:
  static absl::StatusOr<std::shared_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::byte* data() const override { return data_; }
  size_t size() const override { return size_; }
  bool writable() const override { return false; }
  void ReleaseResidency(const std::byte* begin, size_t bytes) const override;
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::byte* data, size_t size, std::string path)
      : data_(data), size_(size), path_(std::move(path)) {}
  std::byte* data_;
  size_t size_;
  std::string path_;
};

}  // namespace favor
