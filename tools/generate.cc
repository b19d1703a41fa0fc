// favor generate: prompt in, tokens streamed to stdout as they are produced, a summary on stderr.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "engine/text/sampler.h"
#include "engine/text/text_stream.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace favor::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "favor generate: error: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int Generate(int argc, char** argv) {
  std::string model_path, prompt, tokenizer_path, dtype = "f32";
  int64_t n_predict = 128, threads = 0, context = 0, batch = 512, seed = -1, repeat_last_n = 64,
          top_k = 40;
  float temperature = 0.8f, top_p = 0.95f, min_p = 0.05f, repeat_penalty = 1.1f;
  bool verbose = false, no_bos = false;
  runtime::AttentionConfig attention;
  std::string favor_layers;
  int64_t favor_seed = 0;
  ArgParser args("generate");
  args.String({"-m", "--model"}, "PATH", "model: .gguf, llama2.c .bin, or Hugging Face directory",
              &model_path);
  args.String({"-p", "--prompt"}, "TEXT", "prompt (default: empty, start from BOS)", &prompt);
  args.Int({"-n", "--n-predict"}, "N", "tokens to generate (default 128; stops at EOS)",
           &n_predict);
  args.String({"--tokenizer"}, "PATH", "SentencePiece .model or llama2.c tokenizer.bin",
              &tokenizer_path);
  args.Float({"--temp"}, "T", "temperature; 0 = greedy (default 0.8)", &temperature);
  args.Int({"--top-k"}, "K", "top-k; 0 = off (default 40)", &top_k);
  args.Float({"--top-p"}, "P", "top-p; 1 = off (default 0.95)", &top_p);
  args.Float({"--min-p"}, "P", "min-p; 0 = off (default 0.05)", &min_p);
  args.Float({"--repeat-penalty"}, "X", "repetition penalty; 1 = off (default 1.1)",
             &repeat_penalty);
  args.Int({"--repeat-last-n"}, "N", "tokens the penalty looks back at (default 64)",
           &repeat_last_n);
  args.Int({"-s", "--seed"}, "N", "sampling seed; -1 = random (default)", &seed);
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads);
  args.Int({"-c", "--ctx-size"}, "N", "context size (default: the model's)", &context);
  args.Int({"-b", "--batch-size"}, "N", "prompt tokens per forward pass (default 512)", &batch);
  args.String({"--dtype"}, "f32|bf16", "matrix weights for compute (default f32)", &dtype);
  args.Flag({"--no-bos"}, "do not start the prompt with BOS", &no_bos);
  args.String({"--attention"}, "KIND",
              "exact (default), favor+ (PosRF), favor++ (OPRF), favor# (SADERF), hybrid (exact "
              "sinks and window, favor# tail; needs calibrated statistics), window (exact sinks "
              "and window only)",
              &attention.kind);
  args.String({"--rf"}, "KIND",
              "random features for favor attention: posrf|gerf|oprf|saderf|aderf|sderf",
              &attention.rf);
  args.Int({"--features"}, "M", "random features per head (default 256)", &attention.features);
  args.Int({"--favor-seed"}, "N", "seed of the random projections (default 0)", &favor_seed);
  args.String({"--favor-stats"}, "SRC", "prompt (default) | calibrated (MODEL.favor-stats) | FILE",
              &attention.stats);
  args.String({"--favor-layers"}, "LIST", "layers to swap, e.g. 0,2-4 (default: all)",
              &favor_layers);
  args.Int({"--favor-chunk"}, "C", "prefill chunk of the causal prefix sums (default 64)",
           &attention.chunk);
  args.Int({"--window"}, "W",
           "hybrid attention: the last W tokens exact (default 64 with --attention hybrid|window)",
           &attention.window);
  args.Int({"--sinks"}, "S", "hybrid attention: the first S tokens exact (default 4)",
           &attention.sinks);
  args.String({"--favor-plan"}, "FILE",
              "hybrid attention with the per-head windows of a plan (favor calibrate --plan): "
              "calibrated (MODEL.favor-stats) or FILE; also its statistics and tail kind",
              &attention.plan);
  args.Flag({"-v", "--verbose"}, "print the execution plan (ISA, threads, memory)", &verbose);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty()) {
    std::fprintf(stderr, "favor generate: -m PATH is required\n\n%s", args.Usage().c_str());
    return 2;
  }
  if (dtype != "f32" && dtype != "bf16") {
    std::fprintf(stderr, "favor generate: --dtype must be f32 or bf16, got '%s'\n", dtype.c_str());
    return 2;
  }
  if (threads < 0 || context < 0 || batch <= 0 || n_predict < -1 || top_k < 0 ||
      repeat_last_n < 0) {
    std::fprintf(
        stderr,
        "favor generate: -t, -c, -b, -n, --top-k and --repeat-last-n must not be negative\n");
    return 2;
  }
  auto layers = runtime::ParseLayerList(favor_layers);
  if (!layers.ok()) {
    std::fprintf(stderr, "favor generate: --favor-layers: %s\n",
                 std::string(layers.status().message()).c_str());
    return 2;
  }
  attention.layers = *layers;
  attention.seed = static_cast<uint64_t>(favor_seed);
  const uint64_t actual_seed = seed < 0 ? std::random_device{}() : static_cast<uint64_t>(seed);
  const text::SamplerOptions sampling{.temperature = temperature,
                                      .top_k = static_cast<int>(top_k),
                                      .top_p = top_p,
                                      .min_p = min_p,
                                      .repeat_penalty = repeat_penalty,
                                      .repeat_last_n = static_cast<int>(repeat_last_n),
                                      .seed = actual_seed};
  if (auto status = sampling.Validate(); !status.ok()) {
    std::fprintf(stderr, "favor generate: %s\n", std::string(status.message()).c_str());
    return 2;
  }

  const auto load_start = Clock::now();
  auto model =
      runtime::Model::Load(model_path, {.tokenizer_path = tokenizer_path,
                                        .weights = dtype == "bf16" ? DType::kBF16 : DType::kF32,
                                        .attention = attention});
  if (!model.ok()) return Fail(model.status());
  auto session = runtime::Session::Create(**model, {.context = context,
                                                    .threads = static_cast<int>(threads),
                                                    .max_batch = batch,
                                                    .verbose = verbose});
  if (!session.ok()) return Fail(session.status());
  const double load_seconds = Seconds(load_start);

  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  auto prompt_ids = tokenizer.Encode(prompt, !no_bos && tokenizer.add_bos());
  if (!prompt_ids.ok()) return Fail(prompt_ids.status());
  if (prompt_ids->empty()) {
    return Fail(absl::InvalidArgumentError("empty prompt and --no-bos: nothing to start from"));
  }
  if (static_cast<int64_t>(prompt_ids->size()) >= (*session)->context()) {
    return Fail(absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt_ids->size(),
                                                   " tokens but the context holds ",
                                                   (*session)->context(), " (use -c)")));
  }

  // The prompt's own text first, then each token's as it becomes final.
  text::TextStream prompt_text(tokenizer);
  for (int32_t id : *prompt_ids) {
    auto fresh = prompt_text.Push(id);
    if (!fresh.ok()) return Fail(fresh.status());
    std::fwrite(fresh->data(), 1, fresh->size(), stdout);
  }
  std::fflush(stdout);
  runtime::GenerationOptions generation{.sampling = sampling, .max_tokens = n_predict};
  auto result = runtime::Generate(**session, tokenizer, *prompt_ids, generation,
                                  [](int32_t, const std::string& fresh) {
                                    std::fwrite(fresh.data(), 1, fresh.size(), stdout);
                                    std::fflush(stdout);
                                    return true;
                                  });
  if (!result.ok()) return Fail(result.status());
  const double prompt_seconds = result->prompt_seconds;
  const auto generated = static_cast<int64_t>(result->tokens.size());
  const double gen_seconds = result->generation_seconds;
  std::fputc('\n', stdout);
  std::fflush(stdout);
  std::fprintf(
      stderr,
      "\nfavor: load %.3f s | prompt %zu tokens in %.3f s (%.1f tokens/s) | "
      "generated %lld tokens in %.3f s (%.1f tokens/s) | seed %llu | %s, %d threads | "
      "attention %s, state %.2f MiB\n",
      load_seconds, prompt_ids->size(), prompt_seconds,
      static_cast<double>(prompt_ids->size()) / prompt_seconds, static_cast<long long>(generated),
      gen_seconds, generated > 0 ? static_cast<double>(generated) / gen_seconds : 0.0,
      static_cast<unsigned long long>(actual_seed),
      std::string(kernels::IsaName((*session)->executor().isa())).c_str(),
      (*session)->executor().threads(),
      attention.plan.empty() ? attention.kind.c_str()
                             : absl::StrCat(attention.kind == "exact" ? "hybrid" : attention.kind,
                                            " (per-head plan ", attention.plan, ")")
                                   .c_str(),
      static_cast<double>((*session)->StateBytes()) / (1 << 20));
  return 0;
}

}  // namespace favor::cli
