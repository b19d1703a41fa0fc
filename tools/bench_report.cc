#include "tools/bench_report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/core/dnnl_context.h"
#include "engine/core/threading.h"
#include "engine/kernels/kernels.h"
#include "tools/report_format.h"
#include "tools/svg_plot.h"

namespace favor::cli {
namespace {

constexpr int64_t kMaxListLength = 4096;

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseIntList(const std::string& text,
                                                  const std::string& flag) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": bad list '", text, "': ", why,
                                                   " (e.g. 512,1024 or 512-4096*2 or 0-1024+256)"));
  };
  std::vector<int64_t> values;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) return bad("empty item");
    const size_t dash = item.find('-', 1);
    if (dash == absl::string_view::npos) {
      int64_t value = 0;
      if (!absl::SimpleAtoi(item, &value)) return bad(absl::StrCat("'", item, "' is not a number"));
      values.push_back(value);
      continue;
    }
    const absl::string_view first_text = item.substr(0, dash);
    absl::string_view rest = item.substr(dash + 1);
    const size_t op_at = rest.find_first_of("*+");
    int64_t first = 0, last = 0, step = 0;
    if (op_at == absl::string_view::npos || !absl::SimpleAtoi(first_text, &first) ||
        !absl::SimpleAtoi(rest.substr(0, op_at), &last) ||
        !absl::SimpleAtoi(rest.substr(op_at + 1), &step)) {
      return bad(absl::StrCat("'", item, "' is not FIRST-LAST*FACTOR or FIRST-LAST+STEP"));
    }
    const bool multiply = rest[op_at] == '*';
    if (last < first || (multiply ? (step < 2 || first <= 0) : step < 1)) {
      return bad(absl::StrCat("'", item, "' does not grow from ", first, " to ", last));
    }
    for (int64_t v = first; v <= last; v = multiply ? v * step : v + step) {
      values.push_back(v);
      if (static_cast<int64_t>(values.size()) > kMaxListLength) return bad("too many values");
    }
  }
  return values;
}

absl::StatusOr<std::vector<std::string>> ParseStringList(const std::string& text,
                                                         const std::string& flag) {
  std::vector<std::string> values = absl::StrSplit(text, ',');
  for (const std::string& value : values) {
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": empty item in '", text, "'"));
    }
  }
  return values;
}

MachineInfo DescribeMachine() {
  MachineInfo info;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        info.cpu = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
      break;
    }
  }
  if (info.cpu.empty()) info.cpu = "unknown CPU";
  auto isa = kernels::IsaFromEnvironment();
  info.isa = isa.ok() ? std::string(kernels::IsaName(*isa)) : "unknown";
  info.cores = PhysicalCoreCount();
  info.onednn = DnnlDescription();
  info.favor = FAVOR_VERSION;
  return info;
}

std::string BenchRow::Test() const {
  std::string test = absl::StrCat(prompt ? "pp" : "tg", tokens);
  if (parallel > 1) absl::StrAppend(&test, " x", parallel);
  if (depth > 0) absl::StrAppend(&test, " @ d", depth);
  return test;
}

std::string BenchRow::Attention() const {
  std::string label = attention;
  if (!rf.empty()) absl::StrAppend(&label, " (", rf, ")");
  if (features > 0) absl::StrAppend(&label, " M=", features);
  if (window >= 0) absl::StrAppend(&label, " W=", window, " S=", sinks);
  return label;
}

std::string MarkdownReport(const MachineInfo& machine, const std::vector<BenchRow>& rows) {
  std::string out =
      absl::StrFormat("favor %s | %s | kernels %s | %d physical cores | %s\n\n", machine.favor,
                      machine.cpu, machine.isa, machine.cores, machine.onednn);
  out +=
      "| model | dtype | threads | attention | test | t/s | ms/token | attention % | state MiB | "
      "peak RSS MiB |\n"
      "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const BenchRow& row : rows) {
    absl::StrAppendFormat(
        &out, "| %s | %s | %d | %s | %s | %.2f ± %.2f | %.3f | %.1f | %.2f | %.0f |\n", row.model,
        row.dtype, row.threads, row.Attention(), row.Test(), row.tokens_per_second,
        row.tokens_per_second_sd, row.MillisecondsPerToken(), 100 * row.attention_share,
        row.state_mib, row.peak_rss_mib);
  }
  const auto crossovers = FindCrossovers(rows);
  if (!crossovers.empty()) out += "\ncrossover with exact attention:\n";
  for (const Crossover& crossover : crossovers) {
    absl::StrAppend(&out, "- ", crossover.Describe(), "\n");
  }
  return out;
}

