// favor bench's results and their presentation: the grid of lists it expands, the rows it
// measures, Markdown / CSV / JSON output, the crossover summary (from which depth or prompt length
// an approximate attention beats exact) and the latency plot. Kept apart from the measuring so
// that tests can check parsing and formats on hand-made rows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace favor::cli {

// "512,1024" or ranges in llama-bench's notation: "512-4096*2" (multiply), "0-1024+256" (add).
absl::StatusOr<std::vector<int64_t>> ParseIntList(const std::string& text, const std::string& flag);
// "exact,favor#" -> {"exact", "favor#"}; empty items are errors.
absl::StatusOr<std::vector<std::string>> ParseStringList(const std::string& text,
                                                         const std::string& flag);

struct MachineInfo {
  std::string cpu;     // /proc/cpuinfo model name.
  std::string isa;     // Kernels chosen.
  int cores = 0;       // Physical cores.
  std::string onednn;  // oneDNN version and runtime.
  std::string favor;   // favor version.
};
MachineInfo DescribeMachine();

struct BenchRow {
  std::string model;
  std::string dtype;
  int threads = 0;
  std::string attention;  // exact, favor+, favor++, favor#
  std::string rf;         // Random features of an approximate attention ("" for exact).
  int64_t features = 0;   // M (0 for exact).
  int64_t window = -1;    // Hybrid attention: exact window and sinks (-1: not hybrid).
  int64_t sinks = -1;
  bool prompt = false;   // pp (prompt processing) or tg (generation).
  int64_t tokens = 0;    // N of ppN / tgN.
  int64_t depth = 0;     // Tokens already in the state.
  int64_t parallel = 1;  // Sequences run together; tokens_per_second is their sum.
  int repetitions = 0;
  double tokens_per_second = 0;  // Mean over repetitions.
  double tokens_per_second_sd = 0;
  double attention_share = 0;  // Of the measured time, in [0, 1].
  double state_mib = 0;        // KV cache or random-feature state.
  double peak_rss_mib = 0;     // Process peak resident memory during the test.

  std::string Test() const;       // "pp512", "tg128 @ d4096", "tg128 x8" (8 sequences).
  std::string Attention() const;  // "exact", "favor# M=256", "hybrid M=256 W=64 S=4".
  double MillisecondsPerToken() const { return 1000.0 / tokens_per_second; }
};

std::string MarkdownReport(const MachineInfo& machine, const std::vector<BenchRow>& rows);
std::string CsvReport(const MachineInfo& machine, const std::vector<BenchRow>& rows);
std::string JsonReport(const MachineInfo& machine, const std::vector<BenchRow>& rows);

// From which depth (tg) or prompt length (pp) an approximate attention is faster than exact for
// good: faster at that point and at every larger one measured, for the same model, dtype,
// threads and test size.
struct Crossover {
  std::string attention;          // BenchRow::Attention()
  std::string over;               // "tg128 by depth" or "pp by prompt length @ d0"
  std::vector<int64_t> measured;  // Points measured for both.
  std::optional<int64_t> from;    // Unset: not faster at the largest point.
  std::string Describe() const;
};
std::vector<Crossover> FindCrossovers(const std::vector<BenchRow>& rows);

// Milliseconds per generated token against depth (depth 0 included), log-log, one line per
// attention, when the grid has two depths or more; else prompt tokens per second against prompt
// length when it has two lengths or more; else an error that says what to give.
absl::StatusOr<std::string> BenchPlotSvg(const std::vector<BenchRow>& rows);

}  // namespace favor::cli
