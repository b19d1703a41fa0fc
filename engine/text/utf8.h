// UTF-8 at the byte level: where characters end, what is valid, and making text valid for display.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace favor::text {

inline constexpr absl::string_view kReplacementCharacter = "\xef\xbf\xbd";  // U+FFFD

// The length of the valid UTF-8 sequence at `text[at]` (1 to 4), or 0 if the bytes there are not
// one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut short).
size_t ValidSequenceLength(absl::string_view text, size_t at);

// The length of the longest prefix of `text` that is valid UTF-8.
size_t ValidPrefixLength(absl::string_view text);

// `text` with every invalid or incomplete sequence replaced by U+FFFD (one per maximal invalid
// run of bytes that could not start a character), as decoders with errors="replace" do.
std::string ReplaceInvalidUtf8(absl::string_view text);

void AppendCodepoint(uint32_t codepoint, std::string& out);

}  // namespace favor::text
