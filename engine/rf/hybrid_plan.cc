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

int64_t HybridPlan::CostUnits(const PlanCandidate& candidate) const {
  const int64_t window = candidate.window == kExactHead ? exact_cost : candidate.window;
  if (head_dim <= 0) return window;
  return (sinks + window) * (2 * head_dim + 1) + candidate.features * (head_dim + 2);
}

double HybridPlan::Cost(const PlanCandidate& candidate) const {
  const auto units = static_cast<double>(CostUnits(candidate));
  return head_dim <= 0 ? units : units / static_cast<double>(2 * head_dim);
}

int64_t HybridPlan::LongestWindowWithinBudget() const {
  // The cost is affine in the window: a guess from the cost of one more token, then Cost() decides
  // at the boundary (rounding).
  const double sinks_only = Cost({0, 0}), per_token = Cost({1, 0}) - sinks_only;
  auto window = static_cast<int64_t>(std::floor((budget - sinks_only) / per_token));
  window = std::max<int64_t>(window, 0);
  while (window > 0 && Cost({window, 0}) > budget) --window;
  while (Cost({window + 1, 0}) <= budget) ++window;
  return window;
}

std::vector<int64_t> HybridPlan::Windows(int64_t layer) const {
  std::vector<int64_t> windows;
  for (const PlanCandidate& c : choices[static_cast<size_t>(layer)]) windows.push_back(c.window);
  return windows;
}

std::vector<int64_t> HybridPlan::Features(int64_t layer) const {
  std::vector<int64_t> tails;
  for (const PlanCandidate& c : choices[static_cast<size_t>(layer)]) tails.push_back(c.features);
  return tails;
}

double HybridPlan::ChosenError(int64_t layer, int64_t head) const {
  const auto l = static_cast<size_t>(layer), h = static_cast<size_t>(head);
  const auto it = std::find(candidates.begin(), candidates.end(), choices[l][h]);
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
  for (const auto& layer : choices) {
    for (const PlanCandidate& c : layer) total += Cost(c);
  }
  return choices.empty() ? 0.0 : total / static_cast<double>(layers() * heads());
}

absl::Status ChoosePlan(HybridPlan& plan) {
  const auto candidate_count = static_cast<int64_t>(plan.candidates.size());
  if (candidate_count == 0 || candidate_count > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("a plan needs 1 to 64 candidates, got ", candidate_count));
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
  for (const PlanCandidate& c : plan.candidates) {
    if ((c.window < 0 && c.window != kExactHead) || c.features < 0 ||
        (c.window == 0 && c.features == 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid candidate window ", c.window, " with ", c.features, " features"));
    }
    if (c.window == kExactHead && plan.exact_cost <= 0) {
      return absl::InvalidArgumentError("a fully exact candidate needs the context length");
    }
    unit = std::gcd(unit, plan.CostUnits(c));
  }
  unit = std::max<int64_t>(unit, 1);
  const int64_t heads = layers * per_layer;
  if (!(plan.budget >= 0) || plan.budget > 1e9) {
    return absl::InvalidArgumentError(absl::StrCat("invalid budget ", plan.budget));
  }
  // The budget in cost units over all heads; a unit coarse enough that the table (heads x budget)
  // stays within kMaxCells, costs rounded up to it.
  constexpr double kMaxCells = 5e7;
  const double per_unit = plan.head_dim > 0 ? static_cast<double>(2 * plan.head_dim) : 1.0;
  const double total = plan.budget * per_unit * static_cast<double>(heads);
  unit = std::max<int64_t>(
      unit, static_cast<int64_t>(std::ceil(total * static_cast<double>(heads) / kMaxCells)));
  const auto budget_units =
      static_cast<int64_t>(std::floor(total / static_cast<double>(unit) + 1e-9));
  std::vector<int64_t> cost(static_cast<size_t>(candidate_count));
  for (int64_t c = 0; c < candidate_count; ++c) {
    const int64_t units = plan.CostUnits(plan.candidates[static_cast<size_t>(c)]);
    cost[static_cast<size_t>(c)] = (units + unit - 1) / unit;
  }
  const int64_t cheapest = *std::min_element(cost.begin(), cost.end());
  if (cheapest * heads > budget_units) {
    double least = std::numeric_limits<double>::infinity();
    for (const PlanCandidate& c : plan.candidates) least = std::min(least, plan.Cost(c));
    return absl::InvalidArgumentError(absl::StrCat(
        "the budget of ", plan.budget, " per head is below the cheapest candidate (", least, ")"));
  }  // best[b]: the least summed error of the heads so far with total cost b units; choice[h][b]
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
  plan.choices.assign(static_cast<size_t>(layers),
                      std::vector<PlanCandidate>(static_cast<size_t>(per_layer)));
  for (int64_t h = heads - 1; h >= 0; --h) {
    const int8_t c = choice[static_cast<size_t>(h)][b];
    plan.choices[static_cast<size_t>(h / per_layer)][static_cast<size_t>(h % per_layer)] =
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

std::string CandidateName(const PlanCandidate& candidate) {
  if (candidate.window == kExactHead) return "exact";
  return candidate.features > 0 ? absl::StrCat(candidate.window, "+M", candidate.features)
                                : absl::StrCat(candidate.window);
}

std::string DescribePlan(const HybridPlan& plan) {
  const std::string unit =
      plan.head_dim > 0 ? "tokens of KV cache per head" : "window tokens per head";
  std::string out = absl::StrFormat("hybrid plan: %s tails, %d sinks; per head one of {",
                                    RfKindName(plan.kind), plan.sinks);
  for (size_t c = 0; c < plan.candidates.size(); ++c) {
    absl::StrAppend(&out, c > 0 ? "," : "", CandidateName(plan.candidates[c]));
  }
  absl::StrAppendFormat(&out,
                        "} (W+M: window W and a tail of M features; W alone: window-only) under "
                        "a budget of %g %s (exact head = %d tokens); errors measured on %d "
                        "positions\n",
                        plan.budget, unit, plan.exact_cost, plan.tokens);
  absl::StrAppend(&out, "layer  choice per kv head (relative output error)\n");
  for (int64_t l = 0; l < plan.layers(); ++l) {
    absl::StrAppendFormat(&out, "%5d ", l);
    for (int64_t h = 0; h < plan.heads(); ++h) {
      absl::StrAppendFormat(&out, " %8s (%.4f)", CandidateName(plan.choices[l][h]),
                            plan.ChosenError(l, h));
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppendFormat(&out, "mean cost %.1f %s, summed error %.4f; every head at",
                        plan.MeanCost(), unit, plan.TotalError());
  for (size_t c = 0; c < plan.candidates.size(); ++c) {
    double uniform = 0;
    for (const auto& layer : plan.errors) {
      for (const auto& head : layer) uniform += head[c];
    }
    absl::StrAppendFormat(&out, "%s %s (cost %.1f): %.4f", c > 0 ? "," : "",
                          CandidateName(plan.candidates[c]), plan.Cost(plan.candidates[c]),
                          uniform);
  }
  absl::StrAppend(&out, "\n");
  if (plan.calibration_kl >= 0) {
    absl::StrAppendFormat(&out,
                          "chosen end to end: the model's mean KL against exact attention on the "
                          "calibration text is %.4f\n",
                          plan.calibration_kl);
  }
  return out;
}

}  // namespace favor::rf
