// favor bench's grid parsing, report formats, crossover summary and plots, on hand-made rows.
#include "tools/bench_report.h"

#include <string>
#include <vector>

#include "engine/io/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/svg_plot.h"

namespace favor::cli {
namespace {

using ::testing::HasSubstr;

TEST(BenchLists, ParsesItemsAndLlamaBenchRanges) {
  EXPECT_EQ(ParseIntList("512", "-p").value(), std::vector<int64_t>({512}));
  EXPECT_EQ(ParseIntList("0,512,1024", "-d").value(), std::vector<int64_t>({0, 512, 1024}));
  EXPECT_EQ(ParseIntList("512-4096*2", "-d").value(),
            std::vector<int64_t>({512, 1024, 2048, 4096}));
  EXPECT_EQ(ParseIntList("512-5000*2", "-d").value(),
            std::vector<int64_t>({512, 1024, 2048, 4096}));
  EXPECT_EQ(ParseIntList("0-1024+256,4096", "-d").value(),
            std::vector<int64_t>({0, 256, 512, 768, 1024, 4096}));
  EXPECT_EQ(ParseIntList("-3", "-t").value(), std::vector<int64_t>({-3}));  // Caller checks sign.
}

TEST(BenchLists, RejectsMalformedListsNamingTheFlag) {
  for (const std::string bad : {"", "1,,2", "abc", "1-", "4-2*2", "0-8*2", "1-8*1", "1-8+0", "1-8",
                                "1-8/2", "1-1000000000+1"}) {
    const auto parsed = ParseIntList(bad, "-d");
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("-d: bad list")) << bad;
  }
  EXPECT_FALSE(ParseStringList("exact,,favor#", "--attention").ok());
  EXPECT_EQ(ParseStringList("exact,favor#", "--attention").value(),
            std::vector<std::string>({"exact", "favor#"}));
}

BenchRow Row(const std::string& attention, bool prompt, int64_t tokens, int64_t depth,
             double speed) {
  BenchRow row;
  row.model = "tiny";
  row.dtype = "f32";
  row.threads = 2;
  row.attention = attention;
  row.features = attention == "exact" ? 0 : 256;
  row.prompt = prompt;
  row.tokens = tokens;
  row.depth = depth;
  row.repetitions = 3;
  row.tokens_per_second = speed;
  row.tokens_per_second_sd = 0.5;
  row.attention_share = 0.25;
  row.state_mib = 1.5;
  row.peak_rss_mib = 100;
  return row;
}

// Exact slows down with depth; favor# is flat and crosses at 2048 (but was also faster at 512 by
// noise, which must not count: the crossover is where it stays ahead).
std::vector<BenchRow> SweepRows() {
  return {Row("exact", false, 128, 512, 60),   Row("exact", false, 128, 1024, 58),
          Row("exact", false, 128, 2048, 50),  Row("exact", false, 128, 4096, 40),
          Row("favor#", false, 128, 512, 61),  Row("favor#", false, 128, 1024, 55),
          Row("favor#", false, 128, 2048, 55), Row("favor#", false, 128, 4096, 55),
          Row("exact", true, 512, 0, 900),     Row("exact", true, 4096, 0, 400),
          Row("favor#", true, 512, 0, 800),    Row("favor#", true, 4096, 0, 600),
          Row("favor+", true, 512, 0, 700),    Row("favor+", true, 4096, 0, 300)};
}

TEST(BenchReport, CrossoverIsWhereTheApproximationStaysAhead) {
  const auto crossovers = FindCrossovers(SweepRows());
  ASSERT_EQ(crossovers.size(), 3u);
  int checked = 0;
  for (const Crossover& c : crossovers) {
    if (c.attention == "favor# M=256" && c.over == "tg128 by depth") {
      EXPECT_EQ(c.measured, std::vector<int64_t>({512, 1024, 2048, 4096}));
      EXPECT_EQ(c.from, 2048);
      EXPECT_THAT(c.Describe(), HasSubstr("faster than exact from 2048"));
      ++checked;
    } else if (c.attention == "favor# M=256") {
      EXPECT_EQ(c.over, "pp by prompt length @ d0");
      EXPECT_EQ(c.from, 4096);
      ++checked;
    } else {
      EXPECT_EQ(c.attention, "favor+ M=256");
      EXPECT_FALSE(c.from.has_value());
      EXPECT_THAT(c.Describe(), HasSubstr("not faster"));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3);
}

TEST(BenchReport, MarkdownHasMachineHeaderOneLinePerRowAndCrossovers) {
  const MachineInfo machine{.cpu = "Test CPU",
                            .isa = "avx512",
                            .cores = 2,
                            .onednn = "oneDNN 3.0.0 (avx512_core)",
                            .favor = "0.1.0"};
  const auto rows = SweepRows();
  const std::string md = MarkdownReport(machine, rows);
  EXPECT_THAT(
      md, HasSubstr("Test CPU | kernels avx512 | 2 physical cores | oneDNN 3.0.0 (avx512_core)"));
  EXPECT_THAT(md, HasSubstr("| tiny | f32 | 2 | favor# M=256 | tg128 @ d2048 | 55.00 ± 0.50 | "
                            "18.182 | 25.0 | 1.50 | 100 |"));
  EXPECT_THAT(md, HasSubstr("| tiny | f32 | 2 | exact | pp512 | 900.00"));
  EXPECT_THAT(md, HasSubstr("crossover with exact attention"));
  size_t table_lines = 0;
  for (size_t at = md.find("\n| tiny"); at != std::string::npos; at = md.find("\n| tiny", at + 1))
    ++table_lines;
  EXPECT_EQ(table_lines, rows.size());
}

TEST(BenchReport, CsvHasOneRecordPerRowWithAHeader) {
  const MachineInfo machine{
      .cpu = "CPU, with comma", .isa = "avx2", .cores = 4, .onednn = "x", .favor = "0.1.0"};
  const std::string csv = CsvReport(machine, {Row("exact", false, 128, 512, 60)});
  const size_t header_end = csv.find('\n');
  const std::string header = csv.substr(0, header_end);
  const std::string record = csv.substr(header_end + 1);
  EXPECT_THAT(header, HasSubstr("tokens_per_second,tokens_per_second_sd,ms_per_token"));
  EXPECT_THAT(record, HasSubstr("\"CPU, with comma\",avx2,4"));
  EXPECT_THAT(
      record,
      HasSubstr(",tg128 @ d512,0,128,512,3,60.0000,0.5000,16.6667,0.2500,1.5000,100.0,1\n"));
  // Same number of fields (the quoted comma is one field).
  auto fields = [](const std::string& line) {
    int count = 1;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      if (c == ',' && !quoted) ++count;
    }
    return count;
  };
  EXPECT_EQ(fields(header), fields(record.substr(0, record.size() - 1)));
}

TEST(BenchReport, JsonParsesAndCarriesEveryRowAndTheCrossover) {
  const MachineInfo machine{.cpu = "Quote \" and \\ backslash",
                            .isa = "scalar",
                            .cores = 1,
                            .onednn = "x",
                            .favor = "0.1.0"};
  const auto rows = SweepRows();
  const auto json = io::Json::Parse(JsonReport(machine, rows), "report").value();
  EXPECT_EQ(json.Find("machine")->Find("cpu")->string(), "Quote \" and \\ backslash");
  const auto& results = json.Find("results")->array();
  ASSERT_EQ(results.size(), rows.size());
  EXPECT_EQ(results[6].Find("test")->string(), "tg128 @ d2048");
  EXPECT_EQ(results[6].Find("depth")->number(), 2048);
  EXPECT_EQ(results[6].Find("gen_tokens")->number(), 128);
  EXPECT_EQ(results[6].Find("tokens_per_second")->number(), 55);
  const auto& crossover = json.Find("crossover")->array();
  ASSERT_EQ(crossover.size(), 3u);
  EXPECT_TRUE(crossover[2].Find("from")->is_null() || crossover[2].Find("from")->is_number());
}

TEST(BenchReport, LatencyPlotHasOneLinePerAttentionAndShowsDepthZero) {
  auto rows = SweepRows();
  rows.push_back(Row("exact", false, 128, 0, 70));  // Drawn left of the first depth, tick "0".
  const std::string svg = BenchPlotSvg(rows).value();
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_THAT(svg, HasSubstr("</svg>"));
  size_t lines = 0, points = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1))
    ++lines;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1))
    ++points;
  EXPECT_EQ(lines, 2u);   // exact, favor#
  EXPECT_EQ(points, 9u);  // 4 depths each, and exact at depth 0
  EXPECT_THAT(svg, HasSubstr(">favor# M=256<"));
  EXPECT_THAT(svg, HasSubstr(">0</text>"));
  EXPECT_THAT(svg, HasSubstr(">512</text>"));
}

