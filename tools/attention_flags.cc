#include "tools/attention_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/runtime/attention_resolution.h"
#include "tools/bench_report.h"

namespace favor::cli {
namespace {

bool Grid(const AttentionFlags& flags) { return flags.use == AttentionFlagUse::kGrid; }

std::string Default(const std::string& value) {
  return value.empty() ? std::string() : absl::StrCat(" (default ", value, ")");
}

absl::StatusOr<int64_t> ParseCount(const std::string& text, const std::string& flag, int64_t min,
                                   int64_t max) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " takes an integer, got '", text, "'"));
  }
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be in [", min, ", ", max, "], got ", value));
  }
  return value;
}

absl::StatusOr<std::vector<int64_t>> ParseCounts(const std::string& text, const std::string& flag,
                                                 int64_t min, int64_t max) {
  FAVOR_ASSIGN_OR_RETURN(const auto values, ParseIntList(text, flag));
  for (int64_t value : values) {
    if (value < min || value > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " must be in [", min, ", ", max, "], got ", value));
    }
  }
  return values;
}

// The options every point shares: --rf, --favor-seed, --favor-chunk, --favor-layers.
absl::Status ParseCommon(const AttentionFlags& flags, AttentionSpec& spec) {
  FAVOR_ASSIGN_OR_RETURN(spec.feature_kind, ParseFeatureKind(flags.feature_kind));
  spec.seed = static_cast<uint64_t>(flags.seed);
  spec.chunk = flags.chunk;
  FAVOR_ASSIGN_OR_RETURN(spec.layers, runtime::ParseLayerList(flags.layers));
  return absl::OkStatus();
}

bool HasRandomFeatures(AttentionKind kind) {
  return kind != AttentionKind::kExact && kind != AttentionKind::kWindow;
}

}  // namespace

void AddAttentionFlags(ArgParser& args, AttentionFlags& flags) {
  const bool grid = Grid(flags);
  auto value = [&](const char* one) { return grid ? std::string("LIST") : std::string(one); };
  args.String(
      {"--attention"}, value("KIND"),
      absl::StrCat("exact, favor+ (PosRF), favor++ (OPRF), favor# (SADERF), hybrid (exact "
                   "sinks and window, favor# tail), window (exact sinks and window only)",
                   grid ? "; or a feature kind (sderf, ...): favor# with those features" : "",
                   Default(flags.kinds)),
      &flags.kinds);
  args.String({"--rf"}, "KIND",
              "random features of the favor kinds and the hybrid tail: "
              "posrf|gerf|oprf|saderf|aderf|sderf (default: the kind's own)",
              &flags.feature_kind);
  args.String({"--features"}, value("M"),
              absl::StrCat("random features per head", Default(flags.features)), &flags.features);
  args.Int({"--favor-seed"}, "N", "seed of the random projections (default 0)", &flags.seed,
           {.min = 0});
  args.String({"--favor-stats"}, value("SRC"),
              absl::StrCat("feature statistics: prompt (favor+/++/#: the prompt's), calibrated "
                           "(MODEL.favor-stats), causal (hybrid: the sequence's tokens before the "
                           "first leaves the window) or FILE",
                           Default(flags.statistics.empty()
                                       ? std::string("prompt; hybrid: calibrated when "
                                                     "MODEL.favor-stats exists, else causal")
                                       : flags.statistics)),
              &flags.statistics);
  args.String({"--favor-layers"}, "LIST", "layers to swap, e.g. 0,2-4 (default: all)",
              &flags.layers);
  args.Int({"--favor-chunk"}, "C",
           absl::StrCat("prefill chunk of the causal prefix sums (default ", kDefaultChunk, ")"),
           &flags.chunk, {.min = 1, .max = kMaxChunk});
  args.String({"--window"}, value("W"),
              absl::StrCat("hybrid and window attention: the last W tokens exact (default ",
                           kDefaultWindow, ")", grid ? "; other kinds become hybrid" : ""),
              &flags.windows);
  args.String({"--sinks"}, value("S"),
              absl::StrCat("hybrid and window attention: the first S tokens exact (default ",
                           kDefaultSinks, ")"),
              &flags.sinks);
  args.String({"--favor-plan"}, value("FILE"),
              absl::StrCat("hybrid attention with the per-head windows of a plan (favor calibrate "
                           "--plan): calibrated (MODEL.favor-stats) or FILE; it also fixes the "
                           "sinks, the tail's kind and its statistics",
                           grid ? "; each run at every M" : ""),
              &flags.plans);
}

