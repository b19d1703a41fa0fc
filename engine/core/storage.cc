#include "engine/core/storage.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace favor {

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "': it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read '", path, "'"));
  return bytes.str();
}

absl::StatusOr<std::shared_ptr<AlignedBuffer>> AlignedBuffer::Create(size_t bytes) {
  // Large buffers (weights streamed at decode, KV caches, arenas) go on transparent huge pages
  // where the kernel allows it: hardware prefetchers stop at 4 KiB page boundaries, and a
  // matrix-vector product streaming a few MiB then runs measurably below memory bandwidth.
  // Not where rounding up to whole huge pages would waste more than an eighth of the buffer
  // (a 2.4 MiB matrix would take 4 MiB): the padding is touched, so it is resident.
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t huge_rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  const bool huge = bytes >= kHugePage && huge_rounded - bytes <= bytes / 8;
  const size_t alignment = huge ? kHugePage : kTensorAlignment;
  // aligned_alloc needs a size that is a multiple of the alignment; round up (and never 0).
  const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* data = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes, " bytes"));
  }
  if (alignment == kHugePage) ::madvise(data, rounded, MADV_HUGEPAGE);  // A hint: may fail.
  std::memset(data, 0, rounded);
  return std::shared_ptr<AlignedBuffer>(new AlignedBuffer(static_cast<std::byte*>(data), bytes));
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

absl::StatusOr<std::shared_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot stat '", path, "': ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* data = nullptr;
  if (size > 0) {
    data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot map '", path, "': ", std::strerror(err)));
    }
  }
  ::close(fd);  // The mapping stays valid after the descriptor is closed.
  return std::shared_ptr<MappedFile>(new MappedFile(static_cast<std::byte*>(data), size, path));
}

void MappedFile::ReleaseResidency(const std::byte* begin, size_t bytes) const {
  // Whole pages inside the range only: its first and last pages may hold other tensors.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto start = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(begin) + bytes) / page * page;
  // A private read-only mapping: the pages are clean copies of the file, dropped and read back
  // on demand. A failure leaves them resident, which is harmless.
  if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

}  // namespace favor