TEST(BenchReport, WithoutADepthGridThePlotShowsPromptProcessingOrSaysWhy) {
  std::vector<BenchRow> rows = {Row("exact", true, 512, 0, 900), Row("exact", true, 4096, 0, 400)};
  const std::string svg = BenchPlotSvg(rows).value();
  EXPECT_THAT(svg, HasSubstr("prompt processing against prompt length"));
  EXPECT_THAT(svg, HasSubstr("<polyline"));
  const auto nothing =
      BenchPlotSvg({Row("exact", true, 512, 0, 900), Row("exact", false, 128, 0, 60)});
  ASSERT_FALSE(nothing.ok());
  EXPECT_THAT(std::string(nothing.status().message()), HasSubstr("nothing to plot"));
}

// Axes fit the data: a KL between 0.02 and 0.3 gets ticks inside that range, not 0.01..1; a
// legend entry is never cut off by the image's edge.
TEST(SvgPlot, AxesFitTheDataAndTheLegendFits) {
  const std::string long_name = "hybrid favor# M=1024 W=128 S=4 causal statistics";
  const std::string svg =
      LineChartSvg({{.name = long_name, .points = {{64, 0.3}, {256, 0.1}, {1024, 0.02}}}},
                   {.title = "t", .x_label = "x", .y_label = "y"});
  EXPECT_THAT(svg, HasSubstr(">0.1</text>"));
  EXPECT_THAT(svg, HasSubstr(">0.05</text>"));
  EXPECT_EQ(svg.find(">1</text>"), std::string::npos) << "no empty decade above the data";
  EXPECT_EQ(svg.find(">0.01</text>"), std::string::npos) << "no empty decade below the data";
  EXPECT_THAT(svg, HasSubstr(">256</text>")) << "the measured M are the ticks";
  const double width = std::stod(svg.substr(svg.find("width=\"") + 7));
  const double legend_x = std::stod(svg.substr(svg.rfind("<text x=\"") + 9));
  EXPECT_GE(width, legend_x + 7.5 * static_cast<double>(long_name.size()));
}

TEST(SvgPlot, EscapesTextAndSurvivesEmptyAndDegenerateSeries) {
  const std::string svg =
      LineChartSvg({{.name = "a<b", .points = {{1, 1}}}, {.name = "empty", .points = {}}},
                   {.title = "t&t", .x_label = "x", .y_label = "y"});
  EXPECT_THAT(svg, HasSubstr("a&lt;b"));
  EXPECT_THAT(svg, HasSubstr("t&amp;t"));
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

}  // namespace
}  // namespace favor::cli
