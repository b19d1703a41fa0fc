#include "tools/generation_flags.h"

#include <cstdint>

namespace favor::cli {

void AddSamplingFlags(ArgParser& args, SamplingFlags& flags) {
  args.Float({"--temp"}, "T", "temperature; 0 = greedy (default 0.8)", &flags.temperature,
             {.min = 0});
  args.Int({"--top-k"}, "K", "top-k; 0 = off (default 40)", &flags.top_k,
           {.min = 0, .max = INT32_MAX});
  args.Float({"--top-p"}, "P", "top-p in (0, 1]; 1 = off (default 0.95)", &flags.top_p,
             {.min = 0, .max = 1, .min_exclusive = true});
  args.Float({"--min-p"}, "P", "min-p in [0, 1]; 0 = off (default 0.05)", &flags.min_p,
             {.min = 0, .max = 1});
  args.Float({"--repeat-penalty"}, "X", "repetition penalty; 1 = off (default 1.0)",
             &flags.repeat_penalty, {.min = 0, .min_exclusive = true});
  args.Int({"--repeat-last-n"}, "N", "tokens the penalty looks back at (default 64)",
           &flags.repeat_last_n, {.min = 0, .max = INT32_MAX});
  args.Int({"-s", "--seed"}, "N", "sampling seed; -1 = random, printed in the summary (default)",
           &flags.seed, {.min = -1});
}

text::SamplerOptions ToSamplerOptions(const SamplingFlags& flags) {
  return {.temperature = flags.temperature,
          .top_k = static_cast<int>(flags.top_k),
          .top_p = flags.top_p,
          .min_p = flags.min_p,
          .repeat_penalty = flags.repeat_penalty,
          .repeat_last_n = static_cast<int>(flags.repeat_last_n),
          .seed = flags.seed < 0 ? text::kRandomSeed : static_cast<uint64_t>(flags.seed)};
}

void AddSessionFlags(ArgParser& args, SessionFlags& flags) {
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &flags.threads,
           {.min = 0, .max = 4096});
  args.Int({"-c", "--ctx-size"}, "N", "context size (default: the model's trained context)",
           &flags.context, {.min = 0});
  args.Int({"-b", "--batch-size"}, "N", "prompt tokens per forward pass (default 512)",
           &flags.batch, {.min = 1});
  args.String({"--dtype"}, "f32|bf16", "matrix weights for compute (default f32)", &flags.dtype);
}

DType WeightsType(const SessionFlags& flags) {
  return flags.dtype == "bf16" ? DType::kBF16 : DType::kF32;
}

runtime::SessionOptions ToSessionOptions(const SessionFlags& flags, bool verbose) {
  return {.context = flags.context,
          .threads = static_cast<int>(flags.threads),
          .max_batch = flags.batch,
          .verbose = verbose};
}

}  // namespace favor::cli