absl::StatusOr<AttentionSpec> ParseAttentionFlags(const ArgParser& args,
                                                  const AttentionFlags& flags) {
  AttentionSpec spec;
  FAVOR_ASSIGN_OR_RETURN(spec.kind, ParseAttentionKind(flags.kinds));
  FAVOR_RETURN_IF_ERROR(ParseCommon(flags, spec));
  FAVOR_ASSIGN_OR_RETURN(spec.features, ParseCount(flags.features, "--features", 1, kMaxFeatures));
  FAVOR_RETURN_IF_ERROR(ParseStatistics(flags.statistics, spec));
  ParsePlan(flags.plans, spec);
  if (args.Given("--window")) {
    FAVOR_ASSIGN_OR_RETURN(spec.window, ParseCount(flags.windows, "--window", 0, kMaxWindow));
  }
  if (args.Given("--sinks")) {
    FAVOR_ASSIGN_OR_RETURN(spec.sinks, ParseCount(flags.sinks, "--sinks", 0, kMaxWindow));
  }
  auto refuse = [](const char* flag, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", why));
  };
  const std::string kind(AttentionKindName(spec.kind));
  if (spec.plan != PlanSource::kNone) {
    for (const char* flag : {"--window", "--sinks", "--rf", "--favor-stats", "--features"}) {
      if (args.Given(flag)) {
        return refuse(flag,
                      "overrides what the --favor-plan was measured with (the plan fixes the "
                      "windows, sinks, tail kind, features and statistics)");
      }
    }
    if (spec.kind != AttentionKind::kExact && spec.kind != AttentionKind::kHybrid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--favor-plan runs hybrid attention; --attention ", kind, " contradicts it"));
    }
    return spec;
  }
  if (spec.kind == AttentionKind::kExact) {
    for (const char* flag : {"--features", "--rf", "--favor-stats", "--favor-seed",
                             "--favor-layers", "--favor-chunk", "--window", "--sinks"}) {
      if (args.Given(flag)) {
        return refuse(flag,
                      "applies to approximate attention only (--attention favor+|favor++|favor#|"
                      "hybrid|window)");
      }
    }
    return spec;
  }
  if (spec.kind == AttentionKind::kWindow) {
    for (const char* flag :
         {"--features", "--rf", "--favor-stats", "--favor-seed", "--favor-chunk"}) {
      if (args.Given(flag)) {
        return refuse(flag,
                      "applies to random features; window attention has none (older tokens are "
                      "dropped; --attention hybrid keeps them in a random-feature tail)");
      }
    }
  }
  if (args.Given("--rf") &&
      (spec.kind == AttentionKind::kFavorPlus || spec.kind == AttentionKind::kFavorPlusPlus)) {
    const FeatureKind implied =
        spec.kind == AttentionKind::kFavorPlus ? FeatureKind::kPosRF : FeatureKind::kOPRF;
    if (spec.feature_kind != implied) {
      return absl::InvalidArgumentError(
          absl::StrCat("--attention ", kind, " means ", std::string(FeatureKindName(implied)),
                       " features; --rf ", flags.feature_kind,
                       " contradicts it (use --attention favor# --rf ", flags.feature_kind, ")"));
    }
  }
  return spec;
}

