#include "engine/core/threading.h"

#include <omp.h>

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace favor {
namespace {

// Reads one integer from a sysfs file; -1 if absent.
int ReadInt(const std::string& path) {
  std::ifstream in(path);
  int value = -1;
  if (!(in >> value)) return -1;
  return value;
}

}  // namespace

int PhysicalCoreCount() {
  const int logical = static_cast<int>(std::thread::hardware_concurrency());
  std::set<std::pair<int, int>> cores;  // (package, core id)
  for (int cpu = 0; cpu < logical; ++cpu) {
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    const int package = ReadInt(base + "physical_package_id");
    const int core = ReadInt(base + "core_id");
    if (package < 0 || core < 0) return logical > 0 ? logical : 1;
    cores.emplace(package, core);
  }
  if (cores.empty()) return logical > 0 ? logical : 1;
  return static_cast<int>(cores.size());
}

ScopedThreadCount::ScopedThreadCount(int threads) : previous_(omp_get_max_threads()) {
  omp_set_num_threads(threads > 0 ? threads : 1);
}

ScopedThreadCount::~ScopedThreadCount() { omp_set_num_threads(previous_); }

}  // namespace favor
