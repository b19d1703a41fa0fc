#include "tools/eval_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/report_format.h"
#include "tools/svg_plot.h"

namespace favor::cli {
namespace {

// State sizes: KiB below a MiB.
std::string Bytes(double bytes) {
  return bytes < (1 << 20) ? absl::StrFormat("%.1f KiB", bytes / 1024)
                           : absl::StrFormat("%.2f MiB", bytes / (1 << 20));
}

// The series of that name, added empty when new.
PlotSeries& SeriesNamed(std::vector<PlotSeries>& series, const std::string& name) {
  auto it = std::find_if(series.begin(), series.end(),
                         [&](const PlotSeries& s) { return s.name == name; });
  if (it != series.end()) return *it;
  series.push_back({.name = name, .points = {}});
  return series.back();
}

// A plot of KL from the model's file name, against `x_label`.
std::string KlPlot(const std::vector<PlotSeries>& series, const std::string& model_path,
                   const std::string& against, const std::string& x_label) {
  return LineChartSvg(
      series, {.title = absl::StrCat("KL(exact || approximate) against ", against, " (",
                                     model_path.substr(model_path.find_last_of('/') + 1), ")"),
               .x_label = x_label,
               .y_label = "mean KL per token (nats)",
               .log_x = true,
               .log_y = true});
}

// "-" for a count an attention does not have.
std::string OrDash(int64_t value, int64_t none) {
  return value == none ? std::string("-") : absl::StrCat(value);
}

}  // namespace

std::string EvalMarkdownReport(const EvalReportHeader& h, const std::vector<EvalRow>& rows) {
  std::string report = absl::StrFormat(
      "%s on %s: %d predicted tokens in %d window(s) of up to %d%s, statistics %s\n\n"
      "| attention | M | window | sinks | statistics | state per layer | KV tokens | perplexity | "
      "KL mean (nats) | KL p99 | top-1 agreement |\n"
      "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
      h.model, h.text, h.predicted, h.windows, h.context,
      h.stride < h.context - 1 ? absl::StrCat(", stride ", h.stride) : "", h.statistics);
  for (const EvalRow& row : rows) {
    const EvalConfiguration& c = row.configuration;
    absl::StrAppendFormat(
        &report, "| %s | %s | %s | %s | %s | %s | %.1f | %.3f | %.4f | %.4f | %.1f %% |\n",
        c.attention, OrDash(c.features, 0), OrDash(c.window, -1), OrDash(c.sinks, -1),
        c.stats.empty() ? "-" : c.stats, Bytes(row.state_bytes), row.kv_tokens, row.perplexity,
        row.mean_kl, row.p99_kl, 100 * row.top1);
  }
  if (std::any_of(rows.begin(), rows.end(), [](const EvalRow& r) { return r.baseline; })) {
    report +=
        "\nat equal memory: window-only attention (exact sinks and the most recent tokens) with "
        "the longest window whose state fits in the row's; far: query positions >= `far from` "
        "(4 W, or 4 W of the baseline without a window)\n\n"
        "| attention | M | window | KV tokens | KL | window-only W | its KV tokens | its KL | "
        "better | far from | KL far | window-only KL far | better far |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- "
        "|\n";
    for (const EvalRow& row : rows) {
      if (!row.baseline) continue;
      const EvalConfiguration& c = row.configuration;
      const EqualMemoryBaseline& b = *row.baseline;
      const bool far = row.far_count > 0;
      absl::StrAppendFormat(
          &report, "| %s | %d | %s | %.1f | %.4f | %d | %.1f | %.4f | %s | %d | %s | %s | %s |\n",
          c.attention, c.features, OrDash(c.window, -1), row.kv_tokens, row.mean_kl, b.window,
          b.kv_tokens, b.mean_kl, row.mean_kl < b.mean_kl ? "**this**" : "window-only",
          row.far_from, far ? absl::StrFormat("%.4f", row.far_kl) : "-",
          far ? absl::StrFormat("%.4f", b.far_kl) : "-",
          !far                    ? "-"
          : row.far_kl < b.far_kl ? "**this**"
                                  : "window-only");
    }
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

std::string EvalCsvReport(const EvalReportHeader& h, const std::vector<EvalRow>& rows) {
  std::string report =
      "model,text,tokens,attention,features,window,sinks,statistics,perplexity,mean_kl,p99_kl,"
      "top1_agreement,state_bytes_per_layer,kv_tokens,far_from,near_kl,far_kl,baseline_window,"
      "baseline_sinks,baseline_kv_tokens,baseline_kl,baseline_far_kl";
  for (int64_t layer = 0; layer < (h.layer_errors ? h.layers : 0); ++layer) {
    absl::StrAppend(&report, ",layer", layer, "_attention_rel_error");
  }
  report += "\n";
  auto or_empty = [](int64_t value, int64_t none) {
    return value == none ? std::string() : absl::StrCat(value);
  };
  for (const EvalRow& row : rows) {
    const EvalConfiguration& c = row.configuration;
    absl::StrAppendFormat(&report, "%s,%s,%d,%s,%s,%s,%s,%s,%.6f,%.6f,%.6f,%.6f", CsvField(h.model),
                          CsvField(h.text), h.predicted, CsvField(c.attention),
                          or_empty(c.features, 0), or_empty(c.window, -1), or_empty(c.sinks, -1),
                          CsvField(c.stats), row.perplexity, row.mean_kl, row.p99_kl, row.top1);
    absl::StrAppendFormat(&report, ",%.0f,%.3f,%s,%.6f,%s", row.state_bytes, row.kv_tokens,
                          or_empty(row.far_from, 0), row.near_kl,
                          row.far_count > 0 ? absl::StrFormat("%.6f", row.far_kl) : "");
    if (row.baseline) {
      const EqualMemoryBaseline& b = *row.baseline;
      absl::StrAppendFormat(&report, ",%d,%d,%.3f,%.6f,%s", b.window, b.sinks, b.kv_tokens,
                            b.mean_kl, row.far_count > 0 ? absl::StrFormat("%.6f", b.far_kl) : "");
    } else {
      report += ",,,,,";
    }
    for (int64_t layer = 0; layer < (h.layer_errors ? h.layers : 0); ++layer) {
      absl::StrAppendFormat(&report, ",%.6f",
                            row.exact() ? 0.0 : row.layer_errors[static_cast<size_t>(layer)]);
    }
    report += "\n";
  }
  return report;
}

std::string EvalJsonReport(const EvalReportHeader& h, const std::vector<EvalRow>& rows) {
  std::string report = absl::StrFormat(
      "{\n  \"model\": %s,\n  \"text\": %s,\n  \"predicted_tokens\": %d,\n  \"windows\": %d,\n"
      "  \"context\": %d,\n  \"stride\": %d,\n  \"results\": [",
      JsonString(h.model), JsonString(h.text), h.predicted, h.windows, h.context, h.stride);
  auto or_null = [](int64_t value, int64_t none) {
    return value == none ? std::string("null") : absl::StrCat(value);
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const EvalRow& row = rows[i];
    const EvalConfiguration& c = row.configuration;
    absl::StrAppendFormat(
        &report,
        "%s\n    {\"attention\": %s, \"features\": %s, \"window\": %s, \"sinks\": %s, "
        "\"statistics\": %s, \"perplexity\": %.6f, \"mean_kl\": %.6f, \"p99_kl\": %.6f, "
        "\"top1_agreement\": %.6f",
        i == 0 ? "" : ",", JsonString(c.attention), or_null(c.features, 0), or_null(c.window, -1),
        or_null(c.sinks, -1), c.stats.empty() ? "null" : JsonString(c.stats), row.perplexity,
        row.mean_kl, row.p99_kl, row.top1);
    absl::StrAppendFormat(&report, ", \"state_bytes_per_layer\": %.0f, \"kv_tokens\": %.3f",
                          row.state_bytes, row.kv_tokens);
    if (row.far_from > 0) {
      absl::StrAppendFormat(&report, ", \"far_from\": %d, \"near_kl\": %.6f, \"far_kl\": %s",
                            row.far_from, row.near_kl,
                            row.far_count > 0 ? absl::StrFormat("%.6f", row.far_kl) : "null");
    }
    if (row.baseline) {
      const EqualMemoryBaseline& b = *row.baseline;
      absl::StrAppendFormat(
          &report,
          ", \"window_only_at_equal_memory\": {\"window\": %d, \"sinks\": %d, \"kv_tokens\": "
          "%.3f, \"mean_kl\": %.6f, \"far_kl\": %s}",
          b.window, b.sinks, b.kv_tokens, b.mean_kl,
          row.far_count > 0 ? absl::StrFormat("%.6f", b.far_kl) : "null");
    }
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
std::string EvalKlPlot(const std::string& model_path, const std::vector<EvalRow>& rows) {
  std::vector<PlotSeries> series;
  double min_m = 0, max_m = 0;
  for (const EvalRow& row : rows) {
    const int64_t m = row.configuration.features;
    if (m <= 0) continue;
    min_m = min_m == 0 ? static_cast<double>(m) : std::min(min_m, static_cast<double>(m));
    max_m = std::max(max_m, static_cast<double>(m));
  }
  auto series_for = [&](const std::string& name) -> PlotSeries& {
    return SeriesNamed(series, name);
  };
  for (const EvalRow& row : rows) {
    const EvalConfiguration& c = row.configuration;
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
  return KlPlot(series, model_path, "M", "random features per head M");
}

std::string EvalMemoryPlot(const std::string& model_path, const std::vector<EvalRow>& rows) {
  std::vector<PlotSeries> series;
  auto series_for = [&](const std::string& name) -> PlotSeries& {
    return SeriesNamed(series, name);
  };
  const std::string frontier = "window-only (the frontier)";
  series_for(frontier).dashed = true;
  for (const EvalRow& row : rows) {
    const EvalConfiguration& c = row.configuration;
    if (row.exact()) continue;
    if (c.features == 0 && !c.plan) {
      series_for(frontier).points.emplace_back(row.kv_tokens, row.mean_kl);
      continue;
    }
    std::string name = c.attention;
    if (c.window >= 0) absl::StrAppend(&name, " W=", c.window, " S=", c.sinks);
    if (c.stats == "causal") absl::StrAppend(&name, " causal");
    series_for(name).points.emplace_back(row.kv_tokens, row.mean_kl);
    if (row.baseline) {
      series_for(frontier).points.emplace_back(row.baseline->kv_tokens, row.baseline->mean_kl);
    }
  }
  for (PlotSeries& s : series) {
    std::sort(s.points.begin(), s.points.end());
    s.points.erase(std::unique(s.points.begin(), s.points.end()), s.points.end());
  }
  std::erase_if(series, [](const PlotSeries& s) { return s.points.empty(); });
  return KlPlot(series, model_path, "state", "state per layer, tokens of KV cache");
}

}  // namespace favor::cli
