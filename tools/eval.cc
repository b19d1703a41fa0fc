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

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/graph/attention_statistics.h"
#include "engine/rf/calibration.h"
#include "engine/runtime/attention_memory.h"
#include "engine/runtime/attention_resolution.h"
#include "engine/runtime/model.h"
#include "engine/runtime/scoring.h"
#include "engine/runtime/session.h"
#include "tools/attention_flags.h"
#include "tools/bench_report.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/eval_report.h"
#include "tools/prompt_text.h"

namespace favor::cli {
namespace {

int Fail(const absl::Status& status) { return PrintFailure("eval", status); }
int UsageError(const std::string& message) { return PrintUsageError("eval", message); }

// --- Reading: the text in windows of the context ---

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

absl::StatusOr<std::vector<int32_t>> Tokens(const std::string& text, const std::string& path,
                                            const text::Tokenizer& tokenizer, int64_t max_tokens) {
  FAVOR_ASSIGN_OR_RETURN(auto ids, tokenizer.Encode(text, false));
  WarnUnrepresentable("eval", tokenizer, ids, text);
  if (max_tokens > 0 && static_cast<int64_t>(ids.size()) > max_tokens) {
    ids.resize(static_cast<size_t>(max_tokens));
  }
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat("'", path, "' holds no text"));
  return ids;
}

// --- The grid: what each row runs, and how the report names it ---

struct Configuration {
  AttentionSpec spec;
  EvalConfiguration label;
};

absl::StatusOr<std::vector<Configuration>> Configurations(
    const std::vector<AttentionGridPoint>& grid, const std::string& model_path) {
  std::vector<Configuration> configurations;
  for (const AttentionGridPoint& point : grid) {
    const AttentionSpec& spec = point.spec;
    if (spec.kind == AttentionKind::kExact) continue;  // Always the reference row.
    if (spec.statistics == StatisticsSource::kPrompt) {
      return absl::InvalidArgumentError(
          "--favor-stats: eval compares strictly causal attention: calibrated, causal (hybrid) "
          "or FILE");
    }
    Configuration c{.spec = spec, .label = {.attention = point.name}};
    if (spec.plan != PlanSource::kNone) {
      const std::string path = spec.plan == PlanSource::kCalibrated
                                   ? runtime::DefaultCalibrationPath(model_path)
                                   : spec.plan_file;
      auto loaded = rf::LoadCalibration(path);
      if (!loaded.ok()) {
        return WithContext(loaded.status(), absl::StrCat("hybrid plan (run favor calibrate -m ",
                                                         model_path, " --plan)"));
      }
      if (!loaded->plan.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", path, "' holds no hybrid plan (favor calibrate --plan)"));
      }
      const rf::HybridPlan& plan = *loaded->plan;
      // The plan's largest tail (plans from before per-head tails: every tail at --features);
      // no single window: its mean cost is in the name.
      int64_t largest = plan.head_dim > 0 ? 0 : spec.features;
      for (int64_t layer = 0; layer < plan.layers() && plan.head_dim > 0; ++layer) {
        for (int64_t m : plan.Features(layer)) largest = std::max(largest, m);
      }
      c.label = {// "model": chosen end to end (favor calibrate --plan-objective model).
                 .attention = absl::StrCat("plan(", rf::RfKindName(plan.kind), ",", plan.budget,
                                           plan.calibration_kl >= 0 ? ",model" : "", ")"),
                 .features = largest,
                 .sinks = plan.sinks,
                 .stats = path,
                 .plan = true};
      // A plan with its own tails runs once whatever --features lists.
      const bool seen = std::any_of(
          configurations.begin(), configurations.end(), [&](const Configuration& other) {
            return other.label.plan && other.label.stats == path && plan.head_dim > 0;
          });
      if (!seen) configurations.push_back(std::move(c));
      continue;
    }
    const bool hybrid = spec.kind == AttentionKind::kHybrid ||
                        spec.kind == AttentionKind::kWindow || spec.window.has_value() ||
                        spec.sinks.has_value();
    if (hybrid) {
      c.label.window = spec.window.value_or(kDefaultWindow);
      c.label.sinks = spec.sinks.value_or(kDefaultSinks);
    }
    if (spec.kind != AttentionKind::kWindow) {
      c.label.features = spec.features;
      c.label.stats = StatisticsName(spec);
    }
    configurations.push_back(std::move(c));
  }
  return configurations;
}

// --- Scoring ---

// The exact model's distributions of every window, its perplexity, and (with --layer-errors)
// every attention output: [window][layer] -> T x dim floats.
struct Reference {
  std::vector<runtime::NextTokenDistributions> distributions;
  std::vector<std::vector<std::vector<float>>> attention;
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

// KL per query position in the window (summed over windows), for KL near and far from it.
struct KlByPosition {
  std::vector<double> sum;
  std::vector<int64_t> count;