absl::StatusOr<std::vector<AttentionGridPoint>> ParseAttentionGrid(const ArgParser& args,
                                                                   const AttentionFlags& flags) {
  AttentionSpec common;
  FAVOR_RETURN_IF_ERROR(ParseCommon(flags, common));
  FAVOR_ASSIGN_OR_RETURN(const auto names, ParseStringList(flags.kinds, "--attention"));
  FAVOR_ASSIGN_OR_RETURN(const auto features,
                         ParseCounts(flags.features, "--features", 1, kMaxFeatures));
  std::vector<std::string> statistics = {""};
  if (!flags.statistics.empty()) {
    FAVOR_ASSIGN_OR_RETURN(statistics, ParseStringList(flags.statistics, "--favor-stats"));
  }
  // Unset: each kind's own (hybrid and window: the defaults; others: not hybrid).
  std::vector<std::optional<int64_t>> windows = {std::nullopt}, sinks = {std::nullopt};
  const bool hybrid_grid = args.Given("--window") || args.Given("--sinks");
  if (hybrid_grid) {
    FAVOR_ASSIGN_OR_RETURN(
        const auto w,
        ParseCounts(flags.windows.empty() ? std::to_string(kDefaultWindow) : flags.windows,
                    "--window", 0, kMaxWindow));
    FAVOR_ASSIGN_OR_RETURN(
        const auto s, ParseCounts(flags.sinks.empty() ? std::to_string(kDefaultSinks) : flags.sinks,
                                  "--sinks", 0, kMaxWindow));
    windows.assign(w.begin(), w.end());
    sinks.assign(s.begin(), s.end());
  }
  std::vector<AttentionGridPoint> grid;
  if (!flags.plans.empty()) {
    FAVOR_ASSIGN_OR_RETURN(const auto plans, ParseStringList(flags.plans, "--favor-plan"));
    for (const std::string& plan : plans) {
      for (int64_t m : features) {
        AttentionGridPoint point{.name = "plan", .spec = common};
        point.spec.kind = AttentionKind::kHybrid;
        point.spec.features = m;
        ParsePlan(plan, point.spec);
        grid.push_back(std::move(point));
      }
    }
  }
  for (const std::string& name : names) {
    AttentionSpec kind_spec = common;
    if (auto kind = ParseAttentionKind(name); kind.ok()) {
      kind_spec.kind = *kind;
    } else if (auto feature_kind = ParseFeatureKind(name); feature_kind.ok()) {
      kind_spec.kind = AttentionKind::kFavorSharp;
      kind_spec.feature_kind = *feature_kind;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--attention: unknown attention '", name, "' (", std::string(attention_names::kKindList),
          ", or a positive random-feature kind: ", std::string(attention_names::kFeatureList),
          ")"));
    }
    const bool exact = kind_spec.kind == AttentionKind::kExact;
    for (const auto& window : exact ? std::vector<std::optional<int64_t>>{std::nullopt} : windows) {
      for (const auto& sink : exact ? std::vector<std::optional<int64_t>>{std::nullopt} : sinks) {
        AttentionSpec windowed = kind_spec;
        windowed.window = window;
        windowed.sinks = sink;
        if (!HasRandomFeatures(windowed.kind)) {
          if (windowed.kind == AttentionKind::kWindow && window == 0) continue;
          grid.push_back({.name = name, .spec = windowed});
          continue;
        }
        const bool hybrid = windowed.kind == AttentionKind::kHybrid || window.has_value();
        for (const std::string& source : statistics) {
          AttentionSpec with_statistics = windowed;
          FAVOR_RETURN_IF_ERROR(ParseStatistics(source, with_statistics));
          if (with_statistics.statistics == StatisticsSource::kCausal && !hybrid) {
            return absl::InvalidArgumentError(absl::StrCat(
                "--favor-stats causal needs hybrid attention: give --window (", name, ")"));
          }
          for (int64_t m : features) {
            AttentionSpec point = with_statistics;
            point.features = m;
            grid.push_back({.name = name, .spec = std::move(point)});
          }
        }
      }
    }
  }
  return grid;
}

}  // namespace favor::cli
