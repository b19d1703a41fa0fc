// favor eval's results and their presentation: one row per attention configuration (perplexity,
// KL to exact, top-1 agreement, optional per-layer attention errors) as Markdown, CSV or JSON, and
// the plot of mean KL against M. Kept apart from the scoring so that the formats read alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace favor::cli {

// What a row measured, as the report names it.
struct EvalConfiguration {
  std::string attention;  // exact, favor+, favor#, window, sderf, ... or plan(saderf,64)
  int64_t features = 0;   // M; 0: none (exact, window-only).
  int64_t window = -1;    // Hybrid: exact window and sinks; -1: not hybrid.
  int64_t sinks = -1;
  std::string stats;  // calibrated | causal | FILE; empty: none.
  bool plan = false;  // A per-head plan (features: its largest tail; no single window).
};

// The same memory spent on window-only attention (exact sinks and the most recent tokens): the
// baseline an approximate row must beat to be worth its state.
struct EqualMemoryBaseline {
  int64_t window = 0, sinks = 0;
  double kv_tokens = 0;  // Its state, in tokens of KV cache per layer (at most the row's).
  double mean_kl = 0;
  double far_kl = 0;  // At the row's far positions (EvalRow::far_from).
};

struct EvalRow {
  EvalConfiguration configuration;
  double perplexity = 0;
  double mean_kl = 0, p99_kl = 0, top1 = 1;
  // State per swapped layer for one sequence, in bytes and in tokens of KV cache (f32 keys and
  // values); the exact row's is its KV cache at the context.
  double state_bytes = 0, kv_tokens = 0;
  // Mean KL at query positions >= far_from (far past the window: 4 W, 0 when unknown) and below.
  int64_t far_from = 0;
  double far_kl = 0, near_kl = 0;
  int64_t far_count = 0;
  std::optional<EqualMemoryBaseline> baseline;  // Rows with a random-feature part.
  std::vector<double> layer_errors;  // --layer-errors: per layer, that layer swapped alone.
  bool exact() const { return configuration.attention == "exact"; }
};

struct EvalReportHeader {
  std::string model, text, statistics;
  int64_t predicted = 0, windows = 0, context = 0, stride = 0, layers = 0;
  bool layer_errors = false;
};

std::string EvalMarkdownReport(const EvalReportHeader& h, const std::vector<EvalRow>& rows);
std::string EvalCsvReport(const EvalReportHeader& h, const std::vector<EvalRow>& rows);
std::string EvalJsonReport(const EvalReportHeader& h, const std::vector<EvalRow>& rows);
// Mean KL against M, one line per attention, window and statistics; the window-only baselines
// (no M) are flat dashed lines across the measured M, the frontier the others must beat.
std::string EvalKlPlot(const std::string& model_path, const std::vector<EvalRow>& rows);
// Mean KL against state per layer (tokens of KV cache), one line per attention and window over
// M; window-only attention (its rows and every equal-memory baseline) is the frontier line.
std::string EvalMemoryPlot(const std::string& model_path, const std::vector<EvalRow>& rows);

}  // namespace favor::cli
