// Ctrl-C during generation: the first SIGINT asks the running loop to stop (it finishes the token
// in flight and prints its summary, as llama.cpp does); a second one ends the process as usual.
#pragma once

namespace favor::cli {

class InterruptScope {
 public:
  InterruptScope();   // Installs the handler.
  ~InterruptScope();  // Restores the previous one.
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  // Whether Ctrl-C was pressed since the scope began.
  bool interrupted() const;
};

}  // namespace favor::cli
