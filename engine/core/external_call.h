// Marks calls into third-party libraries (oneDNN) on the calling thread.
//
// The executor promises that a warmed-up run performs no heap allocation of its own. oneDNN 2.x
// allocates a few bytes of bookkeeping inside every primitive execute (its argument map), which
// the engine cannot avoid; the allocation-counting test skips allocations made while this scope
// is open, so that it checks exactly what the engine controls. The depth is per thread and only
// observed by instrumentation; it changes nothing the engine computes.
#pragma once

namespace favor {

inline thread_local int external_call_depth = 0;

class ExternalCallScope {
 public:
  ExternalCallScope() { ++external_call_depth; }
  ~ExternalCallScope() { --external_call_depth; }
  ExternalCallScope(const ExternalCallScope&) = delete;
  ExternalCallScope& operator=(const ExternalCallScope&) = delete;
};

inline bool InExternalCall() { return external_call_depth > 0; }

}  // namespace favor
