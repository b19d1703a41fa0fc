// A line chart as a self-contained SVG document (no plotting dependency): axes fitted to the data
// (on log scales with 1-2-5 ticks inside the data's range, not whole decades), one coloured line
// with markers per series, and a legend sized to its longest name.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace favor::cli {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y); non-positive values skip on log axes.
  bool dashed = false;                            // A baseline rather than a measured curve.
};

struct PlotOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = true;
  bool log_y = true;
  // On a log x axis, draw x = 0 (a depth of zero, say) one step left of the smallest positive x,
  // with a "0" tick, instead of leaving it out.
  bool zero_on_log_x = false;
};

std::string LineChartSvg(const std::vector<PlotSeries>& series, const PlotOptions& options);

}  // namespace favor::cli
