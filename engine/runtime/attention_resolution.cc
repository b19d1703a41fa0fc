#include "engine/runtime/attention_resolution.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"

namespace favor::runtime {

std::string DefaultCalibrationPath(const std::string& model_path) {
  std::string path = model_path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path + ".favor-stats";
}

absl::StatusOr<std::vector<int64_t>> ParseLayerList(const std::string& text) {
  std::vector<int64_t> layers;
  if (text.empty()) return layers;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const std::vector<std::string> range = absl::StrSplit(part, '-');
    int64_t first = 0, last = 0;
    if (range.size() > 2 || !absl::SimpleAtoi(range[0], &first) ||
        !absl::SimpleAtoi(range.back(), &last) || first < 0 || last < first ||
        last - first > 100000) {
      return absl::InvalidArgumentError(absl::StrCat("bad layer list '", text, "' (e.g. 0,2,5-7)"));
    }
    for (int64_t l = first; l <= last; ++l) layers.push_back(l);
  }
  return layers;
}

namespace {

// The public feature kinds and the engine's, one table read both ways.
constexpr std::pair<FeatureKind, rf::RfKind> kFeatureKinds[] = {
    {FeatureKind::kPosRF, rf::RfKind::kPos},   {FeatureKind::kGeRF, rf::RfKind::kGerf},
    {FeatureKind::kOPRF, rf::RfKind::kOprf},   {FeatureKind::kSADERF, rf::RfKind::kSaderf},
    {FeatureKind::kADERF, rf::RfKind::kAderf}, {FeatureKind::kSDERF, rf::RfKind::kSderf},
};

// The public feature kind of an engine one read from a plan file (plans hold positive kinds).
FeatureKind PublicFeatureKind(rf::RfKind kind) {
  for (const auto& [public_kind, engine_kind] : kFeatureKinds) {
    if (engine_kind == kind) return public_kind;
  }
  return FeatureKind::kSADERF;
}

}  // namespace

rf::RfKind ResolveFeatureKind(const AttentionSpec& spec) {
  for (const auto& [public_kind, engine_kind] : kFeatureKinds) {
    if (public_kind == spec.feature_kind) return engine_kind;
  }
  // kDefault: the attention kind's own.
  switch (spec.kind) {
    case AttentionKind::kFavorPlus:
      return rf::RfKind::kPos;
    case AttentionKind::kFavorPlusPlus:
      return rf::RfKind::kOprf;
    default:
      return rf::RfKind::kSaderf;
  }
}

namespace {

absl::StatusOr<std::shared_ptr<const rf::Calibration>> LoadStatistics(const std::string& path,
                                                                      const std::string& model) {
  auto loaded = rf::LoadCalibration(path);
  if (!loaded.ok()) {
    return WithContext(loaded.status(),
                       absl::StrCat("calibration statistics (run favor calibrate -m ", model, ")"));
  }
  return std::make_shared<const rf::Calibration>(*std::move(loaded));
}

}  // namespace

