// A line chart as a self-contained SVG document (no plotting dependency): axes with decade ticks
// on log scales, one coloured line with markers per series, and a legend.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace favor::cli {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y); non-positive values skip on log axes.
};

struct PlotOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = true;
  bool log_y = true;
};

std::string LineChartSvg(const std::vector<PlotSeries>& series, const PlotOptions& options);

}  // namespace favor::cli
