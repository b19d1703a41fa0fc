#include "engine/text/text_stream.h"

#include "absl/strings/match.h"

namespace favor::text {

absl::StatusOr<std::string> TextStream::Push(int32_t id) {
  ids_.push_back(id);
  auto decoded = tokenizer_.Decode(ids_);
  if (!decoded.ok()) return decoded.status();
  constexpr absl::string_view kReplacement = "\xef\xbf\xbd";
  if (absl::EndsWith(*decoded, kReplacement)) return std::string();  // Wait.
  if (decoded->size() <= text_.size()) return std::string();
  std::string fresh = decoded->substr(text_.size());
  text_ = *std::move(decoded);
  return fresh;
}

}  // namespace favor::text
