#include "tools/interrupt.h"

#include <signal.h>

namespace favor::cli {
namespace {

// A signal handler can only reach process-wide state, and only a lock-free atomic flag is safe to
// write from it; this is the one such variable, and only InterruptScope touches it.
volatile sig_atomic_t interrupt_requested = 0;
struct sigaction previous_action {};

void OnInterrupt(int /*signal*/) { interrupt_requested = 1; }

}  // namespace

InterruptScope::InterruptScope() {
  interrupt_requested = 0;
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // The second Ctrl-C gets the default: the process ends.
  sigaction(SIGINT, &action, &previous_action);
}

InterruptScope::~InterruptScope() { sigaction(SIGINT, &previous_action, nullptr); }

bool InterruptScope::interrupted() const { return interrupt_requested != 0; }

}  // namespace favor::cli
