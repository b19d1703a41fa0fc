// A small command-line parser with llama.cpp-style flags: every option is declared with its
// names, a help line, where its value goes and the range it must lie in; unknown options, bad or
// out-of-range values and an option given twice (unless it is a list) are errors that name the
// flag. "-h"/"--help" and "--version" are understood by every command.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace favor::cli {

struct IntRange {
  int64_t min = INT64_MIN, max = INT64_MAX;
};
struct FloatRange {
  double min = -HUGE_VAL, max = HUGE_VAL;
  bool min_exclusive = false;
};

class ArgParser {
 public:
  explicit ArgParser(std::string command) : command_(std::move(command)) {}

  void Flag(std::vector<std::string> names, std::string help, bool* target);
  void String(std::vector<std::string> names, std::string value_name, std::string help,
              std::string* target);
  // Every occurrence appends (--stop A --stop B).
  void StringList(std::vector<std::string> names, std::string value_name, std::string help,
                  std::vector<std::string>* target);
  // An integer in [min, max]; the error names the flag and the bounds.
  void Int(std::vector<std::string> names, std::string value_name, std::string help,
           int64_t* target, IntRange range = {});
  // A finite number in [min, max], or (min, max] when min_exclusive.
  void Float(std::vector<std::string> names, std::string value_name, std::string help,
             float* target, FloatRange range = {});

  // Parses argv[first..argc). "-h"/"--help" sets help_requested(), "--version"
  // version_requested().
  absl::Status Parse(int argc, char** argv, int first);
  // Parses the options of `favor <command>` (argv[2..]). Returns an exit code when the command
  // should stop here: 0 after printing --help or --version, 2 after printing a usage error.
  std::optional<int> ParseCommand(int argc, char** argv);
  bool help_requested() const { return help_; }
  bool version_requested() const { return version_; }
  // Whether the option named `name` (any of its names) was given.
  bool Given(const std::string& name) const;
  std::string Usage() const;

 private:
  struct Option {
    std::vector<std::string> names;
    std::string value_name;  // Empty for flags.
    std::string help;
    std::function<absl::Status(const std::string&)> set;
    bool repeatable = false;
    int given = 0;
  };
  std::string command_;
  std::vector<Option> options_;
  bool help_ = false;
  bool version_ = false;
};

// "favor 0.2.0 (avx512 kernels available: ...)": the line --version prints.
std::string VersionLine();

// One-line errors of `favor <command>`: "favor <command>: error: <message>" returning exit code
// 1 (a failure), and "favor <command>: <message>" returning 2 (bad usage).
int PrintFailure(const std::string& command, const absl::Status& status);
int PrintUsageError(const std::string& command, const std::string& message);

}  // namespace favor::cli
