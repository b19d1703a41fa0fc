// Quoting for the machine-readable reports (bench, eval, variance): one place for the rules.
#pragma once

#include <string>

namespace favor::cli {

// A JSON string literal, quotes included.
std::string JsonString(const std::string& text);
// A CSV field: quoted when it holds a separator, quote or newline.
std::string CsvField(const std::string& text);

}  // namespace favor::cli
