// How much memory the machine has for this process, so that a session whose state could never fit
// (a context or a feature count far beyond it) is refused up front with the figure it would need,
// instead of being killed by the OOM killer half-way through zeroing its buffers.
#pragma once

#include <cstdint>
#include <string>

namespace favor {

// Physical memory, or the cgroup's limit when the process runs under a smaller one (containers).
int64_t MachineMemoryBytes();

// Peak resident memory of this process (VmHWM), and its reset (Linux >= 4.0): what benchmarks
// report as memory use.
int64_t PeakResidentBytes();
void ResetPeakResident();

// "1.50 GiB", "12.0 MiB", "512 bytes": sizes in messages.
std::string FormatBytes(int64_t bytes);

}  // namespace favor
