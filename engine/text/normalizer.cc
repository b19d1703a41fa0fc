#include "engine/text/normalizer.h"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "absl/strings/str_cat.h"

namespace favor::text {
namespace {

utf8proc_option_t Options(io::Normalization normalization) {
  constexpr auto kBase = static_cast<utf8proc_option_t>(UTF8PROC_STABLE);
  switch (normalization) {
    case io::Normalization::kNfc:
      return static_cast<utf8proc_option_t>(kBase | UTF8PROC_COMPOSE);
    case io::Normalization::kNfd:
      return static_cast<utf8proc_option_t>(kBase | UTF8PROC_DECOMPOSE);
    case io::Normalization::kNfkc:
      return static_cast<utf8proc_option_t>(kBase | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    case io::Normalization::kNfkd:
      return static_cast<utf8proc_option_t>(kBase | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
    case io::Normalization::kNone:
      break;
  }
  return kBase;
}

}  // namespace

absl::StatusOr<std::string> Normalize(absl::string_view text,
                                      std::span<const io::Normalization> normalizations) {
  std::string current(text);
  for (const io::Normalization normalization : normalizations) {
    if (normalization == io::Normalization::kNone) continue;
    utf8proc_uint8_t* result = nullptr;
    const utf8proc_ssize_t length = utf8proc_map(
        reinterpret_cast<const utf8proc_uint8_t*>(current.data()),
        static_cast<utf8proc_ssize_t>(current.size()), &result, Options(normalization));
    const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(result, &std::free);
    if (length < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Unicode normalisation: ", utf8proc_errmsg(length)));
    }
    current.assign(reinterpret_cast<const char*>(result), static_cast<size_t>(length));
  }
  return current;
}

}  // namespace favor::text
