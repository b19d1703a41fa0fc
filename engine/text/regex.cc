#include "engine/text/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"

namespace favor::text {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(std::unique_ptr<Code> code, std::string pattern)
    : code_(std::move(code)), pattern_(std::move(pattern)) {}
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

absl::StatusOr<Regex> Regex::Compile(absl::string_view pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // UTF: characters, not bytes; UCP: \s, \w, \d and POSIX classes by Unicode properties, as the
  // pre-tokenizers' own regex engines have them.
  auto code = std::make_unique<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat("regular expression '", pattern,
                                                   "': ", reinterpret_cast<char*>(message),
                                                   " at offset ", offset));
  }
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  return Regex(std::move(code), std::string(pattern));
}

Regex::MatchData::MatchData(const Regex& regex)
    : data_(pcre2_match_data_create_from_pattern(regex.code_->code, nullptr)) {}
Regex::MatchData::~MatchData() { pcre2_match_data_free(static_cast<pcre2_match_data*>(data_)); }

bool Regex::Find(absl::string_view text, size_t start, const MatchData& match_data,
                 std::pair<size_t, size_t>* match) const {
  auto* data = static_cast<pcre2_match_data*>(match_data.get());
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  // The caller validated the UTF-8 once for the whole text; PCRE2 would check it on every call.
  const int found = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), start,
                                                 PCRE2_NO_UTF_CHECK, data, nullptr)
                               : pcre2_match(code_->code, subject, text.size(), start,
                                             PCRE2_NO_UTF_CHECK, data, nullptr);
  if (found > 0) {
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    *match = {ovector[0], ovector[1]};
  }
  return found > 0;
}

size_t Regex::NextCharacter(absl::string_view text, size_t at) {
  ++at;
  while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
  return at;
}

}  // namespace favor::text
