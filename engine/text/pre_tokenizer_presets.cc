#include "engine/text/pre_tokenizer_presets.h"

#include <algorithm>

#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/text/pre_tokenizer.h"

namespace favor::text {
namespace {

// GPT-2's split without its last alternative: whitespace it leaves unmatched stays a piece of its
// own, which is what the last alternative (\s+) would make of it.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3's split; the contractions are spelled in both cases rather than under (?i:...), which
// would also fold non-ASCII letters (U+017F, long s) into them.
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2's: Llama 3's with single digits.
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Mistral's tekken: words split before capitals, single digits.
constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek's CJK run: CJK unified ideographs, the range below them and Hangul.
constexpr const char* kDeepSeekCjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
// DeepSeek LLM's Latin, Greek, Cyrillic... letters (the ranges of its tokenizer.json).
constexpr const char* kDeepSeekLetters =
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-"
    "\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1"
    "\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-"
    "\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15"
    "\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-"
    "\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec"
    "\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128"
    "\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b"
    "\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787"
    "\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-"
    "\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-"
    "\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+";

struct PresetRow {
  std::initializer_list<absl::string_view> names;
  std::initializer_list<const char*> patterns;
  bool ignore_merges;
  bool add_bos;
};

// One row per split; the names are those llama.cpp's converter writes for the families that
// share it.
const PresetRow kPresets[] = {
    {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, false},
    {{"gpt-2", "phi-2", "roberta-bpe", "mpt", "olmo", "jais", "gpt-neox", "jina-es", "jina-de",
      "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code", "gigachat"},
     {kGpt2},
     false,
     false},
    {{"llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe"}, {kLlama3}, true, true},
    {{"chatglm-bpe"}, {kLlama3}, false, false},
    {{"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez"}, {kQwen2}, false, false},
    {{"tekken"}, {kTekken}, true, true},
    {{"deepseek-llm"},
     {"[\r\n]", kDeepSeekLetters,
      "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", "\\s+$", kDeepSeekCjk,
      R"(\p{N}+)"},
     false,
     false},
    {{"deepseek-coder"},
     {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepSeekCjk, R"(\p{N})"},
     false,
     false},
    {{"deepseek-v3"},
     {R"(\p{N}{1,3})", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
      R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
     false,
     false},
    {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, false, false},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {R"(\p{N})", kGpt2},
     false,
     false},
    {{"poro-chat", "bloom", "gpt3-finnish"}, {R"( ?[^(\s|.,!?…。，、।۔،)]+)"}, false, false},
    {{"viking"}, {R"( ?[^(\s|.,!?…。，、।۔،)]+)", R"(\p{N})"}, false, false},
};

}  // namespace

absl::StatusOr<PreTokenizerPreset> FindPreTokenizerPreset(absl::string_view name) {
  std::vector<absl::string_view> known;
  for (const PresetRow& row : kPresets) {
    for (const absl::string_view row_name : row.names) {
      known.push_back(row_name);
      if (row_name != name) continue;
      PreTokenizerPreset preset;
      for (const char* pattern : row.patterns) {
        io::PreTokenizerStep step;
        step.kind = io::PreTokenizerStep::Kind::kSplit;
        step.pattern = pattern;
        preset.steps.push_back(std::move(step));
      }
      preset.ignore_merges = row.ignore_merges;
      preset.add_bos = row.add_bos;
      return preset;
    }
  }
  return absl::UnimplementedError(absl::StrCat("pre-tokenizer '", name, "' is not supported (",
                                               absl::StrJoin(known, ", "), ")"));
}

std::optional<std::string> NamePreTokenizer(std::span<const io::PreTokenizerStep> steps,
                                            bool ignore_merges) {
  std::vector<std::string> patterns;
  for (const io::PreTokenizerStep& step : steps) {
    switch (step.kind) {
      case io::PreTokenizerStep::Kind::kByteLevel:
        if (step.add_prefix_space) return std::nullopt;
        if (step.use_regex) patterns.emplace_back(kGpt2);
        break;
      case io::PreTokenizerStep::Kind::kSplit:
        if (!step.pattern_is_regex || step.invert ||
            step.behavior != io::SplitBehavior::kIsolated) {
          return std::nullopt;
        }
        patterns.push_back(step.pattern);
        break;
      case io::PreTokenizerStep::Kind::kDigits:
        return std::nullopt;
    }
  }
  for (const PresetRow& row : kPresets) {
    if (row.ignore_merges != ignore_merges) continue;
    if (std::equal(patterns.begin(), patterns.end(), row.patterns.begin(), row.patterns.end())) {
      return std::string(*row.names.begin());
    }
  }
  return std::nullopt;
}

}  // namespace favor::text
