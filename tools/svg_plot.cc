#include "tools/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace favor::cli {
namespace {

constexpr double kPlotWidth = 450, kHeight = 440;
constexpr double kLeft = 80, kTop = 40, kBottom = 60;
// Legend: a line sample, then the name; 12px sans-serif averages under 7.5px per character.
constexpr double kLegendSample = 42, kCharacterWidth = 7.5, kMargin = 16;
constexpr size_t kMaxDataTicks = 8;
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Maps data values to pixels along one axis.
struct Axis {
  bool log = false;
  double low = 0, high = 1;  // In transformed units (log10 when log).
  double Transform(double v) const { return log ? std::log10(v) : v; }
  double Fraction(double v) const { return (Transform(v) - low) / (high - low); }
  bool Usable(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

Axis FitAxis(const std::vector<double>& values, bool log) {
  Axis axis{.log = log};
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (double v : values) {
    if (!axis.Usable(v)) continue;
    low = std::min(low, axis.Transform(v));
    high = std::max(high, axis.Transform(v));
  }
  if (!std::isfinite(low)) low = 0, high = 1;
  // The data's range and a margin of 5 % each side (a tenth of a decade when it is one value).
  const double span = high - low;
  const double pad = span > 0 ? 0.05 * span : log ? 0.1 : std::max(std::abs(low) * 0.1, 1.0);
  low -= pad;
  high += pad;
  if (!log && low > 0 && low < pad * 4) low = 0;  // Near zero: start at zero.
  axis.low = low;
  axis.high = high;
  return axis;
}

std::string TickLabel(double value) {
  if (value >= 1e6 && std::fmod(value, 1e6) == 0) return absl::StrFormat("%gM", value / 1e6);
  if (value >= 1e3 && std::fmod(value, 1e3) == 0) return absl::StrFormat("%gK", value / 1e3);
  if (value >= 1e4 || (value > 0 && value < 1e-2)) return absl::StrFormat("%.0e", value);
  return absl::StrFormat("%g", value);
}

// Tick values inside the axis: on log axes the 1-2-5 (or, over many decades, 1) multiples of
// powers of ten, falling back to every integer multiple when the range is narrower than that;
// about 6 round steps on linear ones.
std::vector<double> Ticks(const Axis& axis) {
  std::vector<double> ticks;
  if (axis.log) {
    const bool coarse = axis.high - axis.low > 4;
    for (const std::vector<double>& multiples :
         {coarse ? std::vector<double>{1} : std::vector<double>{1, 2, 5},
          std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
      ticks.clear();
      for (double e = std::floor(axis.low); e <= std::ceil(axis.high); ++e) {
        for (double m : multiples) {
          const double v = m * std::pow(10.0, e);
          if (std::log10(v) >= axis.low - 1e-9 && std::log10(v) <= axis.high + 1e-9) {
            ticks.push_back(v);
          }
        }
      }
      if (ticks.size() >= 3) break;
    }
  } else {
    const double span = axis.high - axis.low;
    const double step = std::pow(10.0, std::floor(std::log10(span / 5)));
    const double nice = span / step > 25 ? 5 * step : span / step > 10 ? 2 * step : step;
    for (double v = std::ceil(axis.low / nice) * nice; v <= axis.high + 1e-9; v += nice) {
      ticks.push_back(v);
    }
  }
  return ticks;
}

}  // namespace

std::string LineChartSvg(const std::vector<PlotSeries>& input, const PlotOptions& options) {
  // x = 0 on a log axis: drawn one 1-2-5 step (a factor 2.5) left of the smallest positive x.
  std::vector<PlotSeries> series = input;
  double zero_at = 0;
  if (options.log_x && options.zero_on_log_x) {
    double smallest = std::numeric_limits<double>::infinity();
    bool has_zero = false;
    for (const PlotSeries& s : series) {
      for (const auto& [x, y] : s.points) {
        if (x > 0) smallest = std::min(smallest, x);
        has_zero = has_zero || x == 0;
      }
    }
    if (has_zero) {
      zero_at = std::isfinite(smallest) ? smallest / 2.5 : 1;
      for (PlotSeries& s : series) {
        for (auto& point : s.points) {
          if (point.first == 0) point.first = zero_at;
        }
      }
    }
  }
  std::vector<double> xs, ys;
  size_t longest_name = 0;
  for (const PlotSeries& s : series) {
    longest_name = std::max(longest_name, s.name.size());
    for (const auto& [x, y] : s.points) {
      xs.push_back(x);
      ys.push_back(y);
    }
  }
  const Axis x_axis = FitAxis(xs, options.log_x), y_axis = FitAxis(ys, options.log_y);
  const double width = kLeft + kPlotWidth + 12 + kLegendSample +
                       kCharacterWidth * static_cast<double>(longest_name) + kMargin;
  const double plot_w = kPlotWidth, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + x_axis.Fraction(x) * plot_w; };
  auto py = [&](double y) { return kTop + (1 - y_axis.Fraction(y)) * plot_h; };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
      "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%g\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n",
      width, kHeight, width, kHeight, kLeft + plot_w / 2, Escape(options.title));
  // A few measured x values (depths, feature counts) are the ticks: every point is labelled.
  std::vector<double> x_ticks;
  for (double x : xs) {
    if (x_axis.Usable(x) && std::find(x_ticks.begin(), x_ticks.end(), x) == x_ticks.end()) {
      x_ticks.push_back(x);
    }
  }
  std::sort(x_ticks.begin(), x_ticks.end());
  if (x_ticks.size() > kMaxDataTicks || x_ticks.size() < 2) x_ticks = Ticks(x_axis);
  if (zero_at > 0) {
    // The zero column gets its own tick; ticks between it and the data would mislead.
    std::erase_if(x_ticks, [&](double t) { return t <= zero_at * 2.5 * (1 - 1e-9); });
    if (x_ticks.empty() || x_ticks.front() != zero_at) x_ticks.insert(x_ticks.begin(), zero_at);
  }
  for (double t : x_ticks) {
    const double x = px(t);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n"
                          "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
                          x, kTop, x, kTop + plot_h, x, kTop + plot_h + 18,
                          t == zero_at ? std::string("0") : TickLabel(t));
  }
  for (double t : Ticks(y_axis)) {
    const double y = py(t);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                          "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                          kLeft, y, kLeft + plot_w, y, kLeft - 6, y + 4, TickLabel(t));
  }
  absl::StrAppendFormat(
      &svg,
      "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n"
      "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n"
      "<text x=\"18\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 18 %g)\">%s</text>\n",
      kLeft, kTop, plot_w, plot_h, kLeft + plot_w / 2, kHeight - 16, Escape(options.x_label),
      kTop + plot_h / 2, kTop + plot_h / 2, Escape(options.y_label));
  for (size_t i = 0; i < series.size(); ++i) {
    const char* colour = kColours[i % std::size(kColours)];
    std::vector<std::pair<double, double>> points;
    for (const auto& p : series[i].points) {
      if (x_axis.Usable(p.first) && y_axis.Usable(p.second)) points.push_back(p);
    }
    std::sort(points.begin(), points.end());
    std::string path;
    for (const auto& [x, y] : points) {
      absl::StrAppendFormat(&path, "%s%.1f,%.1f", path.empty() ? "" : " ", px(x), py(y));
    }
    if (points.size() > 1) {
      absl::StrAppendFormat(&svg,
                            "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                            "stroke-width=\"2\"%s/>\n",
                            path, colour, series[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
    }
    for (const auto& [x, y] : points) {
      absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(x),
                            py(y), colour);
    }
    const double legend_y = kTop + 10 + 20 * static_cast<double>(i);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" "
                          "stroke-width=\"2\"%s/>\n<text x=\"%g\" y=\"%g\">%s</text>\n",
                          kLeft + plot_w + 12, legend_y, kLeft + plot_w + 36, legend_y, colour,
                          series[i].dashed ? " stroke-dasharray=\"6 4\"" : "", kLeft + plot_w + 42,
                          legend_y + 4, Escape(series[i].name));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace favor::cli
