// Text the CLI reads from the user: prompt and text files, escape sequences in -p (-e), and the
// warnings about text the model cannot see as given (characters outside the vocabulary, a
// context beyond the trained one).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/text/tokenizer.h"

namespace favor::cli {

// -f: the file's text as the prompt, without the one newline an editor puts at its end (as
// llama.cpp's -f).
absl::StatusOr<std::string> ReadPromptFile(const std::string& path);

// -e: \n, \r, \t, \", \', \\ and \xHH in the prompt become the characters they name (llama.cpp's
// set); any other backslash stays as typed.
std::string ProcessEscapes(absl::string_view text);

// One warning line on stderr naming the characters of `text` the vocabulary cannot represent
// (they become the unknown token); nothing when there are none.
void WarnUnrepresentable(const std::string& command, const text::Tokenizer& tokenizer,
                         std::span<const int32_t> ids, absl::string_view text);

// One warning line on stderr when the context goes past what the model was trained on.
void WarnBeyondTrainedContext(const std::string& command, int64_t context, int64_t trained);

}  // namespace favor::cli
