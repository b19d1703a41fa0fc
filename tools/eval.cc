// favor eval: perplexity of a text, and how far approximate attention is from exact on it. The
// exact model's next-token distributions are computed once; each approximate configuration
// (attention x M x window x sinks x statistics, or a per-head plan) is then scored against them:
// perplexity, KL(exact || approximate) mean and 99th percentile, and top-1 agreement.
//
// The text is scored in windows of the context, each starting with BOS; with --stride the
// windows overlap and each scores only the tokens past the overlap (llama-perplexity's scheme),
// so every token is predicted once and, after the first window, with context behind it.
// Statistics are strictly causal: calibrated (MODEL.favor-stats, a FILE, or --calibrate-on
// TEXT), or for hybrid attention the sequence's own tokens before the first leaves the window
// (causal); exact attention alone needs none.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"
#include "engine/rf/calibration.h"
#include "engine/rf/positive.h"
#include "engine/runtime/model.h"
#include "engine/runtime/scoring.h"
#include "engine/runtime/session.h"
#include "tools/bench_report.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/prompt_text.h"
#include "tools/report_format.h"
#include "tools/svg_plot.h"

namespace favor::cli {
namespace {

int Fail(const absl::Status& status) { return PrintFailure("eval", status); }
int UsageError(const std::string& message) { return PrintUsageError("eval", message); }

// A window of the text: BOS and up to context - 1 tokens; rows before `first_scored` only give
// context (an overlap with the window before).
struct TextWindow {
  std::vector<int32_t> tokens;
  int64_t first_scored = 0;
};

// Windows of context - 1 tokens every `stride` tokens (stride = context - 1: no overlap).
std::vector<TextWindow> Windows(const std::vector<int32_t>& ids, int32_t bos, int64_t context,
                                int64_t stride) {
  std::vector<TextWindow> windows;
  const auto length = static_cast<size_t>(context - 1);
  size_t scored_until = 0;  // Tokens of the text predicted by earlier windows.
  for (size_t begin = 0;; begin += static_cast<size_t>(stride)) {
    const size_t end = std::min(ids.size(), begin + length);
    TextWindow window{.tokens = {bos}, .first_scored = static_cast<int64_t>(scored_until - begin)};
    window.tokens.insert(window.tokens.end(), ids.begin() + static_cast<std::ptrdiff_t>(begin),
                         ids.begin() + static_cast<std::ptrdiff_t>(end));
    windows.push_back(std::move(window));
    scored_until = end;
    if (end == ids.size()) break;
  }
  return windows;
}

struct Configuration {
  std::string attention;  // favor+, favor#, window, sderf, ... or plan(...)
  int64_t features = 0;   // 0: none (window-only).
  int64_t window = -1;    // -1: not hybrid.
  int64_t sinks = -1;
  std::string stats;  // calibrated | causal | FILE
  std::string plan;   // A statistics file with a per-head plan.
};

struct EvalRow {
  Configuration configuration;
  double perplexity = 0;
  double mean_kl = 0, p99_kl = 0, top1 = 1;
  std::vector<double> layer_errors;  // --layer-errors: per layer, that layer swapped alone.
  bool exact() const { return configuration.attention == "exact"; }
};

// Attention outputs of every layer for every window: [window][layer] -> T x dim floats.
using AttentionOutputs = std::vector<std::vector<std::vector<float>>>;

std::vector<std::vector<float>> CopyAttentionOutputs(const Executor& executor) {
  std::vector<std::vector<float>> layers;
  for (size_t i = 1; i < executor.num_outputs(); ++i) {
    const Tensor& t = executor.output(i);
    layers.emplace_back(t.data<float>(), t.data<float>() + t.NumElements());
  }
  return layers;
}

// The exact model's distributions of every window, its perplexity, and (with --layer-errors)
// every attention output.
struct Reference {
  std::vector<runtime::NextTokenDistributions> distributions;
  AttentionOutputs attention;
  EvalRow row{.configuration = {.attention = "exact"}};
  int64_t predicted = 0;
};

// Sums over the windows' scored rows.
struct Tally {
  double nll = 0;
  int64_t predicted = 0;
  std::vector<double> kl;
  int64_t agree = 0, compared = 0;
};

void AddWindow(Tally& tally, const runtime::NextTokenDistributions& scored,
               const TextWindow& window) {
  const int64_t rows = static_cast<int64_t>(window.tokens.size()) - 1 - window.first_scored;
  tally.nll += runtime::MeanNegativeLogLikelihood(scored, window.tokens, window.first_scored) *
               static_cast<double>(rows);
  tally.predicted += rows;
}

absl::StatusOr<Reference> ScoreExact(runtime::Session& session,
                                     const std::vector<TextWindow>& windows, bool layer_errors) {
  Reference reference;
  Tally tally;
  for (const TextWindow& window : windows) {
    session.Reset();
    FAVOR_ASSIGN_OR_RETURN(auto scored, runtime::ScoreTokens(session, window.tokens));
    AddWindow(tally, scored, window);
    reference.distributions.push_back(std::move(scored));
    if (layer_errors) reference.attention.push_back(CopyAttentionOutputs(session.executor()));
  }
  if (tally.predicted == 0) {
    return absl::InvalidArgumentError("the text has a single token: nothing to predict");
  }
  reference.predicted = tally.predicted;
  reference.row.perplexity = std::exp(tally.nll / static_cast<double>(tally.predicted));
  reference.row.mean_kl = reference.row.p99_kl = 0;
  return reference;
}

struct ScoringSetup {
  std::string model_path;
  runtime::LoadOptions load;  // all_logits, tokenizer; attention filled per configuration.
  runtime::SessionOptions session;
  int64_t layers = 0;
  bool layer_errors = false;
};

absl::StatusOr<EvalRow> ScoreConfiguration(const ScoringSetup& setup, runtime::LoadOptions load,
                                           const Configuration& configuration,
                                           const std::vector<TextWindow>& windows,
                                           const Reference& reference) {
  FAVOR_ASSIGN_OR_RETURN(auto model, runtime::Model::Load(setup.model_path, load));
  FAVOR_ASSIGN_OR_RETURN(auto session, runtime::Session::Create(*model, setup.session));
  Tally tally;
  for (size_t w = 0; w < windows.size(); ++w) {
    session->Reset();
    FAVOR_ASSIGN_OR_RETURN(auto scored, runtime::ScoreTokens(*session, windows[w].tokens));
    FAVOR_ASSIGN_OR_RETURN(
        auto compared,
        runtime::CompareDistributions(reference.distributions[w], scored, windows[w].first_scored));
    AddWindow(tally, scored, windows[w]);
    tally.kl.insert(tally.kl.end(), compared.kl.begin(), compared.kl.end());
    tally.agree += compared.top1_matches;
    tally.compared += static_cast<int64_t>(compared.kl.size());
  }
  EvalRow row{.configuration = configuration};
  row.perplexity = std::exp(tally.nll / static_cast<double>(tally.predicted));
  row.mean_kl = runtime::Mean(tally.kl);
  row.p99_kl = runtime::Percentile(tally.kl, 0.99);
  row.top1 = static_cast<double>(tally.agree) / static_cast<double>(tally.compared);
  for (int64_t layer = 0; layer < (setup.layer_errors ? setup.layers : 0); ++layer) {
    runtime::LoadOptions one = load;
    one.attention.layers = {layer};
    one.attention_outputs = true;
    FAVOR_ASSIGN_OR_RETURN(auto swapped, runtime::Model::Load(setup.model_path, one));
    FAVOR_ASSIGN_OR_RETURN(auto swapped_session, runtime::Session::Create(*swapped, setup.session));
    double error = 0, norm = 0;
    for (size_t w = 0; w < windows.size(); ++w) {
      swapped_session->Reset();
      FAVOR_RETURN_IF_ERROR(swapped_session->Feed(windows[w].tokens).status());
      const Tensor& approx = swapped_session->executor().output(1 + static_cast<size_t>(layer));
      const std::vector<float>& exact = reference.attention[w][static_cast<size_t>(layer)];
      for (size_t i = 0; i < exact.size(); ++i) {
        const double diff = static_cast<double>(approx.data<float>()[i]) - exact[i];
        error += diff * diff;
        norm += static_cast<double>(exact[i]) * exact[i];
      }
    }
    row.layer_errors.push_back(std::sqrt(error / std::max(norm, 1e-300)));
  }
  return row;
}

// An attention name of --attention: favor+, favor++, favor#, window, or a positive random-feature
// kind (favor attention with those features: sderf, aderf, gerf, ...).
runtime::AttentionConfig AttentionFor(const Configuration& c) {
  runtime::AttentionConfig config;
  config.features = c.features > 0 ? c.features : 256;
  config.window = c.window;
  config.sinks = c.sinks;
  config.stats = c.stats;
  const std::string& name = c.attention;
  if (name == "favor+" || name == "favor++" || name == "favor#" || name == "window") {
    config.kind = name;
  } else {
    config.kind = "favor#";
    config.rf = name;
  }
  return config;
}

// "-" for a count an attention does not have.
std::string OrDash(int64_t value, int64_t none) {
  return value == none ? std::string("-") : absl::StrCat(value);
}

struct ReportHeader {
  std::string model, text, statistics;
  int64_t predicted = 0, windows = 0, context = 0, stride = 0, layers = 0;
  bool layer_errors = false;
};

std::string MarkdownReport(const ReportHeader& h, const std::vector<EvalRow>& rows) {
  std::string report = absl::StrFormat(
      "%s on %s: %d predicted tokens in %d window(s) of up to %d%s, statistics %s\n\n"
      "| attention | M | window | sinks | statistics | perplexity | KL mean (nats) | KL p99 | "
      "top-1 agreement |\n| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n",
      h.model, h.text, h.predicted, h.windows, h.context,
      h.stride < h.context - 1 ? absl::StrCat(", stride ", h.stride) : "", h.statistics);
  for (const EvalRow& row : rows) {
    const Configuration& c = row.configuration;
    absl::StrAppendFormat(&report, "| %s | %s | %s | %s | %s | %.3f | %.4f | %.4f | %.1f %% |\n",
                          c.attention, OrDash(c.features, 0), OrDash(c.window, -1),
                          OrDash(c.sinks, -1), c.stats.empty() ? "-" : c.stats, row.perplexity,
                          row.mean_kl, row.p99_kl, 100 * row.top1);
  }
  if (h.layer_errors) {
    report +=
        "\nrelative error of the attention output, ||approx - exact|| / ||exact||, with only "
        "that layer swapped\n\n| attention | M |";
    for (int64_t layer = 0; layer < h.layers; ++layer)
      absl::StrAppend(&report, " layer ", layer, " |");
    report += "\n| --- | ---: |";
    for (int64_t layer = 0; layer < h.layers; ++layer) report += " ---: |";
    report += "\n";
    for (const EvalRow& row : rows) {
      if (row.exact()) continue;
      absl::StrAppendFormat(&report, "| %s | %d |", row.configuration.attention,
                            row.configuration.features);
      for (double e : row.layer_errors) absl::StrAppendFormat(&report, " %.4f |", e);
      report += "\n";
    }
  }
  return report;
}

std::string CsvReport(const ReportHeader& h, const std::vector<EvalRow>& rows) {
  std::string report =
      "model,text,tokens,attention,features,window,sinks,statistics,perplexity,mean_kl,p99_kl,"
      "top1_agreement";
  for (int64_t layer = 0; layer < (h.layer_errors ? h.layers : 0); ++layer) {
    absl::StrAppend(&report, ",layer", layer, "_attention_rel_error");
  }
  report += "\n";
  auto or_empty = [](int64_t value, int64_t none) {
    return value == none ? std::string() : absl::StrCat(value);
  };
  for (const EvalRow& row : rows) {
    const Configuration& c = row.configuration;
    absl::StrAppendFormat(&report, "%s,%s,%d,%s,%s,%s,%s,%s,%.6f,%.6f,%.6f,%.6f", CsvField(h.model),
                          CsvField(h.text), h.predicted, CsvField(c.attention),
                          or_empty(c.features, 0), or_empty(c.window, -1), or_empty(c.sinks, -1),
                          CsvField(c.stats), row.perplexity, row.mean_kl, row.p99_kl, row.top1);
    for (int64_t layer = 0; layer < (h.layer_errors ? h.layers : 0); ++layer) {
      absl::StrAppendFormat(&report, ",%.6f",
                            row.exact() ? 0.0 : row.layer_errors[static_cast<size_t>(layer)]);
    }
    report += "\n";
  }
  return report;
}

std::string JsonReport(const ReportHeader& h, const std::vector<EvalRow>& rows) {
  std::string report = absl::StrFormat(
      "{\n  \"model\": %s,\n  \"text\": %s,\n  \"predicted_tokens\": %d,\n  \"windows\": %d,\n"
      "  \"context\": %d,\n  \"stride\": %d,\n  \"results\": [",
      JsonString(h.model), JsonString(h.text), h.predicted, h.windows, h.context, h.stride);
  auto or_null = [](int64_t value, int64_t none) {
    return value == none ? std::string("null") : absl::StrCat(value);
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const EvalRow& row = rows[i];
    const Configuration& c = row.configuration;
    absl::StrAppendFormat(
        &report,
        "%s\n    {\"attention\": %s, \"features\": %s, \"window\": %s, \"sinks\": %s, "
        "\"statistics\": %s, \"perplexity\": %.6f, \"mean_kl\": %.6f, \"p99_kl\": %.6f, "
        "\"top1_agreement\": %.6f",
        i == 0 ? "" : ",", JsonString(c.attention), or_null(c.features, 0), or_null(c.window, -1),
        or_null(c.sinks, -1), c.stats.empty() ? "null" : JsonString(c.stats), row.perplexity,
        row.mean_kl, row.p99_kl, row.top1);
    if (h.layer_errors && !row.exact()) {
      std::vector<std::string> errors;
      for (double e : row.layer_errors) errors.push_back(absl::StrFormat("%.6f", e));
      absl::StrAppend(&report, ", \"layer_errors\": [", absl::StrJoin(errors, ", "), "]");
    }
    report += "}";
  }
  report += "\n  ]\n}\n";
  return report;
}

// Mean KL against M, one line per attention, window and statistics; the window-only baselines
// (no M) are flat lines across the measured M, the frontier the others must beat.
std::string KlPlot(const std::string& model_path, const std::vector<EvalRow>& rows) {
  std::vector<PlotSeries> series;
  double min_m = 0, max_m = 0;
  for (const EvalRow& row : rows) {
    const int64_t m = row.configuration.features;
    if (m <= 0) continue;
    min_m = min_m == 0 ? static_cast<double>(m) : std::min(min_m, static_cast<double>(m));
    max_m = std::max(max_m, static_cast<double>(m));
  }
  auto series_for = [&](const std::string& name) -> PlotSeries& {
    auto it = std::find_if(series.begin(), series.end(),
                           [&](const PlotSeries& s) { return s.name == name; });
    if (it != series.end()) return *it;
    series.push_back({.name = name, .points = {}});
    return series.back();
  };
  for (const EvalRow& row : rows) {
    const Configuration& c = row.configuration;
    if (row.exact()) continue;
    std::string name = c.attention;
    if (c.window >= 0) absl::StrAppend(&name, " W=", c.window, " S=", c.sinks);
    if (c.stats == "causal") absl::StrAppend(&name, " causal");
    if (c.features > 0) {
      series_for(name).points.emplace_back(static_cast<double>(c.features), row.mean_kl);
    } else if (max_m > 0) {  // Window-only: the same KL at every M.
      PlotSeries& flat = series_for(name + " (no tail)");
      flat.points = {{min_m, row.mean_kl}, {max_m, row.mean_kl}};
      flat.dashed = true;
    }
  }
  return LineChartSvg(
      series, {.title = absl::StrCat("KL(exact || approximate) against M (",
                                     model_path.substr(model_path.find_last_of('/') + 1), ")"),
               .x_label = "random features per head M",
               .y_label = "mean KL per token (nats)",
               .log_x = true,
               .log_y = true});
}

}  // namespace

int Eval(int argc, char** argv) {
  std::string model_path, text_path, tokenizer_path,
      attention_list = "favor+,favor++,favor#", feature_list = "64,256,1024",
      stats_list = "calibrated", calibrate_on, output = "md", plot_path;
  int64_t context = 0, threads = 0, max_tokens = 0, favor_seed = 0, chunk = 64, stride = 0;
  bool layer_errors = false;
  std::string window_list, sink_list, plan_list;
  ArgParser args("eval");
  args.String({"-m", "--model"}, "PATH", "model file or directory", &model_path);
  args.String({"-f", "--file"}, "TEXT", "text to evaluate on", &text_path);
  args.String({"--tokenizer"}, "PATH", "tokenizer (default: the model's own)", &tokenizer_path);
  args.String({"--attention"}, "LIST",
              "approximate attentions: favor+,favor++,favor#, window (the window-only baseline) "
              "or random-feature kinds (sderf, aderf, ...); exact alone: perplexity only, no "
              "statistics (default favor+,favor++,favor#)",
              &attention_list);
  args.String({"--features"}, "LIST", "random features per head M (default 64,256,1024)",
              &feature_list);
  args.String({"--favor-stats"}, "LIST",
              "statistics, each evaluated: calibrated (MODEL.favor-stats, default), FILE, or "
              "causal (hybrid rows: the sequence's tokens before the first leaves the window)",
              &stats_list);
  args.String({"--calibrate-on"}, "TEXT", "gather the calibrated statistics from this text first",
              &calibrate_on);
  args.Int({"--favor-seed"}, "N", "seed of the random projections (default 0)", &favor_seed,
           {.min = 0});
  args.Int({"--favor-chunk"}, "C", "prefill chunk of the causal prefix sums (default 64)", &chunk,
           {.min = 1, .max = 4096});
  args.Int({"-c", "--ctx-size"}, "N",
           "window: the text is scored in windows of N tokens (default: the model's context)",
           &context, {.min = 0});
  args.Int({"--stride"}, "S",
           "start a window every S tokens; each scores only the tokens past its overlap with the "
           "one before (default: N - 1, no overlap)",
           &stride, {.min = 1});
  args.Int({"--max-tokens"}, "N", "score at most the first N tokens of the text (default: all)",
           &max_tokens, {.min = 0});
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads,
           {.min = 0, .max = 4096});
  args.String({"-o", "--output"}, "md|csv|json", "output format (default md)", &output);
  args.String({"--plot"}, "FILE.svg",
              "write mean KL against M, one line per attention (window-only baselines flat)",
              &plot_path);
  args.String({"--window"}, "LIST",
              "hybrid attention: exact windows W to evaluate each attention with (e.g. 0,16,64); "
              "the attention 'window' is the window-only baseline (older tokens dropped)",
              &window_list);
  args.String({"--sinks"}, "LIST",
              "hybrid attention: exact sink tokens S (default 4 with --window)", &sink_list);
  args.String({"--favor-plan"}, "LIST",
              "also evaluate per-head hybrid plans (favor calibrate --plan): calibrated "
              "(MODEL.favor-stats) or statistics files, each run at every M with its own "
              "statistics and tail kind",
              &plan_list);
  args.Flag({"--layer-errors"},
            "also the relative error of each layer's attention output with only that layer "
            "swapped (one more run per layer)",
            &layer_errors);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty() || text_path.empty()) {
    std::fprintf(stderr, "favor eval: -m PATH and -f TEXT are required\n\n%s",
                 args.Usage().c_str());
    return 2;
  }
  if (output != "md" && output != "csv" && output != "json") {
    return UsageError(absl::StrCat("-o must be md, csv or json, got '", output, "'"));
  }
  if (context == 1) return UsageError("-c must be at least 2 (BOS and one token to predict)");

  // The grid: approximate configurations (exact is always the reference row).
  auto attentions = ParseStringList(attention_list, "--attention");
  if (!attentions.ok()) return UsageError(std::string(attentions.status().message()));
  std::erase(*attentions, "exact");
  auto features = ParseIntList(feature_list, "--features");
  if (!features.ok()) return UsageError(std::string(features.status().message()));
  auto stats_sources = ParseStringList(stats_list, "--favor-stats");
  if (!stats_sources.ok()) return UsageError(std::string(stats_sources.status().message()));
  for (const std::string& source : *stats_sources) {
    if (source == "prompt" || source == "sequence") {
      return UsageError(
          "--favor-stats: eval compares strictly causal attention: calibrated, "
          "causal (hybrid) or FILE");
    }
  }
  std::vector<int64_t> windows_to_run = {-1}, sinks_to_run = {-1};
  if (!window_list.empty() || !sink_list.empty()) {
    auto parsed_windows = ParseIntList(window_list.empty() ? "64" : window_list, "--window");
    auto parsed_sinks = ParseIntList(sink_list.empty() ? "4" : sink_list, "--sinks");
    if (!parsed_windows.ok()) return UsageError(std::string(parsed_windows.status().message()));
    if (!parsed_sinks.ok()) return UsageError(std::string(parsed_sinks.status().message()));
    windows_to_run = *parsed_windows;
    sinks_to_run = *parsed_sinks;
    for (int64_t value : windows_to_run) {
      if (value < 0) return UsageError("--window takes sizes >= 0");
    }
    for (int64_t value : sinks_to_run) {
      if (value < 0) return UsageError("--sinks takes counts >= 0");
    }
  }
  for (const std::string& name : *attentions) {
    if (name == "favor+" || name == "favor++" || name == "favor#" || name == "window") continue;
    auto kind = rf::ParseRfKind(name);
    if (!kind.ok() || !rf::IsPositive(*kind)) {
      return UsageError(absl::StrCat("--attention: '", name,
                                     "' is not exact, favor+, favor++, favor#, window or a "
                                     "positive random-feature kind (posrf, gerf, oprf, saderf, "
                                     "aderf, sderf)"));
    }
  }
  std::vector<Configuration> configurations;
  if (!plan_list.empty()) {
    auto plans = ParseStringList(plan_list, "--favor-plan");
    if (!plans.ok()) return UsageError(std::string(plans.status().message()));
    for (const std::string& plan : *plans) {
      const std::string path =
          plan == "calibrated" ? runtime::DefaultCalibrationPath(model_path) : plan;
      auto loaded = rf::LoadCalibration(path);
      if (!loaded.ok()) {
        return Fail(WithContext(
            loaded.status(),
            absl::StrCat("hybrid plan (run favor calibrate -m ", model_path, " --plan)")));
      }
      if (!loaded->plan.has_value()) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat("'", path, "' holds no hybrid plan (favor calibrate --plan)")));
      }
      const std::string name =
          absl::StrCat("plan(", rf::RfKindName(loaded->plan->kind), ",", loaded->plan->budget, ")");
      for (int64_t m : *features) {
        configurations.push_back({.attention = name,
                                  .features = m,
                                  .window = std::llround(loaded->plan->MeanCost()),
                                  .sinks = loaded->plan->sinks,
                                  .stats = path,
                                  .plan = path});
      }
    }
  }
  for (const std::string& name : *attentions) {
    for (int64_t exact_window : windows_to_run) {
      for (int64_t sinks : sinks_to_run) {
        // The window-only baseline has no features or statistics, and no window at W = 0.
        if (name == "window" && exact_window == 0) continue;
        if (name == "window") {
          configurations.push_back({.attention = name, .window = exact_window, .sinks = sinks});
          continue;
        }
        for (const std::string& source : *stats_sources) {
          if (source == "causal" && exact_window < 0) {
            return UsageError(absl::StrCat(
                "--favor-stats causal needs hybrid attention: give --window (", name, ")"));
          }
          for (int64_t m : *features) {
            configurations.push_back({.attention = name,
                                      .features = m,
                                      .window = exact_window,
                                      .sinks = sinks,
                                      .stats = source});
          }
        }
      }
    }
  }

  auto text = ReadTextFile(text_path);
  if (!text.ok()) return Fail(text.status());
  runtime::LoadOptions exact_load{.tokenizer_path = tokenizer_path, .all_logits = true};
  if (!calibrate_on.empty()) exact_load.tap_statistics = true;
  exact_load.attention_outputs = layer_errors;
  auto exact_model = runtime::Model::Load(model_path, exact_load);
  if (!exact_model.ok()) return Fail(exact_model.status());
  const text::Tokenizer& tokenizer = (*exact_model)->tokenizer();
  // With --layer-errors a window is one run, so that the attention outputs of all its tokens are
  // there to compare at the end of it.
  const runtime::SessionOptions session_options{
      .context = context,
      .threads = static_cast<int>(threads),
      .max_batch = layer_errors ? std::numeric_limits<int64_t>::max() : 512};
  auto exact_session = runtime::Session::Create(**exact_model, session_options);
  if (!exact_session.ok()) return Fail(exact_session.status());
  const int64_t window_length = (*exact_session)->context();
  WarnBeyondTrainedContext("eval", window_length, (*exact_model)->config().max_seq_len);
  if (stride == 0) stride = window_length - 1;
  if (stride > window_length - 1) {
    return UsageError(absl::StrCat("--stride ", stride, " is longer than a window's ",
                                   window_length - 1, " tokens: tokens would go unscored"));
  }

  // Calibrated statistics, read (or gathered) once before any scoring, when a row needs them.
  std::shared_ptr<const rf::Calibration> calibration;
  const bool needs_calibration =
      std::any_of(configurations.begin(), configurations.end(),
                  [](const Configuration& c) { return c.plan.empty() && c.stats == "calibrated"; });
  if (!calibrate_on.empty()) {
    auto calibration_text = ReadTextFile(calibrate_on);
    if (!calibration_text.ok()) return Fail(calibration_text.status());
    auto ids = tokenizer.Encode(*calibration_text, false);
    if (!ids.ok()) return Fail(ids.status());
    if (ids->empty()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("'", calibrate_on, "' holds no text")));
    }
    for (const TextWindow& piece :
         Windows(*ids, tokenizer.bos_id(), window_length, window_length - 1)) {
      (*exact_session)->Reset();
      if (auto fed = (*exact_session)->Feed(piece.tokens); !fed.ok()) return Fail(fed.status());
    }
    // A copy: the tap goes on recording while the exact model scores the text below.
    calibration = std::make_shared<const rf::Calibration>(*(*exact_model)->statistics());
  } else if (needs_calibration) {
    const std::string path = runtime::DefaultCalibrationPath(model_path);
    auto loaded = rf::LoadCalibration(path);
    if (!loaded.ok()) {
      return Fail(WithContext(loaded.status(),
                              absl::StrCat("calibration statistics (run favor calibrate -m ",
                                           model_path, ", or pass --calibrate-on TEXT)")));
    }
    calibration = std::make_shared<const rf::Calibration>(*std::move(loaded));
  }

  WarnUnrepresentable("eval", tokenizer, *text);
  auto ids = tokenizer.Encode(*text, false);
  if (!ids.ok()) return Fail(ids.status());
  if (max_tokens > 0 && static_cast<int64_t>(ids->size()) > max_tokens) {
    ids->resize(static_cast<size_t>(max_tokens));
  }
  if (ids->empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("'", text_path, "' holds no text")));
  }
  const auto windows = Windows(*ids, tokenizer.bos_id(), window_length, stride);
  auto reference = ScoreExact(**exact_session, windows, layer_errors);
  if (!reference.ok()) return Fail(reference.status());
  std::vector<EvalRow> rows = {reference->row};
  (*exact_session).reset();  // Its KV cache is not needed any more.

  const ScoringSetup setup{.model_path = model_path,
                           .load = {.tokenizer_path = tokenizer_path, .all_logits = true},
                           .session = session_options,
                           .layers = (*exact_model)->config().n_layers,
                           .layer_errors = layer_errors};
  for (const Configuration& configuration : configurations) {
    runtime::LoadOptions load = setup.load;
    if (configuration.plan.empty()) {
      load.attention = AttentionFor(configuration);
      if (configuration.stats == "calibrated") {
        load.attention.stats.clear();
        load.attention.calibration = calibration;
      }
    } else {  // The plan's windows, sinks, tail kind and statistics.
      load.attention.features = configuration.features;
      load.attention.plan = configuration.plan;
    }
    load.attention.seed = static_cast<uint64_t>(favor_seed);
    load.attention.chunk = chunk;
    auto row = ScoreConfiguration(setup, load, configuration, windows, *reference);
    if (!row.ok()) {
      return Fail(WithContext(
          row.status(), absl::StrCat(configuration.attention, " M=", configuration.features)));
    }
    std::fprintf(
        stderr, "favor eval: %s%s%s%s: KL %.4f\n", configuration.attention.c_str(),
        configuration.features > 0 ? absl::StrCat(" M=", configuration.features).c_str() : "",
        configuration.window >= 0
            ? absl::StrCat(" W=", configuration.window, " S=", configuration.sinks).c_str()
            : "",
        configuration.stats.empty() ? "" : (" " + configuration.stats).c_str(), row->mean_kl);
    rows.push_back(*std::move(row));
  }

  const ReportHeader header{
      .model = model_path,
      .text = text_path,
      .statistics = configurations.empty() ? std::string("none (exact attention only)")
                    : calibrate_on.empty() ? stats_list
                                           : absl::StrCat("calibrated on ", calibrate_on),
      .predicted = reference->predicted,
      .windows = static_cast<int64_t>(windows.size()),
      .context = window_length,
      .stride = stride,
      .layers = setup.layers,
      .layer_errors = layer_errors};
  const std::string report = output == "csv"    ? CsvReport(header, rows)
                             : output == "json" ? JsonReport(header, rows)
                                                : MarkdownReport(header, rows);
  std::fputs(report.c_str(), stdout);
  if (!plot_path.empty()) {
    if (configurations.empty()) {
      return Fail(absl::InvalidArgumentError("--plot: exact attention alone has no KL to plot"));
    }
    std::ofstream plot(plot_path);
    plot << KlPlot(model_path, rows);
    if (!plot) return Fail(absl::PermissionDeniedError(absl::StrCat("cannot write ", plot_path)));
  }
  return 0;
}

}  // namespace favor::cli
