// Stop strings over streamed text: text is released as soon as it can no longer be the start of a
// stop string, held back while it might be, and cut before the first stop string that appears
// (the earliest in the text; the first listed when two start at the same place).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace favor::text {

class StopStrings {
 public:
  // Empty strings are the caller's to refuse; here they never match.
  explicit StopStrings(std::vector<std::string> stops);

  // Adds final text; returns the text released by it (possibly empty). Once a stop string has
  // appeared, matched() says which, the release ends just before it, and later text is ignored.
  std::string Add(absl::string_view text);
  // The end of the text: everything still held back (it never became a stop string).
  std::string Finish();

  std::optional<size_t> matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  std::optional<size_t> matched_;
};

}  // namespace favor::text
