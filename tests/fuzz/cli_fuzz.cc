// The command line: the first byte picks a command, the rest is its arguments separated by NUL
// bytes. The real command functions run, so this covers the option parser and every check the
// commands make of their options. The model path is forced to one that does not exist (inputs
// that give -m themselves are refused as a repeated option), so a command that gets past its
// checks stops at loading, in microseconds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/commands.h"

namespace {

using Command = int (*)(int, char**);

struct Entry {
  const char* name;
  Command run;
};

// bench, variance and info do work without a model (synthetic shapes, Monte Carlo), so they are
// not driven here; their options go through the same ArgParser.
constexpr Entry kCommands[] = {{"generate", favor::cli::Generate},
                               {"calibrate", favor::cli::Calibrate},
                               {"eval", favor::cli::Eval},
                               {"inspect", favor::cli::Inspect},
                               {"tokenize", favor::cli::Tokenize}};

// Arguments that would make a command read from a device or a system file.
bool Unsafe(std::string_view arg) {
  return arg.find("/dev") != std::string_view::npos ||
         arg.find("/proc") != std::string_view::npos || arg.find("/sys") != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Entry& command = kCommands[data[0] % std::size(kCommands)];
  std::vector<std::string> args = {"favor", command.name};
  std::string current;
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  if (!current.empty()) args.push_back(current);
  if (args.size() > 66) return 0;
  for (const std::string& arg : args) {
    if (Unsafe(arg)) return 0;
  }
  args.push_back("-m");
  args.push_back("/nonexistent/favor-fuzz-model.gguf");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  (void)command.run(static_cast<int>(args.size()), argv.data());
  return 0;
}
