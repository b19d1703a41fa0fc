// A compiled regular expression over UTF-8 text with Unicode properties and look-around: the only
// door to PCRE2 (pre-tokenizer patterns are written for Oniguruma / Rust's fancy-regex, whose
// syntax PCRE2 shares: \p{L}, (?i:...), (?!...)). Compiled once, JIT-compiled where PCRE2 can;
// matching allocates nothing but a match-data block per call.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace favor::text {

class Regex {
 public:
  // `pattern` in PCRE2 syntax; an error names the pattern and the offending offset.
  static absl::StatusOr<Regex> Compile(absl::string_view pattern);
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  // Calls on_match(begin, end) for each non-overlapping match in `text` (valid UTF-8: the caller
  // checks), left to right; an empty match advances by one character. Offsets are bytes.
  template <typename OnMatch>
  void ForEachMatch(absl::string_view text, OnMatch on_match) const {
    const MatchData data(*this);
    size_t start = 0;
    std::pair<size_t, size_t> match;
    while (start <= text.size() && Find(text, start, data, &match)) {
      if (match.second > match.first) on_match(match.first, match.second);
      start = match.second > match.first ? match.second : NextCharacter(text, match.second);
    }
  }

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  // PCRE2's per-match workspace, reused across the matches of one text.
  class MatchData {
   public:
    explicit MatchData(const Regex& regex);
    ~MatchData();
    MatchData(const MatchData&) = delete;
    MatchData& operator=(const MatchData&) = delete;
    void* get() const { return data_; }

   private:
    void* data_;
  };
  Regex(std::unique_ptr<Code> code, std::string pattern);
  // The first match at or after byte `start`; false when there is none.
  bool Find(absl::string_view text, size_t start, const MatchData& data,
            std::pair<size_t, size_t>* match) const;
  static size_t NextCharacter(absl::string_view text, size_t at);

  std::unique_ptr<Code> code_;
  std::string pattern_;
};

}  // namespace favor::text
