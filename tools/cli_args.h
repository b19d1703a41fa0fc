// A small command-line parser with llama.cpp-style flags: every option is declared with its
// names, a help line and where its value goes; unknown options and bad values are errors that
// name the flag.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace favor::cli {

class ArgParser {
 public:
  explicit ArgParser(std::string command) : command_(std::move(command)) {}

  void Flag(std::vector<std::string> names, std::string help, bool* target);
  void String(std::vector<std::string> names, std::string value_name, std::string help,
              std::string* target);
  void Int(std::vector<std::string> names, std::string value_name, std::string help,
           int64_t* target);
  void Float(std::vector<std::string> names, std::string value_name, std::string help,
             float* target);

  // Parses argv[first..argc). "-h"/"--help" sets help_requested().
  absl::Status Parse(int argc, char** argv, int first);
  // Parses the options of `favor <command>` (argv[2..]). Returns an exit code when the command
  // should stop here: 0 after printing --help, 2 after printing a usage error.
  std::optional<int> ParseCommand(int argc, char** argv);
  bool help_requested() const { return help_; }
  std::string Usage() const;

 private:
  struct Option {
    std::vector<std::string> names;
    std::string value_name;  // Empty for flags.
    std::string help;
    std::function<absl::Status(const std::string&)> set;
  };
  std::string command_;
  std::vector<Option> options_;
  bool help_ = false;
};

// One-line errors of `favor <command>`: "favor <command>: error: <message>" returning exit code
// 1 (a failure), and "favor <command>: <message>" returning 2 (bad usage).
int PrintFailure(const std::string& command, const absl::Status& status);
int PrintUsageError(const std::string& command, const std::string& message);

}  // namespace favor::cli
