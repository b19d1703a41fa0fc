#include "engine/core/memory_budget.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace favor {
namespace {

// A cgroup memory limit file's value; 0 when absent, "max" or unreadable.
int64_t CgroupLimit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return 0;
  int64_t limit = 0;
  if (!absl::SimpleAtoi(text, &limit) || limit <= 0) return 0;
  return limit;
}

}  // namespace

int64_t MachineMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  int64_t bytes = pages > 0 && page_size > 0 ? int64_t{pages} * page_size : 0;
  for (const char* path : {"/sys/fs/cgroup/memory.max",                       // cgroup v2
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {  // cgroup v1
    const int64_t limit = CgroupLimit(path);
    if (limit > 0 && (bytes == 0 || limit < bytes)) bytes = limit;
  }
  return bytes;
}

std::string FormatBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= double(int64_t{1} << 40))
    return absl::StrFormat("%.2f TiB", b / double(int64_t{1} << 40));
  if (b >= double(1 << 30)) return absl::StrFormat("%.2f GiB", b / double(1 << 30));
  if (b >= double(1 << 20)) return absl::StrFormat("%.1f MiB", b / double(1 << 20));
  if (b >= double(1 << 10)) return absl::StrFormat("%.1f KiB", b / double(1 << 10));
  return absl::StrFormat("%d bytes", bytes);
}

}  // namespace favor
