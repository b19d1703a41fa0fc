// Which attention a session runs, as one typed value: the engine's only description of it. Every
// boundary (the CLI's flags, the C API's strings, a caller's own configuration) parses its text
// once with the functions below, as CTranslate2 parses its compute type; past them, nothing
// compares kind names. The defaults live here and nowhere else.
//
// Kinds: exact (softmax); favor+, favor++, favor# (random-feature attention with PosRF, OPRF,
// SADERF features: linear time, constant memory per token); hybrid (exact sink and window tokens
// plus a random-feature tail: the practical mode for pretrained models); window (exact sinks and
// window, older tokens dropped: the StreamingLLM baseline). A favor kind given a window or sinks
// becomes hybrid with that kind's features in the tail.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace favor {

enum class AttentionKind { kExact, kFavorPlus, kFavorPlusPlus, kFavorSharp, kHybrid, kWindow };

// Positive random features (docs: RANDOM_FEATURES.md). kDefault: the attention kind's own
// (favor+: posrf, favor++: oprf, favor#/hybrid: saderf).
enum class FeatureKind { kDefault, kPosRF, kGeRF, kOPRF, kSADERF, kADERF, kSDERF };

// Where the feature statistics come from. kDefault: prompt for favor kinds; for hybrid,
// calibrated when MODEL.favor-stats exists, else causal.
enum class StatisticsSource {
  kDefault,
  kPrompt,      // The prompt's, frozen after it (favor kinds).
  kCalibrated,  // MODEL.favor-stats, written by `favor calibrate`.
  kCausal,      // Hybrid: the sequence's tokens before the first one leaves the exact window.
  kFile,        // A statistics file (statistics_file).
};

// A per-head hybrid plan (`favor calibrate --plan`): it fixes each head's window, the sinks, the
// tail's kind and its statistics.
enum class PlanSource { kNone, kCalibrated, kFile };

inline constexpr int64_t kDefaultFeatures = 256;  // M, random features per head.
inline constexpr int64_t kDefaultWindow = 64;     // Hybrid: exact recent tokens.
inline constexpr int64_t kDefaultSinks = 4;       // Hybrid: exact first tokens.
inline constexpr int64_t kDefaultChunk = 64;      // Prefill chunk of the causal prefix sums.
inline constexpr int64_t kMaxFeatures = 65536;
inline constexpr int64_t kMaxWindow = int64_t{1} << 20;  // Also the most sinks.
inline constexpr int64_t kMaxChunk = 4096;

struct AttentionSpec {
  AttentionKind kind = AttentionKind::kExact;
  FeatureKind feature_kind = FeatureKind::kDefault;
  int64_t features = kDefaultFeatures;
  uint64_t seed = 0;  // Seed of the random projections.
  StatisticsSource statistics = StatisticsSource::kDefault;
  std::string statistics_file;  // With StatisticsSource::kFile.
  PlanSource plan = PlanSource::kNone;
  std::string plan_file;          // With PlanSource::kFile.
  std::optional<int64_t> window;  // Unset: kDefaultWindow where the attention is hybrid.
  std::optional<int64_t> sinks;   // Unset: kDefaultSinks (or the plan's).
  std::vector<int64_t> layers;    // Layers to swap; empty: all.
  int64_t chunk = kDefaultChunk;

  friend bool operator==(const AttentionSpec&, const AttentionSpec&) = default;
};

// --- Names, for parsing at the boundaries and for printing ---

namespace attention_names {
inline constexpr std::array<std::pair<AttentionKind, std::string_view>, 6> kKinds = {{
    {AttentionKind::kExact, "exact"},
    {AttentionKind::kFavorPlus, "favor+"},
    {AttentionKind::kFavorPlusPlus, "favor++"},
    {AttentionKind::kFavorSharp, "favor#"},
    {AttentionKind::kHybrid, "hybrid"},
    {AttentionKind::kWindow, "window"},
}};
inline constexpr std::array<std::pair<FeatureKind, std::string_view>, 6> kFeatures = {{
    {FeatureKind::kPosRF, "posrf"},
    {FeatureKind::kGeRF, "gerf"},
    {FeatureKind::kOPRF, "oprf"},
    {FeatureKind::kSADERF, "saderf"},
    {FeatureKind::kADERF, "aderf"},
    {FeatureKind::kSDERF, "sderf"},
}};
inline constexpr std::string_view kKindList = "exact, favor+, favor++, favor#, hybrid, window";
inline constexpr std::string_view kFeatureList = "posrf, gerf, oprf, saderf, aderf, sderf";
}  // namespace attention_names

inline std::string_view AttentionKindName(AttentionKind kind) {
  for (const auto& [value, name] : attention_names::kKinds) {
    if (value == kind) return name;
  }
  return "?";
}

inline absl::StatusOr<AttentionKind> ParseAttentionKind(std::string_view name) {
  for (const auto& [value, known] : attention_names::kKinds) {
    if (known == name) return value;
  }
  std::string message = "unknown attention '";
  message.append(name).append("' (").append(attention_names::kKindList).append(")");
  return absl::InvalidArgumentError(message);
}

// "" for kDefault.
inline std::string_view FeatureKindName(FeatureKind kind) {
  for (const auto& [value, name] : attention_names::kFeatures) {
    if (value == kind) return name;
  }
  return "";
}

// "" is kDefault.
inline absl::StatusOr<FeatureKind> ParseFeatureKind(std::string_view name) {
  if (name.empty()) return FeatureKind::kDefault;
  for (const auto& [value, known] : attention_names::kFeatures) {
    if (known == name) return value;
  }
  std::string message = "'";
  message.append(name)
      .append("' is not a positive random-feature kind: attention needs ")
      .append(attention_names::kFeatureList);
  return absl::InvalidArgumentError(message);
}

// "" (the kind's default), prompt, calibrated, causal, or a file name.
inline absl::Status ParseStatistics(std::string_view text, AttentionSpec& spec) {
  spec.statistics_file.clear();
  if (text.empty()) {
    spec.statistics = StatisticsSource::kDefault;
  } else if (text == "prompt") {
    spec.statistics = StatisticsSource::kPrompt;
  } else if (text == "calibrated") {
    spec.statistics = StatisticsSource::kCalibrated;
  } else if (text == "causal") {
    spec.statistics = StatisticsSource::kCausal;
  } else if (text == "sequence") {
    return absl::InvalidArgumentError(
        "statistics 'sequence' use future tokens: they are for bidirectional (encoder) attention; "
        "a decoder takes prompt, calibrated, causal (hybrid) or a file");
  } else {
    spec.statistics = StatisticsSource::kFile;
    spec.statistics_file = std::string(text);
  }
  return absl::OkStatus();
}

// "prompt", "calibrated", "causal", the file name, or "" for kDefault.
inline std::string StatisticsName(const AttentionSpec& spec) {
  switch (spec.statistics) {
    case StatisticsSource::kDefault:
      return "";
    case StatisticsSource::kPrompt:
      return "prompt";
    case StatisticsSource::kCalibrated:
      return "calibrated";
    case StatisticsSource::kCausal:
      return "causal";
    case StatisticsSource::kFile:
      return spec.statistics_file;
  }
  return "";
}

// "" (none), calibrated, or a file name.
inline void ParsePlan(std::string_view text, AttentionSpec& spec) {
  spec.plan_file.clear();
  if (text.empty()) {
    spec.plan = PlanSource::kNone;
  } else if (text == "calibrated") {
    spec.plan = PlanSource::kCalibrated;
  } else {
    spec.plan = PlanSource::kFile;
    spec.plan_file = std::string(text);
  }
}

}  // namespace favor
