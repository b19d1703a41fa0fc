// favor eval: how far random-feature attention is from exact on a text. The exact model's
// next-token distributions are computed once; each approximate attention (kind x M) is then
// scored against them: perplexity, KL(exact || approximate) mean and 99th percentile, and top-1
// agreement. Features come from calibrated statistics (strictly causal): MODEL.favor-stats, a
// FILE, or --calibrate-on TEXT to gather them here from another text.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/core/status.h"
#include "engine/rf/calibration.h"
#include "engine/rf/positive.h"
#include "engine/runtime/model.h"
#include "engine/runtime/scoring.h"
#include "engine/runtime/session.h"
#include "tools/bench_report.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/svg_plot.h"

namespace favor::cli {
namespace {

int Fail(const absl::Status& status) { return PrintFailure("eval", status); }
int UsageError(const std::string& message) { return PrintUsageError("eval", message); }

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text as windows of the context, each starting with BOS like a prompt.
std::vector<std::vector<int32_t>> Windows(const std::vector<int32_t>& ids, int32_t bos,
                                          int64_t context) {
  std::vector<std::vector<int32_t>> windows;
  const auto step = static_cast<size_t>(context - 1);
  for (size_t begin = 0; begin < ids.size(); begin += step) {
    std::vector<int32_t> window = {bos};
    const size_t end = std::min(ids.size(), begin + step);
    window.insert(window.end(), ids.begin() + static_cast<std::ptrdiff_t>(begin),
                  ids.begin() + static_cast<std::ptrdiff_t>(end));
    windows.push_back(std::move(window));
  }
  return windows;
}

// An attention name on the command line: favor+, favor++, favor#, or a positive random-feature
// kind (favor attention with those features: sderf, aderf, gerf, ...).
runtime::AttentionConfig ConfigFor(const std::string& name, int64_t features, int64_t window,
                                   int64_t sinks) {
  runtime::AttentionConfig config;
  config.features = features;
  config.window = window;
  config.sinks = sinks;
  if (name == "favor+" || name == "favor++" || name == "favor#" || name == "window") {
    config.kind = name;
  } else {
    config.kind = "favor#";
    config.rf = name;
  }
  return config;
}

struct EvalRow {
  std::string attention;
  int64_t features = 0;  // 0: exact.
  int64_t window = -1;   // Hybrid: the exact window and sinks (-1: pure random features).
  int64_t sinks = -1;
  double perplexity = 0;
  double mean_kl = 0, p99_kl = 0, top1 = 1;
  std::vector<double> layer_errors;  // --layer-errors: per layer, that layer swapped alone.
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

// Scores every window with one model; `reference` (exact) distributions given for comparison.
struct Scored {
  double nll_sum = 0;
  int64_t nll_count = 0;
  std::vector<double> kl;
  int64_t agree = 0, positions = 0;
};

}  // namespace

int Eval(int argc, char** argv) {
  std::string model_path, text_path, tokenizer_path,
      attention_list = "favor+,favor++,favor#", feature_list = "64,256,1024", stats = "calibrated",
      calibrate_on, output = "md", plot_path;
  int64_t context = 0, threads = 0, max_tokens = 0, favor_seed = 0, chunk = 64;
  bool layer_errors = false;
  std::string window_list, sink_list;
  ArgParser args("eval");
  args.String({"-m", "--model"}, "PATH", "model file or directory", &model_path);
  args.String({"-f", "--file"}, "TEXT", "text to evaluate on", &text_path);
  args.String({"--tokenizer"}, "PATH", "tokenizer (default: the model's own)", &tokenizer_path);
  args.String({"--attention"}, "LIST",
              "approximate attentions: favor+,favor++,favor# or random-feature kinds "
              "(sderf, aderf, ...) (default favor+,favor++,favor#)",
              &attention_list);
  args.String({"--features"}, "LIST", "random features per head M (default 64,256,1024)",
              &feature_list);
  args.String({"--favor-stats"}, "SRC", "calibrated (MODEL.favor-stats, default) | FILE", &stats);
  args.String({"--calibrate-on"}, "TEXT", "gather the statistics from this text first",
              &calibrate_on);
  args.Int({"--favor-seed"}, "N", "seed of the random projections (default 0)", &favor_seed);
  args.Int({"--favor-chunk"}, "C", "prefill chunk of the causal prefix sums (default 64)", &chunk);
  args.Int({"-c", "--ctx-size"}, "N",
           "window: the text is scored in windows of N tokens (default: "
           "the model's context)",
           &context);
  args.Int({"--max-tokens"}, "N", "score at most the first N tokens of the text (default: all)",
           &max_tokens);
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads);
  args.String({"-o", "--output"}, "md|csv", "output format (default md)", &output);
  args.String({"--plot"}, "FILE.svg", "write mean KL against M, one line per attention",
              &plot_path);
  args.String({"--window"}, "LIST",
              "hybrid attention: exact windows W to evaluate each attention with (e.g. 0,16,64); "
              "the attention 'window' is the window-only baseline (older tokens dropped)",
              &window_list);
  args.String({"--sinks"}, "LIST",
              "hybrid attention: exact sink tokens S (default 4 with --window)", &sink_list);
  std::string plan_list;
  args.String({"--favor-plan"}, "LIST",
              "also evaluate per-head hybrid plans (favor calibrate --plan): statistics files, "
              "each run at every M with its own statistics and tail kind",
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
  if (output != "md" && output != "csv") {
    return UsageError(absl::StrCat("-o must be md or csv, got '", output, "'"));
  }
  if (context < 0 || context == 1 || threads < 0 || max_tokens < 0) {
    return UsageError("-c must be at least 2; -t and --max-tokens must not be negative");
  }
  if (stats == "prompt" || stats == "sequence") {
    return UsageError("--favor-stats: eval compares strictly causal attention: calibrated or FILE");
  }
  auto attentions = ParseStringList(attention_list, "--attention");
  if (!attentions.ok()) return UsageError(std::string(attentions.status().message()));
  auto features = ParseIntList(feature_list, "--features");
  if (!features.ok()) return UsageError(std::string(features.status().message()));
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
                                     "' is not favor+, favor++, favor#, window or a positive "
                                     "random-feature kind (posrf, gerf, oprf, saderf, aderf, "
                                     "sderf)"));
    }
  }
  auto text = ReadText(text_path);
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
  const int64_t window = (*exact_session)->context();

  std::shared_ptr<const rf::Calibration> calibration;
  if (!calibrate_on.empty()) {
    auto calibration_text = ReadText(calibrate_on);
    if (!calibration_text.ok()) return Fail(calibration_text.status());
    auto ids = tokenizer.Encode(*calibration_text, false);
    if (!ids.ok()) return Fail(ids.status());
    if (ids->empty())
      return Fail(absl::InvalidArgumentError(absl::StrCat("'", calibrate_on, "' holds no text")));
    for (const auto& piece : Windows(*ids, tokenizer.bos_id(), window)) {
      (*exact_session)->Reset();
      if (auto fed = (*exact_session)->Feed(piece); !fed.ok()) return Fail(fed.status());
    }
    // A copy: the tap goes on recording while the exact model scores the text below.
    calibration = std::make_shared<const rf::Calibration>(*(*exact_model)->statistics());
  }

  if (calibration == nullptr) {  // Read once, before any work, for every attention below.
    const std::string path =
        stats == "calibrated" ? runtime::DefaultCalibrationPath(model_path) : stats;
    auto loaded = rf::LoadCalibration(path);
    if (!loaded.ok()) {
      return Fail(WithContext(loaded.status(),
                              absl::StrCat("calibration statistics (run favor calibrate -m ",
                                           model_path, ", or pass --calibrate-on TEXT)")));
    }
    calibration = std::make_shared<const rf::Calibration>(*std::move(loaded));
  }

  auto ids = tokenizer.Encode(*text, false);
  if (!ids.ok()) return Fail(ids.status());
  if (max_tokens > 0 && static_cast<int64_t>(ids->size()) > max_tokens) {
    ids->resize(static_cast<size_t>(max_tokens));
  }
  if (ids->empty())
    return Fail(absl::InvalidArgumentError(absl::StrCat("'", text_path, "' holds no text")));
  const auto windows = Windows(*ids, tokenizer.bos_id(), window);

  // Exact distributions, once.
  std::vector<runtime::NextTokenDistributions> reference;
  AttentionOutputs exact_attention;
  EvalRow exact_row{.attention = "exact"};
  double nll = 0;
  int64_t predicted = 0;
  for (const auto& piece : windows) {
    (*exact_session)->Reset();
    auto scored = runtime::ScoreTokens(**exact_session, piece);
    if (!scored.ok()) return Fail(scored.status());
    nll +=
        runtime::MeanNegativeLogLikelihood(*scored, piece) * static_cast<double>(piece.size() - 1);
    predicted += static_cast<int64_t>(piece.size()) - 1;
    reference.push_back(*std::move(scored));
    if (layer_errors) exact_attention.push_back(CopyAttentionOutputs((*exact_session)->executor()));
  }
  const int64_t n_layers = (*exact_model)->config().n_layers;
  if (predicted == 0)
    return Fail(absl::InvalidArgumentError("the text has a single token: nothing to predict"));
  exact_row.perplexity = std::exp(nll / static_cast<double>(predicted));
  exact_row.mean_kl = exact_row.p99_kl = 0;
  std::vector<EvalRow> rows = {exact_row};
  (*exact_session).reset();  // Its KV cache is not needed any more.

  struct Configuration {
    std::string name;
    int64_t features, window, sinks;
    std::string plan;  // A statistics file with a per-head plan.
  };
  std::vector<Configuration> configurations;
  if (!plan_list.empty()) {
    auto plans = ParseStringList(plan_list, "--favor-plan");
    if (!plans.ok()) return UsageError(std::string(plans.status().message()));
    for (const std::string& path : *plans) {
      auto loaded = rf::LoadCalibration(path);
      if (!loaded.ok()) return Fail(loaded.status());
      if (!loaded->plan.has_value()) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat("'", path, "' holds no hybrid plan (favor calibrate --plan)")));
      }
      const std::string name =
          absl::StrCat("plan(", rf::RfKindName(loaded->plan->kind), ",", loaded->plan->budget, ")");
      for (int64_t m : *features) {
        configurations.push_back(
            {name, m, std::llround(loaded->plan->MeanCost()), loaded->plan->sinks, path});
      }
    }
  }
  for (const std::string& name : *attentions) {
    for (int64_t exact_window : windows_to_run) {
      for (int64_t sinks : sinks_to_run) {
        // The window-only baseline has no features, and no window at W = 0.
        if (name == "window" && exact_window == 0) continue;
        for (int64_t m : name == "window" ? std::vector<int64_t>{0} : *features) {
          configurations.push_back({name, m, exact_window, sinks});
        }
      }
    }
  }
  for (const Configuration& configuration : configurations) {
    {
      const std::string& name = configuration.name;
      const int64_t m = configuration.features;
      runtime::LoadOptions load{.tokenizer_path = tokenizer_path, .all_logits = true};
      if (configuration.plan.empty()) {
        load.attention =
            ConfigFor(name, m > 0 ? m : 256, configuration.window, configuration.sinks);
        load.attention.stats = stats;
        load.attention.calibration = calibration;
      } else {  // The plan's windows, sinks, tail kind and statistics.
        load.attention.features = m;
        load.attention.plan = configuration.plan;
      }
      load.attention.seed = static_cast<uint64_t>(favor_seed);
      load.attention.chunk = chunk;
      auto model = runtime::Model::Load(model_path, load);
      if (!model.ok()) return Fail(WithContext(model.status(), absl::StrCat(name, " M=", m)));
      auto session = runtime::Session::Create(**model, session_options);
      if (!session.ok()) return Fail(session.status());
      Scored total;
      for (size_t w = 0; w < windows.size(); ++w) {
        (*session)->Reset();
        auto scored = runtime::ScoreTokens(**session, windows[w]);
        if (!scored.ok()) return Fail(scored.status());
        auto compared = runtime::CompareDistributions(reference[w], *scored);
        if (!compared.ok()) return Fail(compared.status());
        const auto count = static_cast<int64_t>(windows[w].size());
        total.nll_sum += runtime::MeanNegativeLogLikelihood(*scored, windows[w]) *
                         static_cast<double>(count - 1);
        total.nll_count += count - 1;
        total.kl.insert(total.kl.end(), compared->kl.begin(), compared->kl.end());
        total.agree += compared->top1_matches;
        total.positions += count;
      }
      EvalRow row{.attention = name,
                  .features = m,
                  .window = configuration.window,
                  .sinks = configuration.sinks};
      row.perplexity = std::exp(total.nll_sum / static_cast<double>(total.nll_count));
      row.mean_kl = runtime::Mean(total.kl);
      row.p99_kl = runtime::Percentile(total.kl, 0.99);
      row.top1 = static_cast<double>(total.agree) / static_cast<double>(total.positions);
      for (int64_t layer = 0; layer < (layer_errors ? n_layers : 0); ++layer) {
        runtime::LoadOptions one = load;
        one.attention.layers = {layer};
        one.attention_outputs = true;
        auto swapped = runtime::Model::Load(model_path, one);
        if (!swapped.ok()) return Fail(swapped.status());
        auto swapped_session = runtime::Session::Create(**swapped, session_options);
        if (!swapped_session.ok()) return Fail(swapped_session.status());
        double error = 0, norm = 0;
        for (size_t w = 0; w < windows.size(); ++w) {
          (*swapped_session)->Reset();
          if (auto fed = (*swapped_session)->Feed(windows[w]); !fed.ok()) return Fail(fed.status());
          const Tensor& approx =
              (*swapped_session)->executor().output(1 + static_cast<size_t>(layer));
          const std::vector<float>& exact = exact_attention[w][static_cast<size_t>(layer)];
          for (size_t i = 0; i < exact.size(); ++i) {
            const double diff = static_cast<double>(approx.data<float>()[i]) - exact[i];
            error += diff * diff;
            norm += static_cast<double>(exact[i]) * exact[i];
          }
        }
        row.layer_errors.push_back(std::sqrt(error / std::max(norm, 1e-300)));
      }
      std::fprintf(stderr, "favor eval: %s M=%lld%s: KL %.4f\n", name.c_str(),
                   static_cast<long long>(m),
                   row.window >= 0 ? absl::StrCat(" W=", row.window, " S=", row.sinks).c_str() : "",
                   row.mean_kl);
      rows.push_back(row);
    }
  }

  std::string report;
  if (output == "csv") {
    report =
        "model,text,tokens,attention,features,window,sinks,perplexity,mean_kl,p99_kl,"
        "top1_agreement";
    for (int64_t layer = 0; layer < (layer_errors ? n_layers : 0); ++layer) {
      absl::StrAppend(&report, ",layer", layer, "_attention_rel_error");
    }
    report += "\n";
    for (const EvalRow& row : rows) {
      absl::StrAppendFormat(&report, "%s,%s,%d,%s,%d,%d,%d,%.6f,%.6f,%.6f,%.6f", model_path,
                            text_path, predicted, row.attention, row.features, row.window,
                            row.sinks, row.perplexity, row.mean_kl, row.p99_kl, row.top1);
      for (int64_t layer = 0; layer < (layer_errors ? n_layers : 0); ++layer) {
        absl::StrAppendFormat(
            &report, ",%.6f",
            row.attention == "exact" ? 0.0 : row.layer_errors[static_cast<size_t>(layer)]);
      }
      report += "\n";
    }
  } else {
    report = absl::StrFormat(
        "%s on %s: %d predicted tokens in %d window(s) of up to %d, statistics %s\n\n"
        "| attention | M | window | sinks | perplexity | KL mean (nats) | KL p99 | top-1 agreement "
        "|\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        model_path, text_path, predicted, windows.size(), window,
        calibrate_on.empty() ? stats : absl::StrCat("calibrated on ", calibrate_on));
    for (const EvalRow& row : rows) {
      auto or_dash = [](int64_t v, int64_t none) {
        return v == none ? std::string("-") : absl::StrCat(v);
      };
      absl::StrAppendFormat(&report, "| %s | %s | %s | %s | %.3f | %.4f | %.4f | %.1f %% |\n",
                            row.attention, or_dash(row.features, 0), or_dash(row.window, -1),
                            or_dash(row.sinks, -1), row.perplexity, row.mean_kl, row.p99_kl,
                            100 * row.top1);
    }
    if (layer_errors) {
      report +=
          "\nrelative error of the attention output, ||approx - exact|| / ||exact||, with only "
          "that layer swapped\n\n| attention | M |";
      for (int64_t layer = 0; layer < n_layers; ++layer)
        absl::StrAppend(&report, " layer ", layer, " |");
      report += "\n| --- | ---: |";
      for (int64_t layer = 0; layer < n_layers; ++layer) report += " ---: |";
      report += "\n";
      for (const EvalRow& row : rows) {
        if (row.attention == "exact") continue;
        absl::StrAppendFormat(&report, "| %s | %d |", row.attention, row.features);
        for (double e : row.layer_errors) absl::StrAppendFormat(&report, " %.4f |", e);
        report += "\n";
      }
    }
  }
  std::fputs(report.c_str(), stdout);
  if (!plot_path.empty()) {
    // One line per attention and window/sinks pair (the window-only baseline has no M: skipped).
    std::vector<PlotSeries> series;
    for (const EvalRow& row : rows) {
      if (row.attention == "exact" || row.features == 0) continue;
      const std::string name =
          row.window < 0 ? row.attention
                         : absl::StrCat(row.attention, " W=", row.window, " S=", row.sinks);
      auto it = std::find_if(series.begin(), series.end(),
                             [&](const PlotSeries& s) { return s.name == name; });
      if (it == series.end()) {
        series.push_back({.name = name, .points = {}});
        it = series.end() - 1;
      }
      it->points.emplace_back(static_cast<double>(row.features), row.mean_kl);
    }
    std::ofstream plot(plot_path);
    plot << LineChartSvg(
        series, {.title = absl::StrCat("KL(exact || approximate) against M (",
                                       model_path.substr(model_path.find_last_of('/') + 1), ")"),
                 .x_label = "random features per head M",
                 .y_label = "mean KL per token (nats)",
                 .log_x = true,
                 .log_y = true});
    if (!plot) return Fail(absl::PermissionDeniedError(absl::StrCat("cannot write ", plot_path)));
  }
  return 0;
}

}  // namespace favor::cli
