#include "tests/tools/cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace favor::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

CliResult RunFavor(const std::string& arguments) {
  return RunFavorWithInput(arguments, "/dev/null");
}

CliResult RunFavorWithInput(const std::string& arguments, const std::string& input_path) {
  // Tests run in parallel processes: output files carry the process id.
  const std::string prefix = ::testing::TempDir() + "/favor_cli_" + std::to_string(::getpid());
  const std::string out_path = prefix + "_out.txt";
  const std::string err_path = prefix + "_err.txt";
  const std::string command = std::string(FAVOR_BINARY) + " " + arguments + " >" + out_path +
                              " 2>" + err_path + " <" + input_path;
  const int status = std::system(command.c_str());
  CliResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = Slurp(out_path);
  result.err = Slurp(err_path);
  return result;
}

void ExpectOneLineErrorFn(const CliResult& r, int code, const std::string& needle) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

void ExpectOneLineError(const CliResult& r, int code, const std::string& needle) {
  ExpectOneLineErrorFn(r, code, needle);
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace favor::testing
