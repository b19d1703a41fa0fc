#include "engine/rf/hybrid_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace favor::rf {

double HybridPlan::ChosenError(int64_t layer, int64_t head) const {
  const auto l = static_cast<size_t>(layer), h = static_cast<size_t>(head);
  const auto it = std::find(candidates.begin(), candidates.end(), windows[l][h]);
  if (it == candidates.end() || errors.size() <= l) return std::nan("");
  return errors[l][h][static_cast<size_t>(it - candidates.begin())];
}

double HybridPlan::TotalError() const {
  double total = 0;
  for (int64_t l = 0; l < layers(); ++l) {
    for (int64_t h = 0; h < heads(); ++h) total += ChosenError(l, h);
  }
  return total;
}

double HybridPlan::MeanCost() const {
  double total = 0;
  for (const auto& layer : windows) {
    for (int64_t window : layer) total += static_cast<double>(Cost(window));
  }
  return windows.empty() ? 0.0 : total / static_cast<double>(layers() * heads());
}

absl::Status ChooseWindows(HybridPlan& plan) {
  const auto candidate_count = static_cast<int64_t>(plan.candidates.size());
  if (candidate_count == 0 || candidate_count > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("a plan needs 1 to 64 candidate windows, got ", candidate_count));
  }
  if (plan.errors.empty() || plan.errors[0].empty()) {
    return absl::InvalidArgumentError("a plan needs measured errors for at least one head");
  }
  const auto layers = static_cast<int64_t>(plan.errors.size());
  const auto per_layer = static_cast<int64_t>(plan.errors[0].size());
  for (const auto& layer : plan.errors) {
    if (static_cast<int64_t>(layer.size()) != per_layer) {
      return absl::InvalidArgumentError("every layer of a plan needs the same number of heads");
    }
    for (const auto& head : layer) {
      if (static_cast<int64_t>(head.size()) != candidate_count) {
        return absl::InvalidArgumentError("every head needs one measured error per candidate");
      }
    }
  }
  int64_t unit = 0;
  for (int64_t window : plan.candidates) {
    if (window < 0 && window != kExactHead) {
      return absl::InvalidArgumentError(absl::StrCat("invalid candidate window ", window));
    }
    if (window == kExactHead && plan.exact_cost <= 0) {
      return absl::InvalidArgumentError("a fully exact candidate needs the context length");
    }
    unit = std::gcd(unit, plan.Cost(window));
  }
  unit = std::max<int64_t>(unit, 1);
  const int64_t heads = layers * per_layer;
  if (!(plan.budget >= 0) || plan.budget > 1e9) {
    return absl::InvalidArgumentError(absl::StrCat("invalid budget ", plan.budget));
  }
  const auto budget_units =
      static_cast<int64_t>(std::floor(plan.budget * static_cast<double>(heads) / unit + 1e-9));
  if (static_cast<double>(heads) * static_cast<double>(budget_units + 1) > 5e7) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a budget of ", plan.budget, " tokens per head over ", heads,
        " heads is too fine-grained to plan (candidate windows' common unit ", unit, ")"));
  }
  std::vector<int64_t> cost(static_cast<size_t>(candidate_count));
  for (int64_t c = 0; c < candidate_count; ++c) {
    cost[static_cast<size_t>(c)] = plan.Cost(plan.candidates[static_cast<size_t>(c)]) / unit;
  }
  const int64_t cheapest = *std::min_element(cost.begin(), cost.end());
  if (cheapest * heads > budget_units) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the budget of ", plan.budget, " tokens per head is below the smallest candidate window (",
        cheapest * unit, ")"));
  }
  // best[b]: the least summed error of the heads so far with total cost b units; choice[h][b]
  // remembers the candidate of head h on that path.
  constexpr double kNone = std::numeric_limits<double>::infinity();
  const auto states = static_cast<size_t>(budget_units + 1);
  std::vector<double> best(states, kNone), next(states);
  std::vector<std::vector<int8_t>> choice(static_cast<size_t>(heads),
                                          std::vector<int8_t>(states, -1));
  best[0] = 0;
  for (int64_t h = 0; h < heads; ++h) {
    const auto& error =
        plan.errors[static_cast<size_t>(h / per_layer)][static_cast<size_t>(h % per_layer)];
    std::fill(next.begin(), next.end(), kNone);
    for (size_t b = 0; b < states; ++b) {
      if (best[b] == kNone) continue;
      for (int64_t c = 0; c < candidate_count; ++c) {
        const size_t to = b + static_cast<size_t>(cost[static_cast<size_t>(c)]);
        const double e = error[static_cast<size_t>(c)];
        if (to >= states || !std::isfinite(e)) continue;
        if (best[b] + e < next[to]) {
          next[to] = best[b] + e;
          choice[static_cast<size_t>(h)][to] = static_cast<int8_t>(c);
        }
      }
    }
    best.swap(next);
  }
  // The least error; among (nearly) equal ones the cheapest plan.
  const double least = *std::min_element(best.begin(), best.end());
  if (least == kNone) return absl::InvalidArgumentError("no plan fits the budget");
  size_t b = 0;
  while (best[b] > least + 1e-12 * (1.0 + std::abs(least))) ++b;
  plan.windows.assign(static_cast<size_t>(layers),
                      std::vector<int64_t>(static_cast<size_t>(per_layer)));
  for (int64_t h = heads - 1; h >= 0; --h) {
    const int8_t c = choice[static_cast<size_t>(h)][b];
    plan.windows[static_cast<size_t>(h / per_layer)][static_cast<size_t>(h % per_layer)] =
        plan.candidates[static_cast<size_t>(c)];
    b -= static_cast<size_t>(cost[static_cast<size_t>(c)]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ParseWindowList(const std::string& text) {
  std::vector<int64_t> windows;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t window = 0;
    if (part == "exact") {
      window = kExactHead;
    } else if (!absl::SimpleAtoi(part, &window) || window < 0 || window > (1 << 20)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad window list '", text, "': windows in [0, 1048576] or 'exact' (e.g. 0,16,64,exact)"));
    }
    if (std::find(windows.begin(), windows.end(), window) == windows.end()) {
      windows.push_back(window);
    }
  }
  return windows;
}

std::string WindowName(int64_t window) {
  return window == kExactHead ? "exact" : absl::StrCat(window);
}

std::string DescribePlan(const HybridPlan& plan) {
  std::string out = absl::StrFormat("hybrid plan: %s tail, M=%d, %d sinks; windows chosen from {",
                                    RfKindName(plan.kind), plan.features, plan.sinks);
  for (size_t c = 0; c < plan.candidates.size(); ++c) {
    absl::StrAppend(&out, c > 0 ? "," : "", WindowName(plan.candidates[c]));
  }
  absl::StrAppendFormat(&out,
                        "} under a budget of %g tokens per head (exact head = %d tokens); errors "
                        "measured on %d positions\n",
                        plan.budget, plan.exact_cost, plan.tokens);
  absl::StrAppend(&out, "layer  window per kv head (relative output error)\n");
  for (int64_t l = 0; l < plan.layers(); ++l) {
    absl::StrAppendFormat(&out, "%5d ", l);
    for (int64_t h = 0; h < plan.heads(); ++h) {
      absl::StrAppendFormat(&out, " %5s (%.4f)", WindowName(plan.windows[l][h]),
                            plan.ChosenError(l, h));
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppendFormat(&out, "mean cost %.1f tokens per head, summed error %.4f; every head at",
                        plan.MeanCost(), plan.TotalError());
  for (size_t c = 0; c < plan.candidates.size(); ++c) {
    double uniform = 0;
    for (const auto& layer : plan.errors) {
      for (const auto& head : layer) uniform += head[c];
    }
    absl::StrAppendFormat(&out, "%s %s: %.4f", c > 0 ? "," : "", WindowName(plan.candidates[c]),
                          uniform);
  }
  absl::StrAppend(&out, "\n");
  return out;
}

}  // namespace favor::rf
