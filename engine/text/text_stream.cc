#include "engine/text/text_stream.h"

#include <algorithm>

#include "absl/strings/match.h"

namespace favor::text {
namespace {

constexpr absl::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD: an incomplete character.

}  // namespace

TextStream::TextStream(const Tokenizer& tokenizer, std::span<const int32_t> context)
    : tokenizer_(tokenizer) {
  const size_t keep = std::min(context.size(), kContextTokens);
  window_.assign(context.end() - static_cast<std::ptrdiff_t>(keep), context.end());
  read_ = window_.size();
}

absl::StatusOr<std::string> TextStream::PendingText() const {
  auto before = tokenizer_.Decode(std::span(window_).subspan(prefix_, read_ - prefix_));
  if (!before.ok()) return before.status();
  auto after = tokenizer_.Decode(std::span(window_).subspan(prefix_));
  if (!after.ok()) return after.status();
  return after->size() > before->size() ? after->substr(before->size()) : std::string();
}

absl::StatusOr<std::string> TextStream::Push(int32_t id) {
  window_.push_back(id);
  auto fresh = PendingText();
  if (!fresh.ok()) return fresh.status();
  if (fresh->empty() || absl::EndsWith(*fresh, kReplacement)) {
    return std::string();  // Nothing new yet, or a character still incomplete.
  }
  text_ += *fresh;
  // The tokens just handed out become the next step's left context.
  window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(prefix_));
  prefix_ = read_ - prefix_;
  read_ = window_.size();
  if (prefix_ > kContextTokens) {
    window_.erase(window_.begin(),
                  window_.begin() + static_cast<std::ptrdiff_t>(prefix_ - kContextTokens));
    read_ -= prefix_ - kContextTokens;
    prefix_ = kContextTokens;
  }
  return fresh;
}

absl::StatusOr<std::string> TextStream::Flush() {
  if (read_ == window_.size()) return std::string();
  auto rest = PendingText();
  if (!rest.ok()) return rest.status();
  read_ = window_.size();
  text_ += *rest;
  return rest;
}

}  // namespace favor::text
