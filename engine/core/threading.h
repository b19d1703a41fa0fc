// Thread control. The engine uses OpenMP for its own kernels, and oneDNN (built with the OpenMP
// runtime on Debian) follows the same setting. A thread count is a value the user passes down
// (ExecutorOptions, CLI -t), never a process-wide setting that the engine changes behind their
// back.
#pragma once

namespace favor {

// Physical cores of this machine (hyper-threads of one core count once); at least 1.
int PhysicalCoreCount();

// Sets OpenMP's thread count for parallel regions started by the calling thread, and restores the
// previous value on destruction. OpenMP keeps this setting per thread, so concurrent sessions on
// other threads are unaffected.
class ScopedThreadCount {
 public:
  explicit ScopedThreadCount(int threads);
  ~ScopedThreadCount();
  ScopedThreadCount(const ScopedThreadCount&) = delete;
  ScopedThreadCount& operator=(const ScopedThreadCount&) = delete;

 private:
  int previous_;
};

}  // namespace favor
