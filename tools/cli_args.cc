#include "tools/cli_args.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/kernels/kernels.h"

namespace favor::cli {

void ArgParser::Flag(std::vector<std::string> names, std::string help, bool* target) {
  options_.push_back({std::move(names), "", std::move(help), [target](const std::string&) {
                        *target = true;
                        return absl::OkStatus();
                      }});
}

void ArgParser::String(std::vector<std::string> names, std::string value_name, std::string help,
                       std::string* target) {
  options_.push_back({std::move(names), std::move(value_name), std::move(help),
                      [target](const std::string& value) {
                        *target = value;
                        return absl::OkStatus();
                      }});
}

void ArgParser::StringList(std::vector<std::string> names, std::string value_name, std::string help,
                           std::vector<std::string>* target) {
  options_.push_back({std::move(names), std::move(value_name), std::move(help),
                      [target](const std::string& value) {
                        target->push_back(value);
                        return absl::OkStatus();
                      },
                      /*repeatable=*/true});
}

void ArgParser::Int(std::vector<std::string> names, std::string value_name, std::string help,
                    int64_t* target, IntRange range) {
  const std::string flag = names.front();
  options_.push_back({std::move(names), std::move(value_name), std::move(help),
                      [target, flag, range](const std::string& value) {
                        int64_t parsed = 0;
                        if (!absl::SimpleAtoi(value, &parsed)) {
                          return absl::InvalidArgumentError(
                              absl::StrCat(flag, ": '", value, "' is not an integer"));
                        }
                        if (parsed < range.min || parsed > range.max) {
                          std::string bounds =
                              range.max == INT64_MAX
                                  ? absl::StrCat("at least ", range.min)
                                  : absl::StrCat("in [", range.min, ", ", range.max, "]");
                          return absl::InvalidArgumentError(
                              absl::StrCat(flag, " must be ", bounds, ", got ", value));
                        }
                        *target = parsed;
                        return absl::OkStatus();
                      }});
}

void ArgParser::Float(std::vector<std::string> names, std::string value_name, std::string help,
                      float* target, FloatRange range) {
  const std::string flag = names.front();
  options_.push_back(
      {std::move(names), std::move(value_name), std::move(help),
       [target, flag, range](const std::string& value) {
         float parsed = 0;
         if (!absl::SimpleAtof(value, &parsed) || !std::isfinite(parsed)) {
           return absl::InvalidArgumentError(absl::StrCat(flag, ": '", value, "' is not a number"));
         }
         const bool below = range.min_exclusive ? !(parsed > range.min) : parsed < range.min;
         if (below || parsed > range.max) {
           std::string bounds;
           if (std::isinf(range.max)) {
             bounds = absl::StrCat(range.min_exclusive ? "greater than " : "at least ", range.min);
           } else {
             bounds = absl::StrCat("in ", range.min_exclusive ? "(" : "[", range.min, ", ",
                                   range.max, "]");
           }
           return absl::InvalidArgumentError(
               absl::StrCat(flag, " must be ", bounds, ", got ", value));
         }
         *target = parsed;
         return absl::OkStatus();
       }});
}

bool ArgParser::Given(const std::string& name) const {
  for (const Option& option : options_) {
    for (const std::string& candidate : option.names) {
      if (candidate == name) return option.given > 0;
    }
  }
  return false;
}

absl::Status ArgParser::Parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help_ = true;
      continue;
    }
    if (arg == "--version") {
      version_ = true;
      continue;
    }
    std::string inline_value;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0) {
      if (const size_t eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
    }
    Option* option = nullptr;
    for (Option& candidate : options_) {
      for (const std::string& name : candidate.names) {
        if (name == arg) option = &candidate;
      }
    }
    if (option == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", arg, "' for '", command_,
                                                     "' (see favor ", command_, " --help)"));
    }
    if (++option->given > 1 && !option->repeatable) {
      return absl::InvalidArgumentError(absl::StrCat(arg, " is given more than once (",
                                                     option->names.front(), " takes one value)"));
    }
    if (option->value_name.empty()) {
      if (has_inline) return absl::InvalidArgumentError(absl::StrCat(arg, " takes no value"));
      auto status = option->set("");
      if (!status.ok()) return status;
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
      inline_value = argv[++i];
    }
    auto status = option->set(inline_value);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

std::optional<int> ArgParser::ParseCommand(int argc, char** argv) {
  if (auto status = Parse(argc, argv, 2); !status.ok()) {
    std::fprintf(stderr, "favor %s: %s\n", command_.c_str(), std::string(status.message()).c_str());
    return 2;
  }
  if (help_) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (version_) {
    std::printf("%s\n", VersionLine().c_str());
    return 0;
  }
  return std::nullopt;
}

std::string ArgParser::Usage() const {
  std::string out = absl::StrCat("usage: favor ", command_, " [options]\n\noptions:\n");
  for (const Option& option : options_) {
    std::string names = absl::StrJoin(option.names, ", ");
    if (!option.value_name.empty()) absl::StrAppend(&names, " ", option.value_name);
    absl::StrAppend(&out, "  ", names, std::string(names.size() < 28 ? 28 - names.size() : 1, ' '),
                    option.help, "\n");
  }
  absl::StrAppend(&out, "  -h, --help", std::string(18, ' '), "this help\n", "  --version",
                  std::string(19, ' '), "favor's version and the kernels this CPU runs\n");
  return out;
}

std::string VersionLine() {
  return absl::StrCat("favor ", FAVOR_VERSION,
                      " (best kernels on this CPU: ", kernels::IsaName(kernels::BestIsa()), ")");
}

int PrintFailure(const std::string& command, const absl::Status& status) {
  std::fprintf(stderr, "favor %s: error: %s\n", command.c_str(),
               std::string(status.message()).c_str());
  return 1;
}

int PrintUsageError(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "favor %s: %s\n", command.c_str(), message.c_str());
  return 2;
}

}  // namespace favor::cli
