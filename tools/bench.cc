// favor bench: speed and memory of prompt processing (ppN) and generation (tgN), optionally at a
// context depth already in the state, over a grid of attention kinds, feature counts, threads
// and weight types; llama-bench's conventions (random tokens, a warm-up run, mean +- stddev over
// repetitions). See tools/bench_report.h for the output formats.
//
// Depth: by default the state is filled to the depth by repeating a short real prefix
// (GraphState::ExtendByRepeating): a step's cost depends on how many tokens the state holds, not
// on what they are, and a real 32K prefill with exact attention takes many minutes.
// --real-depth prefills the depth for real instead.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/core/memory_budget.h"
#include "engine/core/status.h"
#include "engine/core/threading.h"
#include "engine/io/weight_presets.h"
#include "engine/ops/attention_op.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "models/synthetic.h"
#include "tools/attention_flags.h"
#include "tools/bench_report.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace favor::cli {
namespace {

using Clock = std::chrono::steady_clock;

int Fail(const absl::Status& status) { return PrintFailure("bench", status); }
int UsageError(const std::string& message) { return PrintUsageError("bench", message); }

struct TestSpec {
  bool prompt;
  int64_t tokens;
  int64_t depth;
  int64_t parallel;  // Sequences run together.
};

struct RunSettings {
  int repetitions;
  int64_t batch;
  bool real_depth;
  uint64_t seed;
  bool profile;  // Print the time per op type to stderr.
};

// How many real tokens start a depth fill: enough for prompt statistics and to fill a hybrid
// attention's window and sinks, cheap to prefill.
constexpr int64_t kDepthPrefix = 256;

absl::StatusOr<BenchRow> RunTest(const runtime::ModelVariant& model, const TestSpec& test,
                                 int threads, const RunSettings& settings) {
  // P sequences run together (continuous batching, as favor serve runs its slots): each forward
  // pass takes one token of every sequence (tg) or a share of the batch of each prompt (pp).
  const int64_t parallel = test.parallel;
  auto executor = Executor::Create(model.graph, {.max_seq_len = std::max(settings.batch, parallel),
                                                 .max_sequences = parallel,
                                                 .threads = threads,
                                                 .profile = true});
  if (!executor.ok()) return executor.status();
  Executor& e = **executor;
  const StateOptions state_options{.max_context = test.depth + test.tokens};
  std::vector<std::unique_ptr<GraphState>> states;
  for (int64_t p = 0; p < parallel; ++p) {
    auto state = e.CreateState(state_options);
    if (!state.ok()) return state.status();
    states.push_back(*std::move(state));
  }
  std::mt19937 rng(static_cast<uint32_t>(settings.seed));
  std::uniform_int_distribution<int32_t> token(3, static_cast<int32_t>(model.vocab_size) - 1);
  auto random_tokens = [&](int64_t count) {
    std::vector<int32_t> ids(static_cast<size_t>(count));
    for (int32_t& id : ids) id = token(rng);
    return ids;
  };
  // Feeds each sequence its tokens, `per_pass` of each per forward pass.
  std::vector<SequenceRun> runs;
  std::vector<int32_t> step_tokens;
  auto feed = [&](const std::vector<std::vector<int32_t>>& ids, int64_t per_pass) -> absl::Status {
    const int64_t length = static_cast<int64_t>(ids.front().size());
    for (int64_t at = 0; at < length; at += per_pass) {
      const int64_t chunk = std::min(per_pass, length - at);
      runs.clear();
      step_tokens.clear();
      for (size_t p = 0; p < ids.size(); ++p) {
        step_tokens.insert(step_tokens.end(), ids[p].begin() + at, ids[p].begin() + at + chunk);
        runs.push_back({states[p].get(), chunk});
      }
      const Tensor input = Tensor::Borrow(step_tokens.data(), DType::kI32,
                                          Shape{static_cast<int64_t>(step_tokens.size())});
      FAVOR_RETURN_IF_ERROR(e.Run(std::span<const Tensor>(&input, 1), runs));
    }
    return absl::OkStatus();
  };
  auto each = [&](int64_t count) {
    std::vector<std::vector<int32_t>> ids;
    for (int64_t p = 0; p < parallel; ++p) ids.push_back(random_tokens(count));
    return ids;
  };

  ResetPeakResident();
  std::vector<double> speeds;
  double attention_seconds = 0, total_seconds = 0;
  std::map<std::string, double> seconds_by_type;
  const int64_t prompt_share = std::max<int64_t>(1, settings.batch / parallel);
  for (int rep = 0; rep <= settings.repetitions; ++rep) {  // Run 0 warms up.
    for (auto& state : states) state->Reset();
    if (test.depth > 0) {
      const int64_t prefix = settings.real_depth ? test.depth : std::min(test.depth, kDepthPrefix);
      FAVOR_RETURN_IF_ERROR(feed(each(prefix), prompt_share));
      if (prefix < test.depth) {
        for (auto& state : states) FAVOR_RETURN_IF_ERROR(state->ExtendByRepeating(test.depth));
      }
    }
    const std::vector<std::vector<int32_t>> ids = each(test.tokens);
    e.ResetProfile();
    const auto start = Clock::now();
    FAVOR_RETURN_IF_ERROR(feed(ids, test.prompt ? prompt_share : 1));
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (rep == 0) continue;
    speeds.push_back(static_cast<double>(test.tokens * parallel) / seconds);
    total_seconds += seconds;
    const auto nanos = e.node_nanoseconds();
    for (size_t id = 0; id < nanos.size(); ++id) {
      const Node& node = model.graph->node(static_cast<NodeId>(id));
      if (node.removed) continue;
      const double node_seconds = static_cast<double>(nanos[id]) * 1e-9;
      if (IsAttention(*node.op)) attention_seconds += node_seconds;
      if (settings.profile) seconds_by_type[std::string(node.op->type())] += node_seconds;
    }
  }
  if (settings.profile) {
    std::string line = absl::StrCat("favor bench: profile ", test.prompt ? "pp" : "tg", test.tokens,
                                    " x", test.parallel, " @ d", test.depth, ":");
    double accounted = 0;
    for (const auto& [type, seconds] : seconds_by_type) {
      absl::StrAppend(&line, absl::StrFormat(" %s %.1f%%", type, 100 * seconds / total_seconds));
      accounted += seconds;
    }
    absl::StrAppend(
        &line, absl::StrFormat(" (outside ops %.1f%%)", 100 * (1 - accounted / total_seconds)));
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  BenchRow row;
  row.prompt = test.prompt;
  row.tokens = test.tokens;
  row.depth = test.depth;
  row.parallel = parallel;
  row.threads = e.threads();
  row.repetitions = settings.repetitions;
  double sum = 0;
  for (double v : speeds) sum += v;
  row.tokens_per_second = sum / static_cast<double>(speeds.size());
  double squares = 0;
  for (double v : speeds) squares += (v - row.tokens_per_second) * (v - row.tokens_per_second);
  row.tokens_per_second_sd =
      speeds.size() > 1 ? std::sqrt(squares / static_cast<double>(speeds.size() - 1)) : 0.0;
  row.attention_share = total_seconds > 0 ? attention_seconds / total_seconds : 0.0;
  row.state_mib = static_cast<double>(states.front()->NumBytes()) / (1 << 20);
  row.peak_rss_mib = static_cast<double>(PeakResidentBytes()) / (1 << 20);
  return row;
}

// A synthetic model's matrices stored in a weight preset's types, as favor quantize writes them.
absl::StatusOr<io::ModelFile> StoreWeights(const io::ModelFile& file,
                                           const std::string& preset_name, int threads) {
  FAVOR_ASSIGN_OR_RETURN(const io::WeightPreset preset, io::FindWeightPreset(preset_name));
  io::ModelFile stored = file;
  std::vector<std::string> names;
  for (const auto& [name, tensor] : file.tensors) names.push_back(name);
  const io::WeightTypePlan plan(
      preset, names, file.config.n_kv_heads > 0 ? file.config.n_heads / file.config.n_kv_heads : 1);
  for (auto& [name, tensor] : stored.tensors) {
    const io::WeightChoice choice = plan.Choose(name, tensor);
    FAVOR_ASSIGN_OR_RETURN(tensor, io::ConvertWeights(tensor, choice.type, threads));
  }
  return stored;
}

}  // namespace

int Bench(int argc, char** argv) {
  std::string model_path, shape, prompt_list = "512", gen_list = "128", depth_list = "0",
                                 parallel_list = "1", thread_list, dtype_list = "f32",
                                 output = "md", plot_path, tokenizer_path;
  int64_t repetitions = 5, batch = 512, seed = 42;
  bool real_depth = false, profile = false;
  ArgParser args("bench");
  args.String({"-m", "--model"}, "PATH", "model file or directory", &model_path);
  args.String({"--shape"}, "NAME",
              "synthetic model with random weights instead: tiny|stories15M|stories110M|llama-1b, "
              "or a family's dimensions: qwen2.5-0.5b|llama-3.2-1b|gemma-2-2b",
              &shape);
  args.String({"--tokenizer"}, "PATH", "tokenizer for -m (default: the model's own)",
              &tokenizer_path);
  args.String({"-p", "--n-prompt"}, "LIST", "prompt lengths, pp tests (default 512; 0: none)",
              &prompt_list);
  args.String({"-n", "--n-gen"}, "LIST", "generated tokens, tg tests (default 128; 0: none)",
              &gen_list);
  args.String({"-d", "--n-depth"}, "LIST", "context depths, e.g. 0,512-32768*2 (default 0)",
              &depth_list);
  args.String({"-np", "--parallel"}, "LIST",
              "sequences run together, as favor serve --parallel runs them: each forward pass "
              "takes a token of every sequence; t/s is their sum (default 1)",
              &parallel_list);
  AttentionFlags attention{.use = AttentionFlagUse::kGrid, .kinds = "exact,favor#"};
  AddAttentionFlags(args, attention);
  args.String({"-t", "--threads"}, "LIST", "threads (default: physical cores)", &thread_list);
  args.String({"--dtype"}, "LIST",
              "matrix weights: f32,bf16 (compute types); with --shape also a storage type, the "
              "weights quantized as favor quantize does: any of its types "
              "(q8_0,q4_0,q4_k_m,iq4_xs,f16,...) "
              "(default f32)",
              &dtype_list);
  args.Int({"-b", "--batch-size"}, "N", "prompt tokens per forward pass (default 512)", &batch);
  args.Int({"-r", "--repetitions"}, "N", "measured runs per test after one warm-up (default 5)",
           &repetitions);
  args.Int({"--seed"}, "N", "seed of the random tokens (default 42)", &seed);
  args.Flag({"--real-depth"}, "prefill the depth for real (default: repeat a 64-token prefix)",
            &real_depth);
  args.Flag({"--profile"}, "print the share of time per op type of each test to stderr", &profile);
  args.String({"-o", "--output"}, "md|csv|json", "output format (default md)", &output);
  args.String({"--plot"}, "FILE.svg", "write tg latency against depth, log-log", &plot_path);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;

  if (model_path.empty() == shape.empty()) {
    return UsageError("give a model (-m PATH) or a synthetic shape (--shape NAME), not both");
  }
  if (output != "md" && output != "csv" && output != "json") {
    return UsageError(absl::StrCat("-o must be md, csv or json, got '", output, "'"));
  }
  if (repetitions < 1 || repetitions > 1000) {
    return UsageError(absl::StrCat("-r must be in [1, 1000], got ", repetitions));
  }
  if (batch < 1) return UsageError(absl::StrCat("-b must be positive, got ", batch));
  auto prompts = ParseIntList(prompt_list, "-p");
  auto gens = ParseIntList(gen_list, "-n");
  auto depths = ParseIntList(depth_list, "-d");
  auto parallels = ParseIntList(parallel_list, "--parallel");
  auto threads =
      thread_list.empty()
          ? absl::StatusOr<std::vector<int64_t>>(std::vector<int64_t>{PhysicalCoreCount()})
          : ParseIntList(thread_list, "-t");
  auto dtypes = ParseStringList(dtype_list, "--dtype");
  for (const absl::Status& status : {prompts.status(), gens.status(), depths.status(),
                                     parallels.status(), threads.status(), dtypes.status()}) {
    if (!status.ok()) return UsageError(std::string(status.message()));
  }
  for (int64_t p : *parallels) {
    if (p < 1 || p > 256) return UsageError(absl::StrCat("--parallel: bad count ", p));
  }
  for (const auto* list : {&*prompts, &*gens, &*depths}) {
    for (int64_t v : *list) {
      if (v < 0) return UsageError("-p, -n and -d take counts of tokens >= 0");
    }
  }
  for (int64_t t : *threads) {
    if (t < 1 || t > 1024) return UsageError(absl::StrCat("-t: bad thread count ", t));
  }
  for (const std::string& dtype : *dtypes) {
    if (dtype == "f32" || dtype == "bf16") continue;
    if (!io::FindWeightPreset(dtype).ok()) {
      return UsageError(absl::StrCat("--dtype: '", dtype, "' is not f32, bf16 or one of ",
                                     io::WeightPresetNames()));
    }
    if (shape.empty()) {
      return UsageError(absl::StrCat("--dtype ", dtype,
                                     " stores a synthetic model (--shape) that way; a model file "
                                     "runs in its own types (make one with favor quantize)"));
    }
  }
  std::vector<TestSpec> tests;
  for (int64_t p : *parallels) {
    for (int64_t depth : *depths) {
      for (int64_t n : *prompts) {
        if (n > 0) tests.push_back({.prompt = true, .tokens = n, .depth = depth, .parallel = p});
      }
      for (int64_t n : *gens) {
        if (n > 0) tests.push_back({.prompt = false, .tokens = n, .depth = depth, .parallel = p});
      }
    }
  }
  if (tests.empty()) return UsageError("no tests: -p and -n are both 0");
  if (!plot_path.empty()) {
    // What BenchPlotSvg can draw, known before anything is measured.
    const bool gen_depths = depths->size() >= 2 && std::any_of(gens->begin(), gens->end(),
                                                               [](int64_t n) { return n > 0; });
    const auto lengths =
        std::count_if(prompts->begin(), prompts->end(), [](int64_t n) { return n > 0; });
    if (!gen_depths && lengths < 2) {
      return UsageError(
          "--plot: nothing to plot; it draws generation latency against depth (give -d with two "
          "or more depths) or prompt throughput against prompt length (two or more -p lengths)");
    }
  }

  io::ModelFile file;
  if (!shape.empty()) {
    auto found = models::FindSyntheticShape(shape);
    if (!found.ok()) return UsageError(std::string(found.status().message()));
    auto synthetic = models::SyntheticModelFile(*found);
    if (!synthetic.ok()) return Fail(synthetic.status());
    file = *std::move(synthetic);
  }
  const std::string model_name = shape.empty() ? model_path : shape;
  auto grid = ParseAttentionGrid(args, attention);
  if (!grid.ok()) return UsageError(std::string(grid.status().message()));
  std::vector<BenchRow> rows;
  for (const std::string& dtype : *dtypes) {
    // The weights are loaded and packed once per dtype; each attention is a copy of the graph.
    const runtime::LoadOptions load{.tokenizer_path = tokenizer_path,
                                    .weights = dtype == "bf16" ? DType::kBF16 : DType::kF32};
    absl::StatusOr<std::unique_ptr<runtime::Model>> model;
    if (shape.empty()) {
      model = runtime::Model::Load(model_path, load);
    } else if (dtype == "f32" || dtype == "bf16") {
      model = runtime::Model::FromFile(file, load);
    } else {
      auto stored = StoreWeights(file, dtype, static_cast<int>(threads->front()));
      if (!stored.ok()) return Fail(stored.status());
      model = runtime::Model::FromFile(*std::move(stored), load);
    }
    if (!model.ok()) return Fail(model.status());
    // Every variant resolved (statistics and plan files read) before anything is measured: a
    // bad combination fails at once, not after the rows before it.
    // A default kind the model cannot run (random features on Gemma 2's soft-capped scores) is
    // left out with a note; one the user asked for is an error.
    std::vector<runtime::ModelVariant> variants;
    for (auto point = grid->begin(); point != grid->end();) {
      auto variant = (*model)->Variant(point->spec);
      if (!variant.ok() && !args.Given("--attention") &&
          variant.status().code() == absl::StatusCode::kUnimplemented) {
        std::fprintf(stderr, "favor bench: %s left out: %s\n", point->name.c_str(),
                     std::string(variant.status().message()).c_str());
        point = grid->erase(point);
        continue;
      }
      if (!variant.ok()) return Fail(WithContext(variant.status(), point->name));
      variants.push_back(*std::move(variant));
      ++point;
    }
    for (size_t v = 0; v < variants.size(); ++v) {
      const AttentionGridPoint& point = (*grid)[v];
      const AttentionSpec& spec = point.spec;
      const bool random_features =
          spec.kind != AttentionKind::kExact && spec.kind != AttentionKind::kWindow;
      const bool hybrid = spec.kind == AttentionKind::kHybrid ||
                          spec.kind == AttentionKind::kWindow || spec.window.has_value() ||
                          spec.sinks.has_value();
      for (int64_t t : *threads) {
        for (const TestSpec& test : tests) {
          auto row = RunTest(variants[v], test, static_cast<int>(t),
                             {.repetitions = static_cast<int>(repetitions),
                              .batch = batch,
                              .real_depth = real_depth,
                              .seed = static_cast<uint64_t>(seed),
                              .profile = profile});
          if (!row.ok()) {
            return Fail(
                WithContext(row.status(), absl::StrCat(point.name, " ", test.prompt ? "pp" : "tg",
                                                       test.tokens, " @ d", test.depth)));
          }
          row->model = model_name;
          row->dtype = dtype;
          row->attention = point.name;
          row->rf = random_features ? std::string(FeatureKindName(spec.feature_kind)) : "";
          row->features = random_features ? spec.features : 0;
          row->window = hybrid ? spec.window.value_or(kDefaultWindow) : -1;
          row->sinks = hybrid ? spec.sinks.value_or(kDefaultSinks) : -1;
          std::fprintf(stderr, "favor bench: %s %s: %.2f t/s\n", row->Attention().c_str(),
                       row->Test().c_str(), row->tokens_per_second);
          rows.push_back(*std::move(row));
        }
      }
    }
  }
  const MachineInfo machine = DescribeMachine();
  const std::string report = output == "csv"    ? CsvReport(machine, rows)
                             : output == "json" ? JsonReport(machine, rows)
                                                : MarkdownReport(machine, rows);
  std::fputs(report.c_str(), stdout);
  if (!plot_path.empty()) {
    auto svg = BenchPlotSvg(rows);
    if (!svg.ok()) return Fail(svg.status());
    std::ofstream plot(plot_path);
    plot << *svg;
    if (!plot) return Fail(absl::PermissionDeniedError(absl::StrCat("cannot write ", plot_path)));
  }
  return 0;
}

}  // namespace favor::cli