  void Add(int64_t position, double kl) {
    const auto at = static_cast<size_t>(position);
    if (sum.size() <= at) {
      sum.resize(at + 1, 0.0);
      count.resize(at + 1, 0);
    }
    sum[at] += kl;
    ++count[at];
  }
  // Mean KL of positions [begin, end), and how many rows that is.
  std::pair<double, int64_t> Mean(int64_t begin, int64_t end) const {
    double total = 0;
    int64_t n = 0;
    for (int64_t p = std::max<int64_t>(begin, 0); p < std::min<int64_t>(end, std::ssize(sum));
         ++p) {
      total += sum[static_cast<size_t>(p)];
      n += count[static_cast<size_t>(p)];
    }
    return {n > 0 ? total / static_cast<double>(n) : 0.0, n};
  }
};

// A scored row, with what its equal-memory comparison needs.
struct Scored {
  EvalRow row;
  KlByPosition by_position;
  int64_t state_bytes = 0;  // Of the swapped layers, in total.
  std::shared_ptr<const Graph> graph;
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
  AttentionOutputRecorder outputs(session.executor().graph());
  if (layer_errors) session.executor().SetObserver(&outputs);
  for (const TextWindow& window : windows) {
    session.Reset();
    outputs.Clear();
    FAVOR_ASSIGN_OR_RETURN(auto scored, runtime::ScoreTokens(session, window.tokens));
    AddWindow(tally, scored, window);
    reference.distributions.push_back(std::move(scored));
    if (layer_errors) reference.attention.push_back(outputs.outputs());
  }
  session.executor().SetObserver(nullptr);
  if (tally.predicted == 0) {
    return absl::InvalidArgumentError("the text has a single token: nothing to predict");
  }
  reference.predicted = tally.predicted;
  reference.row.perplexity = std::exp(tally.nll / static_cast<double>(tally.predicted));
  reference.row.mean_kl = reference.row.p99_kl = 0;
  return reference;
}

struct Scoring {
  const runtime::Model* model = nullptr;
  runtime::SessionOptions session;
  std::shared_ptr<const rf::Calibration> calibration;  // For rows with calibrated statistics.
  bool layer_errors = false;
};

absl::StatusOr<runtime::ModelVariant> VariantFor(const Scoring& scoring,
                                                 const AttentionSpec& spec) {
  return scoring.model->Variant(
      spec, runtime::Logits::kAllPositions,
      spec.statistics == StatisticsSource::kCalibrated ? scoring.calibration : nullptr);
}

// ||approx - exact|| / ||exact|| of one layer's attention output with only that layer swapped.
absl::StatusOr<double> LayerError(const Scoring& scoring, AttentionSpec spec, int64_t layer,
                                  const std::vector<TextWindow>& windows,
                                  const Reference& reference) {
  spec.layers = {layer};
  FAVOR_ASSIGN_OR_RETURN(const auto variant, VariantFor(scoring, spec));
  FAVOR_ASSIGN_OR_RETURN(auto session, runtime::Session::Create(variant, scoring.session));
  AttentionOutputRecorder outputs(*variant.graph);
  session->executor().SetObserver(&outputs);
  double error = 0, norm = 0;
  for (size_t w = 0; w < windows.size(); ++w) {
    session->Reset();
    outputs.Clear();
    FAVOR_RETURN_IF_ERROR(session->Feed(windows[w].tokens).status());
    const std::vector<float>& approx = outputs.outputs()[static_cast<size_t>(layer)];
    const std::vector<float>& exact = reference.attention[w][static_cast<size_t>(layer)];
    for (size_t i = 0; i < exact.size(); ++i) {
      const double diff = static_cast<double>(approx[i]) - exact[i];
      error += diff * diff;
      norm += static_cast<double>(exact[i]) * exact[i];
    }
  }
  return std::sqrt(error / std::max(norm, 1e-300));
}

absl::StatusOr<Scored> ScoreConfiguration(const Scoring& scoring, const Configuration& c,
                                          const std::vector<TextWindow>& windows,
                                          const Reference& reference) {
  FAVOR_ASSIGN_OR_RETURN(const auto variant, VariantFor(scoring, c.spec));
  FAVOR_ASSIGN_OR_RETURN(auto session, runtime::Session::Create(variant, scoring.session));
  Scored result;
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
    for (size_t i = 0; i < compared.kl.size(); ++i) {
      result.by_position.Add(windows[w].first_scored + static_cast<int64_t>(i), compared.kl[i]);
    }
  }
  const runtime::AttentionMemory memory =
      runtime::MeasureAttentionMemory(*variant.graph, session->context(), true);
  result.state_bytes = memory.state_bytes;
  result.graph = variant.graph;
  EvalRow& row = result.row;
  row.configuration = c.label;
  row.state_bytes = memory.layers > 0 ? static_cast<double>(memory.state_bytes) /
                                            static_cast<double>(memory.layers)
                                      : 0.0;
  row.kv_tokens = memory.KvTokens();
  row.perplexity = std::exp(tally.nll / static_cast<double>(tally.predicted));
  row.mean_kl = runtime::Mean(tally.kl);
  row.p99_kl = runtime::Percentile(tally.kl, 0.99);
  row.top1 = static_cast<double>(tally.agree) / static_cast<double>(tally.compared);
  const int64_t layers = scoring.layer_errors ? scoring.model->config().n_layers : 0;
  for (int64_t layer = 0; layer < layers; ++layer) {
    FAVOR_ASSIGN_OR_RETURN(const double error,
                           LayerError(scoring, c.spec, layer, windows, reference));
    row.layer_errors.push_back(error);
  }
  return result;
}

// Fills the row's KL near and far from its window (positions below and from `far_from`).
void SplitByPosition(EvalRow& row, const KlByPosition& by_position, int64_t far_from) {
  row.far_from = far_from;
  row.near_kl = by_position.Mean(0, far_from).first;
  std::tie(row.far_kl, row.far_count) =
      by_position.Mean(far_from, std::numeric_limits<int64_t>::max());
}

// Statistics gathered by running the exact model over a text in windows of the context.
absl::StatusOr<std::shared_ptr<const rf::Calibration>> GatherCalibration(
    const std::string& path, const text::Tokenizer& tokenizer, runtime::Session& exact) {
  FAVOR_ASSIGN_OR_RETURN(const std::string text, ReadFileBytes(path));
  FAVOR_ASSIGN_OR_RETURN(const auto ids, Tokens(text, path, tokenizer, 0));
  FAVOR_ASSIGN_OR_RETURN(auto recorder,
                         AttentionStatisticsRecorder::Create(exact.executor().graph()));
  exact.executor().SetObserver(recorder.get());
  const int64_t context = exact.context();
  for (const TextWindow& piece : Windows(ids, tokenizer.bos_id(), context, context - 1)) {
    exact.Reset();
    if (auto fed = exact.Feed(piece.tokens); !fed.ok()) {
      exact.executor().SetObserver(nullptr);
      return fed.status();
    }
  }
  exact.executor().SetObserver(nullptr);
  return std::make_shared<const rf::Calibration>(recorder->statistics());
}

// MODEL.favor-stats, when a row asks for calibrated statistics (null otherwise).
absl::StatusOr<std::shared_ptr<const rf::Calibration>> DefaultCalibration(
    const std::vector<Configuration>& configurations, const std::string& model_path) {
  const bool needed =
      std::any_of(configurations.begin(), configurations.end(), [](const Configuration& c) {
        return c.spec.plan == PlanSource::kNone &&
               c.spec.statistics == StatisticsSource::kCalibrated;
      });
  if (!needed) return std::shared_ptr<const rf::Calibration>();
  auto loaded = rf::LoadCalibration(runtime::DefaultCalibrationPath(model_path));
  if (!loaded.ok()) {
    return WithContext(loaded.status(),
                       absl::StrCat("calibration statistics (run favor calibrate -m ", model_path,
                                    ", or pass --calibrate-on TEXT)"));
  }
  return std::make_shared<const rf::Calibration>(*std::move(loaded));
}

// --- Output ---

absl::Status WritePlot(const std::string& path, const std::string& svg) {
  std::ofstream plot(path);
  plot << svg;
  if (!plot) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WriteReport(const std::string& format, const std::string& plot_path,
                         const std::string& memory_plot_path, const EvalReportHeader& header,
                         const std::vector<EvalRow>& rows) {
  const std::string report = format == "csv"    ? EvalCsvReport(header, rows)
                             : format == "json" ? EvalJsonReport(header, rows)
                                                : EvalMarkdownReport(header, rows);
  std::fputs(report.c_str(), stdout);
  if (!plot_path.empty())
    FAVOR_RETURN_IF_ERROR(WritePlot(plot_path, EvalKlPlot(header.model, rows)));
  if (!memory_plot_path.empty()) {
    FAVOR_RETURN_IF_ERROR(WritePlot(memory_plot_path, EvalMemoryPlot(header.model, rows)));
  }
  return absl::OkStatus();
}

}  // namespace

int Eval(int argc, char** argv) {
  std::string model_path, text_path, tokenizer_path, calibrate_on, output = "md", plot_path,
                                                                   memory_plot_path;
  int64_t context = 0, threads = 0, max_tokens = 0, stride = 0;
  bool layer_errors = false;
  AttentionFlags attention{.use = AttentionFlagUse::kGrid,
                           .kinds = "favor+,favor++,favor#",
                           .features = "64,256,1024",
                           .statistics = "calibrated"};
  ArgParser args("eval");
  args.String({"-m", "--model"}, "PATH", "model file or directory", &model_path);
  args.String({"-f", "--file"}, "TEXT", "text to evaluate on", &text_path);
  args.String({"--tokenizer"}, "PATH", "tokenizer (default: the model's own)", &tokenizer_path);
  AddAttentionFlags(args, attention);
  args.String({"--calibrate-on"}, "TEXT", "gather the calibrated statistics from this text first",
              &calibrate_on);
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
  args.String({"--plot-memory"}, "FILE.svg",
              "write mean KL against state per layer in tokens of KV cache, one line per "
              "attention; window-only attention (with every equal-memory baseline) is the frontier",
              &memory_plot_path);
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
  auto grid = ParseAttentionGrid(args, attention);
  if (!grid.ok()) return UsageError(std::string(grid.status().message()));
  auto configurations = Configurations(*grid, model_path);
  if (!configurations.ok()) {
    return configurations.status().code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(configurations.status().message(), "--")
               ? UsageError(std::string(configurations.status().message()))
               : Fail(configurations.status());
  }
  if ((!plot_path.empty() || !memory_plot_path.empty()) && configurations->empty()) {
    return UsageError(absl::StrCat(plot_path.empty() ? "--plot-memory" : "--plot",
                                   ": exact attention alone has no KL to plot"));
  }

  auto text = ReadFileBytes(text_path);
  if (!text.ok()) return Fail(text.status());

  // The weights are loaded and packed once; every row is a copy of the graph.
  auto model = runtime::Model::Load(model_path, {.tokenizer_path = tokenizer_path});
  if (!model.ok()) return Fail(model.status());
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  auto exact = (*model)->Variant({}, runtime::Logits::kAllPositions);
  if (!exact.ok()) return Fail(exact.status());
  const runtime::SessionOptions session_options{.context = context,
                                                .threads = static_cast<int>(threads)};
  auto exact_session = runtime::Session::Create(*exact, session_options);
  if (!exact_session.ok()) return Fail(exact_session.status());
  const int64_t window_length = (*exact_session)->context();
  WarnBeyondTrainedContext("eval", window_length, (*model)->config().max_seq_len);
  if (stride == 0) stride = window_length - 1;
  if (stride > window_length - 1) {
    return UsageError(absl::StrCat("--stride ", stride, " is longer than a window's ",
                                   window_length - 1, " tokens: tokens would go unscored"));
  }

  auto calibration = calibrate_on.empty()
                         ? DefaultCalibration(*configurations, model_path)
                         : GatherCalibration(calibrate_on, tokenizer, **exact_session);
  if (!calibration.ok()) return Fail(calibration.status());
  auto ids = Tokens(*text, text_path, tokenizer, max_tokens);
  if (!ids.ok()) return Fail(ids.status());
  const auto windows = Windows(*ids, tokenizer.bos_id(), window_length, stride);
  auto reference = ScoreExact(**exact_session, windows, layer_errors);
  if (!reference.ok()) return Fail(reference.status());
  const runtime::AttentionMemory kv_cache =
      runtime::MeasureAttentionMemory((*exact_session)->executor().graph(), window_length, false);
  reference->row.state_bytes =
      kv_cache.layers > 0 ? static_cast<double>(kv_cache.state_bytes) / kv_cache.layers : 0.0;
  reference->row.kv_tokens = kv_cache.KvTokens();
  std::vector<EvalRow> rows = {reference->row};
  (*exact_session).reset();  // Its KV cache is not needed any more.

  const Scoring scoring{.model = model->get(),
                        .session = session_options,
                        .calibration = *calibration,
                        .layer_errors = layer_errors};
  // Window-only baselines at equal memory, scored once per (window, sinks, layers).
  std::vector<std::pair<AttentionSpec, Scored>> baselines;
  auto baseline_for = [&](const AttentionSpec& spec) -> absl::StatusOr<const Scored*> {
    for (const auto& [done, scored] : baselines) {
      if (done == spec) return &scored;
    }
    const Configuration configuration{
        .spec = spec,
        .label = {.attention = "window", .window = *spec.window, .sinks = *spec.sinks}};
    FAVOR_ASSIGN_OR_RETURN(auto scored,
                           ScoreConfiguration(scoring, configuration, windows, *reference));
    baselines.emplace_back(spec, std::move(scored));
    return &baselines.back().second;
  };
  for (const Configuration& configuration : *configurations) {
    const EvalConfiguration& label = configuration.label;
    auto scored = ScoreConfiguration(scoring, configuration, windows, *reference);
    if (!scored.ok()) {
      return Fail(
          WithContext(scored.status(), absl::StrCat(label.attention, " M=", label.features)));
    }
    EvalRow& row = scored->row;
    // Far from the window: 4 W for hybrid and window-only rows (a plan's windows differ per head,
    // and pure random features have none: 4 W of their baseline).
    const bool plan = configuration.spec.plan != PlanSource::kNone;
    int64_t far_from = !plan && label.window > 0 ? 4 * label.window : 0;
    if (label.features > 0 || label.plan) {
      const int64_t sinks = label.sinks >= 0 ? label.sinks : kDefaultSinks;
      auto window = runtime::WindowAtEqualBytes(*scored->graph, window_length, true, sinks,
                                                scored->state_bytes);
      if (!window.ok()) return Fail(window.status());
      if (*window > 0) {
        AttentionSpec spec{.kind = AttentionKind::kWindow,
                           .window = *window,
                           .sinks = sinks,
                           .layers = configuration.spec.layers};
        auto baseline = baseline_for(spec);
        if (!baseline.ok()) {
          return Fail(WithContext(baseline.status(),
                                  absl::StrCat("window-only baseline W=", *window, " S=", sinks)));
        }
        if (far_from == 0) far_from = 4 * *window;
        row.baseline = EqualMemoryBaseline{
            .window = *window,
            .sinks = sinks,
            .kv_tokens = (*baseline)->row.kv_tokens,
            .mean_kl = (*baseline)->row.mean_kl,
            .far_kl = (*baseline)->by_position.Mean(far_from, window_length).first};
      }
    }
    SplitByPosition(row, scored->by_position, far_from);
    std::fprintf(
        stderr, "favor eval: %s%s%s%s: KL %.4f%s\n", label.attention.c_str(),
        label.features > 0 ? absl::StrCat(" M=", label.features).c_str() : "",
        label.window >= 0 ? absl::StrCat(" W=", label.window, " S=", label.sinks).c_str() : "",
        label.stats.empty() ? "" : (" " + label.stats).c_str(), row.mean_kl,
        row.baseline ? absl::StrFormat(" (window-only at equal memory, W=%d: %.4f)",
                                       row.baseline->window, row.baseline->mean_kl)
                           .c_str()
                     : "");
    rows.push_back(std::move(row));
  }

  const EvalReportHeader header{
      .model = model_path,
      .text = text_path,
      .statistics = configurations->empty() ? std::string("none (exact attention only)")
                    : calibrate_on.empty()  ? attention.statistics
                                            : absl::StrCat("calibrated on ", calibrate_on),
      .predicted = reference->predicted,
      .windows = static_cast<int64_t>(windows.size()),
      .context = window_length,
      .stride = stride,
      .layers = (*model)->config().n_layers,
      .layer_errors = layer_errors};
  if (auto status = WriteReport(output, plot_path, memory_plot_path, header, rows); !status.ok()) {
    return Fail(status);
  }
  return 0;
}

}  // namespace favor::cli
