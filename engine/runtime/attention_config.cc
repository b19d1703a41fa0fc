#include "engine/runtime/attention_config.h"

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

absl::StatusOr<std::optional<AttentionSwapOptions>> ResolveAttention(
    const AttentionConfig& requested, const std::string& model_path) {
  AttentionConfig config = requested;
  std::shared_ptr<const rf::Calibration> plan_file;
  if (!config.plan.empty()) {
    const std::string path =
        config.plan == "calibrated" ? DefaultCalibrationPath(model_path) : config.plan;
    auto loaded = rf::LoadCalibration(path);
    if (!loaded.ok()) {
      return WithContext(loaded.status(), absl::StrCat("hybrid plan (run favor calibrate -m ",
                                                       model_path, " --plan)"));
    }
    if (!loaded->plan.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "' holds statistics but no hybrid plan (run favor calibrate --plan)"));
    }
    if (config.window >= 0) {
      return absl::InvalidArgumentError("--window and --favor-plan both choose the windows");
    }
    plan_file = std::make_shared<const rf::Calibration>(*std::move(loaded));
    if (config.kind == "exact") config.kind = "hybrid";
    if ((config.kind == "hybrid" || config.kind == "window") && config.rf.empty()) {
      config.rf = std::string(rf::RfKindName(plan_file->plan->kind));
    }
    if (config.sinks < 0) config.sinks = plan_file->plan->sinks;
    if (config.calibration == nullptr && config.stats.empty()) config.calibration = plan_file;
  }
  if (config.kind == "exact") {
    if (config.window >= 0 || config.sinks >= 0) {
      return absl::InvalidArgumentError(
          "--window and --sinks need an approximate attention (hybrid, window, favor+, favor++, "
          "favor#)");
    }
    return std::optional<AttentionSwapOptions>();
  }
  AttentionSwapOptions options;
  if (config.kind == "hybrid" || config.kind == "window" || config.window >= 0 ||
      config.sinks >= 0) {
    if (config.window > (1 << 20) || config.sinks > (1 << 20)) {
      return absl::InvalidArgumentError("--window and --sinks must be at most 1048576");
    }
    options.hybrid = HybridWindow{.window = config.window >= 0 ? config.window : 64,
                                  .sinks = config.sinks >= 0 ? config.sinks : 4,
                                  .random_feature_tail = config.kind != "window"};
    if (plan_file != nullptr) options.hybrid->head_windows = plan_file->plan->windows;
  }
  rf::RfKind kind;
  if (config.kind == "favor+") {
    kind = rf::RfKind::kPos;
  } else if (config.kind == "favor++") {
    kind = rf::RfKind::kOprf;
  } else if (config.kind == "favor#" || config.kind == "hybrid" || config.kind == "window") {
    kind = rf::RfKind::kSaderf;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown attention '", config.kind, "' (exact, favor+, favor++, favor#, hybrid, window)"));
  }
  if (!config.rf.empty()) {
    FAVOR_ASSIGN_OR_RETURN(kind, rf::ParseRfKind(config.rf));
    if (!rf::IsPositive(kind)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--rf ", config.rf,
          " is not positive: attention needs posrf, gerf, oprf, saderf, aderf or sderf"));
    }
  }
  if (config.features <= 0 || config.features > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("--features must be in [1, 65536], got ", config.features));
  }
  if (config.chunk <= 0 || config.chunk > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("--favor-chunk must be in [1, 4096], got ", config.chunk));
  }
  options.features = {.kind = kind,
                      .features = config.features,
                      .projection = rf::ProjectionKind::kOrthogonal,
                      .seed = config.seed};
  options.chunk = config.chunk;
  options.layers = config.layers;
  const bool hybrid = options.hybrid.has_value();
  if (config.stats.empty()) {
    // Hybrid: the model's calibration when there is one, else the sequence's own (causal).
    config.stats = !hybrid                                             ? "prompt"
                   : IsRegularFile(DefaultCalibrationPath(model_path)) ? "calibrated"
                                                                       : "causal";
  }
  if (config.stats == "sequence") {
    return absl::InvalidArgumentError(
        "--favor-stats sequence uses future tokens: it is for bidirectional (encoder) attention; "
        "a decoder takes prompt or calibrated statistics");
  }
  if (config.calibration != nullptr && kind != rf::RfKind::kPos) {
    options.source = FavorStatsSource::kCalibrated;
    options.calibration = config.calibration;
  } else if (kind == rf::RfKind::kPos) {
    options.source = FavorStatsSource::kPrompt;  // PosRF's features need no statistics.
  } else if (config.stats == "prompt") {
    if (hybrid) {
      return absl::InvalidArgumentError(
          "--favor-stats prompt is for favor+/favor++/favor#; hybrid attention takes calibrated, "
          "FILE or causal (the sequence's tokens before the first leaves the window)");
    }
    options.source = FavorStatsSource::kPrompt;
  } else if (config.stats == "causal") {
    if (!hybrid) {
      return absl::InvalidArgumentError(
          "--favor-stats causal needs hybrid attention (its statistics are the tokens before the "
          "first one leaves the exact window)");
    }
    options.source = FavorStatsSource::kCausal;
  } else {
    const std::string path =
        config.stats == "calibrated" ? DefaultCalibrationPath(model_path) : config.stats;
    auto calibration = rf::LoadCalibration(path);
    if (!calibration.ok()) {
      return WithContext(
          calibration.status(),
          absl::StrCat("calibration statistics (run favor calibrate -m ", model_path, ")"));
    }
    options.source = FavorStatsSource::kCalibrated;
    options.calibration = std::make_shared<const rf::Calibration>(*std::move(calibration));
  }
  return std::optional<AttentionSwapOptions>(std::move(options));
}

std::string DescribeAttention(const std::string& name,
                              const std::optional<AttentionSwapOptions>& resolved) {
  if (!resolved.has_value()) return "exact";
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