absl::StatusOr<std::optional<AttentionSwapOptions>> ResolveAttention(
    const AttentionSpec& requested, const std::string& model_path,
    std::shared_ptr<const rf::Calibration> calibration) {
  AttentionSpec spec = requested;
  std::shared_ptr<const rf::Calibration> plan_file;
  if (spec.plan != PlanSource::kNone && calibration != nullptr && calibration->plan.has_value()) {
    plan_file = calibration;  // A plan in memory (favor calibrate refining one end to end).
  } else if (spec.plan != PlanSource::kNone) {
    const std::string path =
        spec.plan == PlanSource::kCalibrated ? DefaultCalibrationPath(model_path) : spec.plan_file;
    auto loaded = rf::LoadCalibration(path);
    if (!loaded.ok()) {
      return WithContext(loaded.status(), absl::StrCat("hybrid plan (run favor calibrate -m ",
                                                       model_path, " --plan)"));
    }
    if (!loaded->plan.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "' holds statistics but no hybrid plan (run favor calibrate --plan)"));
    }
    plan_file = std::make_shared<const rf::Calibration>(*std::move(loaded));
  }
  if (plan_file != nullptr) {
    if (spec.window.has_value()) {
      return absl::InvalidArgumentError("--window and --favor-plan both choose the windows");
    }
    if (spec.kind == AttentionKind::kExact) spec.kind = AttentionKind::kHybrid;
    if ((spec.kind == AttentionKind::kHybrid || spec.kind == AttentionKind::kWindow) &&
        spec.feature_kind == FeatureKind::kDefault) {
      spec.feature_kind = PublicFeatureKind(plan_file->plan->kind);
    }
    if (!spec.sinks.has_value()) spec.sinks = plan_file->plan->sinks;
    if (calibration == nullptr && spec.statistics == StatisticsSource::kDefault) {
      calibration = plan_file;
    }
  }
  if (spec.kind == AttentionKind::kExact) {
    if (spec.window.has_value() || spec.sinks.has_value()) {
      return absl::InvalidArgumentError(
          "--window and --sinks need an approximate attention (hybrid, window, favor+, favor++, "
          "favor#)");
    }
    return std::optional<AttentionSwapOptions>();
  }
  AttentionSwapOptions options;
  const bool hybrid = spec.kind == AttentionKind::kHybrid || spec.kind == AttentionKind::kWindow ||
                      spec.window.has_value() || spec.sinks.has_value();
  if (hybrid) {
    const int64_t window = spec.window.value_or(kDefaultWindow);
    const int64_t sinks = spec.sinks.value_or(kDefaultSinks);
    if (window < 0 || sinks < 0 || window > kMaxWindow || sinks > kMaxWindow) {
      return absl::InvalidArgumentError(
          absl::StrCat("--window and --sinks must be in [0, ", kMaxWindow, "]"));
    }
    options.hybrid = HybridWindow{.window = window,
                                  .sinks = sinks,
                                  .random_feature_tail = spec.kind != AttentionKind::kWindow};
    if (plan_file != nullptr) {
      const rf::HybridPlan& plan = *plan_file->plan;
      for (int64_t layer = 0; layer < plan.layers(); ++layer) {
        options.hybrid->head_windows.push_back(plan.Windows(layer));
        // Plans from before per-head tails (no head_dim) run every tail at --features.
        if (plan.head_dim > 0) options.hybrid->head_features.push_back(plan.Features(layer));
      }
    }
  }
  const rf::RfKind kind = ResolveFeatureKind(spec);
  if (spec.features <= 0 || spec.features > kMaxFeatures) {
    return absl::InvalidArgumentError(
        absl::StrCat("--features must be in [1, ", kMaxFeatures, "], got ", spec.features));
  }
  if (spec.chunk <= 0 || spec.chunk > kMaxChunk) {
    return absl::InvalidArgumentError(
        absl::StrCat("--favor-chunk must be in [1, ", kMaxChunk, "], got ", spec.chunk));
  }
  options.features = {.kind = kind,
                      .features = spec.features,
                      .projection = rf::ProjectionKind::kOrthogonal,
                      .seed = spec.seed};
  options.chunk = spec.chunk;
  options.layers = spec.layers;
  StatisticsSource source = spec.statistics;
  if (source == StatisticsSource::kDefault) {
    // Hybrid: the model's calibration when there is one, else the sequence's own (causal).
    source = !hybrid                                             ? StatisticsSource::kPrompt
             : IsRegularFile(DefaultCalibrationPath(model_path)) ? StatisticsSource::kCalibrated
                                                                 : StatisticsSource::kCausal;
  }
  if (calibration != nullptr && kind != rf::RfKind::kPos) {
    options.source = FavorStatsSource::kCalibrated;
    options.calibration = std::move(calibration);
    return std::optional<AttentionSwapOptions>(std::move(options));
  }
  if (kind == rf::RfKind::kPos) {
    options.source = FavorStatsSource::kPrompt;  // PosRF's features need no statistics.
    return std::optional<AttentionSwapOptions>(std::move(options));
  }
  switch (source) {
    case StatisticsSource::kDefault:
    case StatisticsSource::kPrompt:
      if (hybrid) {
        return absl::InvalidArgumentError(
            "--favor-stats prompt is for favor+/favor++/favor#; hybrid attention takes "
            "calibrated, FILE or causal (the sequence's tokens before the first leaves the "
            "window)");
      }
      options.source = FavorStatsSource::kPrompt;
      break;
    case StatisticsSource::kCausal:
      if (!hybrid) {
        return absl::InvalidArgumentError(
            "--favor-stats causal needs hybrid attention (its statistics are the tokens before "
            "the first one leaves the exact window)");
      }
      options.source = FavorStatsSource::kCausal;
      break;
    case StatisticsSource::kCalibrated:
    case StatisticsSource::kFile: {
      const std::string path = source == StatisticsSource::kCalibrated
                                   ? DefaultCalibrationPath(model_path)
                                   : spec.statistics_file;
      options.source = FavorStatsSource::kCalibrated;
      FAVOR_ASSIGN_OR_RETURN(options.calibration, LoadStatistics(path, model_path));
      break;
    }
  }
  return std::optional<AttentionSwapOptions>(std::move(options));
}

std::string DescribeAttention(const AttentionSpec& spec,
                              const std::optional<AttentionSwapOptions>& resolved) {
  if (!resolved.has_value()) return "exact";
  const std::string name(spec.plan != PlanSource::kNone ? "hybrid" : AttentionKindName(spec.kind));
  const AttentionSwapOptions& o = *resolved;
  const char* source = "";
  switch (o.source) {
    case FavorStatsSource::kPrompt:
      source = o.features.kind == rf::RfKind::kPos ? "no statistics needed" : "prompt statistics";
      break;
    case FavorStatsSource::kCalibrated:
      source = "calibrated statistics";
      break;
    case FavorStatsSource::kSequence:
      source = "sequence statistics";
      break;
    case FavorStatsSource::kCausal:
      source = "causal statistics";
      break;
  }
  const std::string features =
      absl::StrCat(rf::RfKindName(o.features.kind), " M=", o.features.features);
  std::string layers;
  if (!o.layers.empty()) layers = absl::StrCat(", layers ", absl::StrJoin(o.layers, ","));
  if (!o.hybrid.has_value()) return absl::StrCat(name, " (", features, ", ", source, ")", layers);
  const HybridWindow& h = *o.hybrid;
  const std::string windows =
      h.head_windows.empty() ? absl::StrCat("W=", h.window) : std::string("per-head plan");
  if (!h.random_feature_tail) return absl::StrCat(name, " ", windows, " S=", h.sinks, layers);
  return absl::StrCat(name, " ", windows, " S=", h.sinks, " (", features, " tail, ", source, ")",
                      layers);
}

}  // namespace favor::runtime
