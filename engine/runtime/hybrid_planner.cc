#include "engine/runtime/hybrid_planner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/graph/executor.h"
#include "engine/ops/attention.h"
#include "engine/ops/hybrid_attention.h"

namespace favor::runtime {
namespace {

// One layer's captured inputs as a one-node graph around `op`, run from position 0.
absl::StatusOr<std::vector<float>> RunOnCapture(std::shared_ptr<const Op> op,
                                                const AttentionCapture::Layer& layer, int threads) {
  auto graph = std::make_shared<Graph>();
  const int64_t d = layer.heads.head_dim;
  FAVOR_ASSIGN_OR_RETURN(
      const ValueId q,
      graph->AddInput("q", {DType::kF32, Shape{kSeqLen, layer.heads.n_heads * d}}));
  FAVOR_ASSIGN_OR_RETURN(
      const ValueId k,
      graph->AddInput("k", {DType::kF32, Shape{kSeqLen, layer.heads.n_kv_heads * d}}));
  FAVOR_ASSIGN_OR_RETURN(
      const ValueId v,
      graph->AddInput("v", {DType::kF32, Shape{kSeqLen, layer.heads.n_kv_heads * d}}));
  FAVOR_ASSIGN_OR_RETURN(const ValueId out, graph->Add("attention", std::move(op), {q, k, v}));
  FAVOR_RETURN_IF_ERROR(graph->MarkOutput(out));
  FAVOR_ASSIGN_OR_RETURN(
      auto executor, Executor::Create(graph, {.max_seq_len = layer.tokens, .threads = threads}));
  FAVOR_ASSIGN_OR_RETURN(auto state, executor->CreateState({.max_context = layer.tokens}));
  auto input = [&](const std::vector<float>& rows, int64_t heads) {
    return Tensor::Borrow(const_cast<float*>(rows.data()), DType::kF32,
                          Shape{layer.tokens, heads * d}, /*writable=*/false);
  };
  FAVOR_RETURN_IF_ERROR(
      executor->Run({input(layer.q, layer.heads.n_heads), input(layer.k, layer.heads.n_kv_heads),
                     input(layer.v, layer.heads.n_kv_heads)},
                    *state));
  const Tensor& result = executor->output(0);
  return std::vector<float>(result.data<float>(), result.data<float>() + result.NumElements());
}

}  // namespace

absl::StatusOr<rf::HybridPlan> PlanHybridAttention(const AttentionCapture& capture,
                                                   const rf::Calibration& calibration,
                                                   const HybridPlanOptions& options) {
  const int64_t tokens = capture.tokens();
  if (tokens <= 0) return absl::InvalidArgumentError("no attention inputs were captured");
  if (calibration.layers.size() != capture.layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the statistics have ",
                                                   calibration.layers.size(),
                                                   " layers, the capture ", capture.layers.size()));
  }
  for (const rf::PlanCandidate& candidate : options.candidates) {
    if (candidate.window != rf::kExactHead && candidate.window >= tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          "candidate window ", candidate.window, " is not shorter than the ", tokens,
          " measured positions: its error would read 0 without meaning it (use a longer "
          "calibration sequence or smaller windows)"));
    }
  }
  rf::HybridPlan plan;
  plan.sinks = options.sinks;
  plan.kind = options.features.kind;
  plan.features = options.features.features;
  plan.tokens = tokens;
  plan.head_dim = capture.layers.empty() ? 0 : capture.layers[0].heads.head_dim;
  plan.candidates = options.candidates;
  plan.exact_cost = options.context;
  plan.budget = options.budget;
  // Uniform window-only attention of the budget's memory is the baseline a plan must beat: it is
  // always a candidate, so the plan can be it (and a plan chosen end to end is never worse than it
  // on the calibration text).
  const rf::PlanCandidate baseline{plan.LongestWindowWithinBudget(), 0};
  if (baseline.window > 0 && baseline.window < tokens && plan.candidates.size() < 64 &&
      std::find(plan.candidates.begin(), plan.candidates.end(), baseline) ==
          plan.candidates.end()) {
    plan.candidates.push_back(baseline);
  }
  for (size_t l = 0; l < capture.layers.size(); ++l) {
    const AttentionCapture::Layer& layer = capture.layers[l];
    const auto context = absl::StrCat("hybrid plan, layer ", l);
    auto exact_op = AttentionOp::Create(layer.heads);
    if (!exact_op.ok()) return WithContext(exact_op.status(), context);
    auto exact = RunOnCapture(*exact_op, layer, options.threads);
    if (!exact.ok()) return WithContext(exact.status(), context);
    const int64_t d = layer.heads.head_dim, group = layer.heads.n_heads / layer.heads.n_kv_heads;
    auto& errors = plan.errors.emplace_back(static_cast<size_t>(layer.heads.n_kv_heads),
                                            std::vector<double>(plan.candidates.size(), 0.0));
    for (size_t c = 0; c < plan.candidates.size(); ++c) {
      const rf::PlanCandidate& candidate = plan.candidates[c];
      if (candidate.window == rf::kExactHead) continue;  // Exact: no error.
      HybridAttentionOptions h;
      h.heads = layer.heads;
      h.layer = static_cast<int64_t>(l);
      h.window = candidate.window;
      h.sinks = options.sinks;
      h.features = options.features;
      h.features.features = std::max<int64_t>(candidate.features, 1);
      h.random_feature_tail = candidate.features > 0;
      h.chunk = options.chunk;
      if (options.features.kind != rf::RfKind::kPos) h.calibration = calibration.layers[l];
      auto op = HybridAttentionOp::Create(std::move(h));
      if (!op.ok()) return WithContext(op.status(), context);
      auto hybrid = RunOnCapture(*op, layer, options.threads);
      if (!hybrid.ok()) return WithContext(hybrid.status(), context);
      for (int64_t g = 0; g < layer.heads.n_kv_heads; ++g) {
        double difference = 0, reference = 0;
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t head = g * group; head < (g + 1) * group; ++head) {
            const auto at = static_cast<size_t>((t * layer.heads.n_heads + head) * d);
            for (int64_t i = 0; i < d; ++i) {
              const double x = (*exact)[at + static_cast<size_t>(i)];
              const double y = (*hybrid)[at + static_cast<size_t>(i)];
              difference += (x - y) * (x - y);
              reference += x * x;
            }
          }
        }
        errors[static_cast<size_t>(g)][c] = difference / std::max(reference, 1e-300);
      }
    }
  }
  FAVOR_RETURN_IF_ERROR(rf::ChoosePlan(plan));
  return plan;
}

}  // namespace favor::runtime
