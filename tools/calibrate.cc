// favor calibrate: runs a model with exact attention over a calibration text and saves, per layer
// and key/value head, the statistics of its queries and keys. `--favor-stats calibrated` (or FILE)
// then fixes the random-feature parameters from them: strictly causal, the same for every prompt.
// With --plan it also measures hybrid attention per layer and head on the first window and saves a
// per-head plan of windows with the statistics (`--favor-plan` runs it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/core/storage.h"
#include "engine/graph/attention_statistics.h"
#include "engine/rf/calibration.h"
#include "engine/runtime/attention_resolution.h"
#include "engine/runtime/hybrid_planner.h"
#include "engine/runtime/model.h"
#include "engine/runtime/plan_refinement.h"
#include "engine/runtime/session.h"
#include "tools/bench_report.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/prompt_text.h"

namespace favor::cli {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "favor calibrate: error: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int Calibrate(int argc, char** argv) {
  std::string model_path, text_path, out_path, tokenizer_path;
  int64_t context = 0, threads = 0;
  ArgParser args("calibrate");
  args.String({"-m", "--model"}, "PATH", "model: .gguf, llama2.c .bin, or Hugging Face directory",
              &model_path);
  args.String({"-f", "--file"}, "TEXT", "calibration text file", &text_path);
  args.String({"-o", "--output"}, "PATH", "statistics file (default MODEL.favor-stats)", &out_path);
  args.String({"--tokenizer"}, "PATH",
              "tokenizer.json, SentencePiece .model or llama2.c tokenizer.bin (default: the "
              "model's own)",
              &tokenizer_path);
  args.Int({"-c", "--ctx-size"}, "N",
           "window: the text is fed in windows of N tokens, BOS first (default: the model's "
           "context; at least 2)",
           &context, {.min = 0});
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads,
           {.min = 0, .max = 4096});
  bool plan = false;
  float budget = 64;
  // The planned hybrid attention's tail and sinks; their defaults are an attention's.
  int64_t plan_tokens = 512, sinks = kDefaultSinks, favor_seed = 0;
  std::string windows_text = "0,16,32,64,128,exact", rf_name = "saderf",
              features_text = absl::StrCat("0,", kDefaultFeatures);
  args.Flag({"--plan"},
            "also measure hybrid attention's error per layer and head and save a per-head plan",
            &plan);
  args.Float({"--plan-budget"}, "T",
             "mean state per head the plan may keep, in tokens of KV cache (window and sinks "
             "cost a token each and a little more; a tail of M features M (d + 2) / 2d; a fully "
             "exact head the context; default 64)",
             &budget, {.min = 0});
  args.String({"--plan-windows"}, "LIST",
              "candidate windows per head, 'exact' = fully exact (default 0,16,32,64,128,exact)",
              &windows_text);
  args.Int({"--plan-tokens"}, "N",
           "positions of the first window the errors are measured on (default 512)", &plan_tokens,
           {.min = 2, .max = 65536});
  args.Int({"--sinks"}, "S",
           absl::StrCat("exact sink tokens of the planned hybrid attention (default ",
                        kDefaultSinks, ")"),
           &sinks, {.min = 0, .max = kMaxWindow});
  args.String({"--rf"}, "KIND", "random-feature tail to plan for (default saderf = favor#)",
              &rf_name);
  args.String({"--features"}, "LIST",
              absl::StrCat("candidate tails: random features per head, 0 = none (window-only); "
                           "each window is tried with each (default 0,",
                           kDefaultFeatures, ")"),
              &features_text);
  args.Int({"--favor-seed"}, "N", "seed of the random projections (default 0)", &favor_seed,
           {.min = 0});
  std::string objective = "heads";
  args.String({"--plan-objective"}, "heads|model",
              "what the plan minimises. heads: each head's relative output error, measured alone "
              "(one pass per layer). model: then refined against the model's mean KL to exact "
              "attention on the measured positions (up to 6 rounds of heads x candidates "
              "passes; minutes for small models, hours for large ones). Default heads",
              &objective);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty() || text_path.empty()) {
    std::fprintf(stderr, "favor calibrate: -m PATH and -f TEXT are required\n\n%s",
                 args.Usage().c_str());
    return 2;
  }
  if (context == 1) {
    // A window holds BOS and the text's tokens: one position leaves no room for any of them.
    return PrintUsageError("calibrate", "-c must be at least 2 (BOS and one token of the text)");
  }
  if (!plan) {
    for (const char* flag : {"--plan-budget", "--plan-windows", "--plan-tokens", "--sinks", "--rf",
                             "--plan-objective", "--features", "--favor-seed"}) {
      if (args.Given(flag)) {
        return PrintUsageError("calibrate", absl::StrCat(flag, " applies to --plan only"));
      }
    }
  }
  if (out_path.empty()) out_path = runtime::DefaultCalibrationPath(model_path);
  auto text = ReadFileBytes(text_path);
  if (!text.ok()) return Fail(text.status());

  runtime::HybridPlanOptions plan_options;
  if (objective != "heads" && objective != "model") {
    return PrintUsageError(
        "calibrate", absl::StrCat("--plan-objective is heads or model, got '", objective, "'"));
  }
  if (plan) {
    auto kind = rf::ParseRfKind(rf_name);
    if (!kind.ok() || !rf::IsPositive(*kind)) {
      return PrintUsageError(
          "calibrate", absl::StrCat("--rf ", rf_name, " is not a positive random-feature kind"));
    }
    auto windows = rf::ParseWindowList(windows_text);
    if (!windows.ok()) return PrintUsageError("calibrate", std::string(windows.status().message()));
    auto tails = ParseIntList(features_text, "--features");
    if (!tails.ok()) return PrintUsageError("calibrate", std::string(tails.status().message()));
    for (int64_t m : *tails) {
      if (m < 0 || m > kMaxFeatures) {
        return PrintUsageError(
            "calibrate", absl::StrCat("--features must be in [0, ", kMaxFeatures, "], got ", m));
      }
    }
    plan_options.candidates.clear();
    for (int64_t window : *windows) {
      if (window == rf::kExactHead) {
        plan_options.candidates.push_back({rf::kExactHead, 0});
        continue;
      }
      for (int64_t m : *tails) {
        if (window > 0 || m > 0) plan_options.candidates.push_back({window, m});
      }
    }
    if (plan_options.candidates.empty() || plan_options.candidates.size() > 64) {
      return PrintUsageError(
          "calibrate",
          absl::StrCat("--plan-windows x --features make ", plan_options.candidates.size(),
                       " candidates; a plan takes 1 to 64 (window 0 needs a tail)"));
    }
    const int64_t largest = *std::max_element(tails->begin(), tails->end());
    plan_options.features = {.kind = *kind,
                             .features = std::max<int64_t>(largest, 1),
                             .projection = rf::ProjectionKind::kOrthogonal,
                             .seed = static_cast<uint64_t>(favor_seed)};
    plan_options.sinks = sinks;
    plan_options.budget = budget;
    plan_options.threads = static_cast<int>(threads);
  }

  auto model = runtime::Model::Load(model_path, {.tokenizer_path = tokenizer_path});
  if (!model.ok()) return Fail(model.status());
  auto session =
      runtime::Session::Create(**model, {.context = context, .threads = static_cast<int>(threads)});
  if (!session.ok()) return Fail(session.status());
  auto recorder =
      AttentionStatisticsRecorder::Create(*(*model)->exact().graph, plan ? plan_tokens : 0);
  if (!recorder.ok()) return Fail(recorder.status());
  (*session)->executor().SetObserver(recorder->get());
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  auto ids = tokenizer.Encode(*text, false);
  if (!ids.ok()) return Fail(ids.status());
  if (ids->empty())
    return Fail(absl::InvalidArgumentError(absl::StrCat("'", text_path, "' holds no text")));
  // Windows of the context, each starting with BOS like a prompt.
  const auto start = std::chrono::steady_clock::now();
  const int64_t window = (*session)->context() - 1;
  if (window < 1) {  // A model trained on a context of one token, given no -c.
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "a context of ", (*session)->context(), " holds no token after BOS; give -c 2 or more")));
  }
  for (size_t begin = 0; begin < ids->size(); begin += static_cast<size_t>(window)) {
    std::vector<int32_t> chunk = {tokenizer.bos_id()};
    const size_t end = std::min(ids->size(), begin + static_cast<size_t>(window));
    chunk.insert(chunk.end(), ids->begin() + static_cast<std::ptrdiff_t>(begin),
                 ids->begin() + static_cast<std::ptrdiff_t>(end));
    (*session)->Reset();
    if (auto fed = (*session)->Feed(chunk); !fed.ok()) return Fail(fed.status());
  }
  rf::Calibration& statistics = (*recorder)->statistics();
  if (plan) {
    plan_options.context = (*session)->context();
    auto chosen = runtime::PlanHybridAttention((*recorder)->capture(), statistics, plan_options);
    if (!chosen.ok()) return Fail(chosen.status());
    if (objective == "model") {
      (*session)->executor().SetObserver(nullptr);
      // The positions the per-head errors were measured on: the first window, BOS first.
      std::vector<int32_t> measured = {tokenizer.bos_id()};
      const auto take = std::min<size_t>(ids->size(), static_cast<size_t>(chosen->tokens - 1));
      measured.insert(measured.end(), ids->begin(),
                      ids->begin() + static_cast<std::ptrdiff_t>(take));
      auto model_objective = runtime::ModelPlanObjective::Create(
          **model, std::move(measured), statistics, static_cast<uint64_t>(favor_seed),
          {.context = (*session)->context(), .threads = static_cast<int>(threads)});
      if (!model_objective.ok()) return Fail(model_objective.status());
      auto refined = runtime::RefinePlan(*chosen, *model_objective);
      if (!refined.ok()) return Fail(refined.status());
      std::fprintf(
          stderr,
          "favor calibrate: plan refined end to end in %lld passes: mean KL %.4f (per-head "
          "plan %.4f, best uniform candidate %s %.4f)\n",
          static_cast<long long>(refined->evaluations), chosen->calibration_kl,
          refined->per_head_score, rf::CandidateName(refined->uniform).c_str(),
          refined->uniform_score);
    }
    statistics.plan = *std::move(chosen);
    std::printf("%s", rf::DescribePlan(*statistics.plan).c_str());
  }
  if (auto status = rf::SaveCalibration(statistics, out_path); !status.ok()) return Fail(status);
  std::fprintf(
      stderr,
      "favor calibrate: %lld tokens through %zu layers in %.2f s; statistics written to %s\n",
      static_cast<long long>(statistics.tokens), statistics.layers.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
      out_path.c_str());
  return 0;
}

}  // namespace favor::cli
