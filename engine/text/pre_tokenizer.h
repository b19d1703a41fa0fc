// Pre-tokenization: cutting text into the pieces BPE runs on, by the steps a vocabulary declares
// (regex splits with Hugging Face's five delimiter behaviours, digit splits, GPT-2's byte-level
// split and prefix space). A step cuts every piece the previous steps made.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/io/vocabulary.h"
#include "engine/text/regex.h"

namespace favor::text {

// A piece of the text: bytes [begin, end), with a space before it when a byte-level step added a
// prefix space.
struct PreToken {
  size_t begin = 0;
  size_t end = 0;
  bool prefix_space = false;
};

class PreTokenizer {
 public:
  static absl::StatusOr<PreTokenizer> Create(std::span<const io::PreTokenizerStep> steps);

  // The pieces of `text` (valid UTF-8), in order.
  std::vector<PreToken> Split(absl::string_view text) const;

 private:
  struct Step {
    std::optional<Regex> regex;  // None: the step only adds a prefix space.
    io::SplitBehavior behavior;
    bool invert;
    bool add_prefix_space;  // Applied before the split (a byte-level step's prefix space).
  };
  explicit PreTokenizer(std::vector<Step> steps) : steps_(std::move(steps)) {}
  static void Cut(const Step& step, absl::string_view text, const PreToken& piece,
                  std::vector<PreToken>& out);

  std::vector<Step> steps_;
};

// GPT-2's split, which the ByteLevel pre-tokenizer applies when use_regex is set.
inline constexpr absl::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace favor::text