namespace {

// A window or sink count, or `absent` for attention without one (never a placeholder number).
std::string OptionalCount(int64_t value, const char* absent) {
  return value >= 0 ? absl::StrCat(value) : std::string(absent);
}

}  // namespace

std::string CsvReport(const MachineInfo& machine, const std::vector<BenchRow>& rows) {
  std::string out =
      "cpu,isa,cores,onednn,favor,model,dtype,threads,attention,rf,features,window,sinks,test,"
      "prompt_tokens,"
      "gen_tokens,depth,repetitions,tokens_per_second,tokens_per_second_sd,ms_per_token,"
      "attention_share,state_mib,peak_rss_mib,parallel\n";
  for (const BenchRow& row : rows) {
    absl::StrAppendFormat(
        &out,
        "%s,%s,%d,%s,%s,%s,%s,%d,%s,%s,%d,%s,%s,%s,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f,%d\n",
        CsvField(machine.cpu), machine.isa, machine.cores, CsvField(machine.onednn), machine.favor,
        CsvField(row.model), row.dtype, row.threads, CsvField(row.attention), row.rf, row.features,
        OptionalCount(row.window, ""), OptionalCount(row.sinks, ""), row.Test(),
        row.prompt ? row.tokens : 0, row.prompt ? 0 : row.tokens, row.depth, row.repetitions,
        row.tokens_per_second, row.tokens_per_second_sd, row.MillisecondsPerToken(),
        row.attention_share, row.state_mib, row.peak_rss_mib, row.parallel);
  }
  return out;
}

std::string JsonReport(const MachineInfo& machine, const std::vector<BenchRow>& rows) {
  std::string out = absl::StrFormat(
      "{\n  \"machine\": {\"cpu\": %s, \"isa\": %s, \"cores\": %d, \"onednn\": %s, \"favor\": "
      "%s},\n  \"results\": [",
      JsonString(machine.cpu), JsonString(machine.isa), machine.cores, JsonString(machine.onednn),
      JsonString(machine.favor));
  for (size_t i = 0; i < rows.size(); ++i) {
    const BenchRow& row = rows[i];
    absl::StrAppendFormat(
        &out,
        "%s\n    {\"model\": %s, \"dtype\": %s, \"threads\": %d, \"attention\": %s, \"rf\": %s, "
        "\"features\": %d, \"window\": %s, \"sinks\": %s, \"test\": %s, \"prompt_tokens\": %d, "
        "\"gen_tokens\": %d, \"depth\": "
        "%d, \"repetitions\": %d, \"tokens_per_second\": %.4f, \"tokens_per_second_sd\": %.4f, "
        "\"ms_per_token\": %.4f, \"attention_share\": %.4f, \"state_mib\": %.4f, "
        "\"peak_rss_mib\": %.1f, \"parallel\": %d}",
        i == 0 ? "" : ",", JsonString(row.model), JsonString(row.dtype), row.threads,
        JsonString(row.attention), JsonString(row.rf), row.features,
        OptionalCount(row.window, "null"), OptionalCount(row.sinks, "null"), JsonString(row.Test()),
        row.prompt ? row.tokens : 0, row.prompt ? 0 : row.tokens, row.depth, row.repetitions,
        row.tokens_per_second, row.tokens_per_second_sd, row.MillisecondsPerToken(),
        row.attention_share, row.state_mib, row.peak_rss_mib, row.parallel);
  }
  out += "\n  ],\n  \"crossover\": [";
  const auto crossovers = FindCrossovers(rows);
  for (size_t i = 0; i < crossovers.size(); ++i) {
    const Crossover& c = crossovers[i];
    absl::StrAppendFormat(
        &out, "%s\n    {\"attention\": %s, \"over\": %s, \"from\": %s, \"measured\": [%s]}",
        i == 0 ? "" : ",", JsonString(c.attention), JsonString(c.over),
        c.from.has_value() ? absl::StrCat(*c.from) : "null", absl::StrJoin(c.measured, ", "));
  }
  out += "\n  ]\n}\n";
  return out;
}

std::string Crossover::Describe() const {
  const std::string points = absl::StrJoin(measured, ", ");
  if (!from.has_value()) {
    return absl::StrCat(attention, ", ", over, ": not faster than exact at the largest measured (",
                        points, ")");
  }
  if (*from == measured.front()) {
    return absl::StrCat(attention, ", ", over, ": faster than exact at every measured point (",
                        points, ")");
  }
  return absl::StrCat(attention, ", ", over, ": faster than exact from ", *from, " (measured ",
                      points, ")");
}

