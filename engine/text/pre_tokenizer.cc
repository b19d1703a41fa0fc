#include "engine/text/pre_tokenizer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

namespace favor::text {
namespace {

// A literal as a pattern that matches exactly it.
std::string EscapeLiteral(absl::string_view literal) {
  std::string out;
  for (const char c : literal) {
    if (absl::string_view("\\^$.|?*+()[]{}/-").find(c) != absl::string_view::npos) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

struct Segment {
  size_t begin, end;
  bool matched;
};

}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::Create(std::span<const io::PreTokenizerStep> steps) {
  std::vector<Step> compiled;
  for (const io::PreTokenizerStep& step : steps) {
    std::string pattern;
    io::SplitBehavior behavior = step.behavior;
    bool invert = step.invert;
    bool add_prefix_space = false;
    switch (step.kind) {
      case io::PreTokenizerStep::Kind::kSplit:
        pattern = step.pattern_is_regex ? step.pattern : EscapeLiteral(step.pattern);
        break;
      case io::PreTokenizerStep::Kind::kByteLevel:
        if (step.use_regex) pattern = std::string(kGpt2SplitPattern);
        behavior = io::SplitBehavior::kIsolated;
        invert = false;
        add_prefix_space = step.add_prefix_space;
        break;
      case io::PreTokenizerStep::Kind::kDigits:
        pattern = step.individual_digits ? R"(\p{N})" : R"(\p{N}+)";
        behavior = io::SplitBehavior::kIsolated;
        invert = false;
        break;
    }
    if (pattern.empty() && !add_prefix_space) continue;
    std::optional<Regex> regex;
    if (!pattern.empty()) {
      auto compiled_regex = Regex::Compile(pattern);
      if (!compiled_regex.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pre-tokenizer: ", compiled_regex.status().message()));
      }
      regex.emplace(*std::move(compiled_regex));
    }
    compiled.push_back(Step{std::move(regex), behavior, invert, add_prefix_space});
  }
  return PreTokenizer(std::move(compiled));
}

void PreTokenizer::Cut(const Step& step, absl::string_view text, const PreToken& piece,
                       std::vector<PreToken>& out) {
  // The piece as the step sees it: with its prefix space, if it has or gets one.
  const absl::string_view bytes = text.substr(piece.begin, piece.end - piece.begin);
  const bool prefixed =
      piece.prefix_space || (step.add_prefix_space && (bytes.empty() || bytes.front() != ' '));
  std::string buffer;
  absl::string_view view = bytes;
  if (prefixed) {
    buffer.reserve(bytes.size() + 1);
    buffer.push_back(' ');
    buffer.append(bytes.data(), bytes.size());
    view = buffer;
  }
  // Positions in `view` back to pieces of `text`: position 0 is the prefix space, if any.
  const size_t shift = prefixed ? 1 : 0;
  auto emit = [&](size_t begin, size_t end) {
    if (end <= begin) return;
    PreToken token;
    token.prefix_space = prefixed && begin == 0;
    token.begin = piece.begin + (begin == 0 ? 0 : begin - shift);
    token.end = piece.begin + end - shift;
    out.push_back(token);
  };
  if (!step.regex.has_value()) {
    emit(0, view.size());
    return;
  }

  std::vector<Segment> segments;
  size_t last = 0;
  step.regex->ForEachMatch(view, [&](size_t begin, size_t end) {
    if (begin > last) segments.push_back({last, begin, step.invert});
    segments.push_back({begin, end, !step.invert});
    last = end;
  });
  if (last < view.size()) segments.push_back({last, view.size(), step.invert});

  switch (step.behavior) {
    case io::SplitBehavior::kIsolated:
      for (const Segment& s : segments) emit(s.begin, s.end);
      break;
    case io::SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.matched) emit(s.begin, s.end);
      }
      break;
    case io::SplitBehavior::kMergedWithPrevious: {
      // A delimiter ends the piece before it.
      size_t start = 0;
      for (const Segment& s : segments) {
        if (s.matched) {
          emit(start, s.end);
          start = s.end;
        }
      }
      emit(start, view.size());
      break;
    }
    case io::SplitBehavior::kMergedWithNext: {
      // A delimiter starts the piece after it.
      size_t start = 0;
      for (const Segment& s : segments) {
        if (s.matched && s.begin > start) {
          emit(start, s.begin);
          start = s.begin;
        }
      }
      emit(start, view.size());
      break;
    }
    case io::SplitBehavior::kContiguous: {
      // Consecutive delimiters form one piece.
      for (size_t i = 0; i < segments.size();) {
        size_t j = i + 1;
        if (segments[i].matched) {
          while (j < segments.size() && segments[j].matched) ++j;
        }
        emit(segments[i].begin, segments[j - 1].end);
        i = j;
      }
      break;
    }
  }
}

std::vector<PreToken> PreTokenizer::Split(absl::string_view text) const {
  std::vector<PreToken> pieces;
  if (text.empty()) return pieces;
  pieces.push_back({0, text.size(), false});
  std::vector<PreToken> next;
  for (const Step& step : steps_) {
    next.clear();
    next.reserve(pieces.size() * 2);
    for (const PreToken& piece : pieces) Cut(step, text, piece, next);
    std::swap(pieces, next);
  }
  return pieces;
}

}  // namespace favor::text
