// Runs the favor binary as a user would (a shell command line), capturing its exit code, stdout
// and stderr; shared by the CLI test files.
#pragma once

#include <string>

namespace favor::testing {

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// `arguments` after the binary, as a shell reads them (quote with '...').
CliResult RunFavor(const std::string& arguments);
// The same with stdin read from `input_path` (otherwise /dev/null).
CliResult RunFavorWithInput(const std::string& arguments, const std::string& input_path);

// A one-line message on stderr that contains `needle`, and exit code `code`.
void ExpectOneLineErrorFn(const CliResult& r, int code, const std::string& needle);
// The same, and nothing on stdout.
void ExpectOneLineError(const CliResult& r, int code, const std::string& needle);

}  // namespace favor::testing