std::vector<Crossover> FindCrossovers(const std::vector<BenchRow>& rows) {
  // Rows are compared within a group of the same model, dtype, threads and test kind; the swept
  // variable is the depth for tg (at one N) and the prompt length for pp (at one depth).
  using Group = std::tuple<std::string, std::string, int, int64_t, bool, int64_t>;
  auto group_of = [](const BenchRow& r) {
    return Group{r.model, r.dtype, r.threads, r.parallel, r.prompt, r.prompt ? r.depth : r.tokens};
  };
  auto swept = [](const BenchRow& r) { return r.prompt ? r.tokens : r.depth; };
  std::map<Group, std::map<int64_t, double>> exact;
  std::map<std::pair<Group, std::string>, std::map<int64_t, double>> approximate;
  for (const BenchRow& row : rows) {
    if (row.attention == "exact") {
      exact[group_of(row)][swept(row)] = row.tokens_per_second;
    } else {
      approximate[{group_of(row), row.Attention()}][swept(row)] = row.tokens_per_second;
    }
  }
  std::vector<Crossover> result;
  for (const auto& [key, speeds] : approximate) {
    const auto& [group, attention] = key;
    const auto found = exact.find(group);
    if (found == exact.end()) continue;
    Crossover crossover;
    crossover.attention = attention;
    const int64_t parallel = std::get<3>(group);
    const std::string sequences = parallel > 1 ? absl::StrCat(" x", parallel) : "";
    crossover.over =
        std::get<4>(group)
            ? absl::StrCat("pp", sequences, " by prompt length @ d", std::get<5>(group))
            : absl::StrCat("tg", std::get<5>(group), sequences, " by depth");
    std::vector<std::pair<int64_t, bool>> faster;  // (point, approximate faster)
    for (const auto& [point, speed] : speeds) {
      const auto exact_speed = found->second.find(point);
      if (exact_speed == found->second.end()) continue;
      crossover.measured.push_back(point);
      faster.emplace_back(point, speed > exact_speed->second);
    }
    if (crossover.measured.size() < 2) continue;  // One point is no sweep.
    for (auto it = faster.rbegin(); it != faster.rend() && it->second; ++it) {
      crossover.from = it->first;
    }
    result.push_back(std::move(crossover));
  }
  return result;
}

absl::StatusOr<std::string> BenchPlotSvg(const std::vector<BenchRow>& rows) {
  auto distinct = [&](bool prompt, auto key) {
    std::vector<int64_t> values;
    for (const BenchRow& row : rows) {
      if (row.prompt == prompt && std::find(values.begin(), values.end(), key(row)) == values.end())
        values.push_back(key(row));
    }
    return values.size();
  };
  const bool by_depth = distinct(false, [](const BenchRow& r) { return r.depth; }) >= 2;
  const bool by_length = distinct(true, [](const BenchRow& r) { return r.tokens; }) >= 2;
  if (!by_depth && !by_length) {
    return absl::InvalidArgumentError(
        "--plot: nothing to plot; it draws generation latency against depth (give -d with two or "
        "more depths) or prompt throughput against prompt length (two or more -p lengths)");
  }
  std::vector<PlotSeries> series;
  std::string model, dtype;
  for (const BenchRow& row : rows) {
    if (row.prompt == by_depth) continue;
    if (!by_depth && row.depth != rows.front().depth) continue;  // pp at the first depth.
    const std::string name =
        absl::StrCat(row.Attention(),
                     rows.front().threads == row.threads ? "" : absl::StrCat(" t", row.threads));
    auto it = std::find_if(series.begin(), series.end(),
                           [&](const PlotSeries& s) { return s.name == name; });
    if (it == series.end()) {
      series.push_back({.name = name, .points = {}});
      it = series.end() - 1;
    }
    if (by_depth) {
      it->points.emplace_back(static_cast<double>(row.depth), row.MillisecondsPerToken());
    } else {
      it->points.emplace_back(static_cast<double>(row.tokens), row.tokens_per_second);
    }
    model = row.model;
    dtype = row.dtype;
  }
  if (by_depth) {
    return LineChartSvg(series, {.title = absl::StrCat("generation latency against context depth (",
                                                       model, ", ", dtype, ")"),
                                 .x_label = "depth (tokens already in the context)",
                                 .y_label = "milliseconds per generated token",
                                 .log_x = true,
                                 .log_y = true,
                                 .zero_on_log_x = true});
  }
  return LineChartSvg(series, {.title = absl::StrCat("prompt processing against prompt length (",
                                                     model, ", ", dtype, ")"),
                               .x_label = "prompt length (tokens)",
                               .y_label = "prompt tokens per second",
                               .log_x = true,
                               .log_y = true});
}

}  // namespace favor::cli
