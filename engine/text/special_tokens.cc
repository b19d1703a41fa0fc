#include "engine/text/special_tokens.h"

#include <algorithm>

namespace favor::text {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

SpecialTokens::SpecialTokens(const io::Vocabulary& vocabulary) {
  for (size_t id = 0; id < vocabulary.pieces.size(); ++id) {
    const io::PieceType type = vocabulary.types[id];
    const std::string& text = vocabulary.pieces[id];
    if (text.empty()) continue;
    if (type != io::PieceType::kControl && type != io::PieceType::kUserDefined) continue;
    const auto id32 = static_cast<int32_t>(id);
    auto listed = [&](const std::vector<int32_t>& ids) {
      return std::find(ids.begin(), ids.end(), id32) != ids.end();
    };
    tokens_.push_back({text, id32, type == io::PieceType::kControl, listed(vocabulary.strip_left),
                       listed(vocabulary.strip_right)});
    starts_[static_cast<unsigned char>(text.front())] = true;
  }
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [](const Token& a, const Token& b) { return a.text.size() > b.text.size(); });
}

std::vector<TextFragment> SpecialTokens::Partition(absl::string_view text,
                                                   bool parse_special) const {
  std::vector<TextFragment> fragments;
  size_t text_start = 0;  // Where the current text fragment begins.
  size_t at = 0;
  while (at < text.size()) {
    const Token* found = nullptr;
    if (starts_[static_cast<unsigned char>(text[at])]) {
      for (const Token& token : tokens_) {
        if (token.control && !parse_special) continue;
        if (text.substr(at, token.text.size()) == token.text) {
          found = &token;
          break;
        }
      }
    }
    if (found == nullptr) {
      ++at;
      continue;
    }
    size_t text_end = at;
    if (found->strip_left) {
      while (text_end > text_start && IsSpace(text[text_end - 1])) --text_end;
    }
    if (text_end > text_start) {
      fragments.push_back({text.substr(text_start, text_end - text_start), -1});
    }
    fragments.push_back({absl::string_view(), found->id});
    at += found->text.size();
    if (found->strip_right) {
      while (at < text.size() && IsSpace(text[at])) ++at;
    }
    text_start = at;
  }
  if (text_start < text.size()) fragments.push_back({text.substr(text_start), -1});
  return fragments;
}

}  // namespace favor::text
