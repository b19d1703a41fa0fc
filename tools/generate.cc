// favor generate: prompt in, tokens streamed to stdout as they are produced, a summary on stderr
// that says why generation stopped.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "engine/text/sampler.h"
#include "tools/attention_flags.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/generation_flags.h"
#include "tools/interrupt.h"
#include "tools/prompt_text.h"

namespace favor::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int Fail(const absl::Status& status) { return PrintFailure("generate", status); }
int UsageError(const std::string& message) { return PrintUsageError("generate", message); }

// Why generation stopped, in the summary's words.
std::string DescribeStop(const runtime::GenerationResult& result, bool interrupted,
                         int64_t max_tokens, int64_t context) {
  switch (result.stop) {
    case runtime::StopReason::kEndOfSequence:
      return absl::StrCat("end of generation (", result.stop_text, ")");
    case runtime::StopReason::kMaxTokens:
      return absl::StrCat("token limit (-n ", max_tokens, ")");
    case runtime::StopReason::kContextFull:
      return absl::StrCat("context full (", context, " tokens)");
    case runtime::StopReason::kStopString:
      return absl::StrCat("stop string \"", result.stop_text, "\"");
    case runtime::StopReason::kCallback:
      return interrupted ? "interrupted" : "stopped by the caller";
  }
  return "unknown";
}

}  // namespace

int Generate(int argc, char** argv) {
  std::string model_path, prompt, prompt_file, tokenizer_path;
  int64_t n_predict = 128;
  SessionFlags session_flags;
  SamplingFlags sampling_flags;
  bool verbose = false, no_bos = false, ignore_eos = false, escape = false, parse_special = false;
  std::vector<std::string> stop_strings;
  AttentionFlags attention;
  ArgParser args("generate");
  args.String({"-m", "--model"}, "PATH",
              "model: a .gguf file, a llama2.c .bin checkpoint, or a Hugging Face directory",
              &model_path);
  args.String({"-p", "--prompt"}, "TEXT", "prompt (default: empty, start from BOS)", &prompt);
  args.String({"-f", "--file"}, "FILE", "read the prompt from a file", &prompt_file);
  args.Flag({"-e", "--escape"}, "process \\n, \\t, \\\\, \\\", \\xHH in the prompt", &escape);
  args.Int({"-n", "--n-predict"}, "N",
           "tokens to generate (default 128; -1: until end of generation or a full context)",
           &n_predict, {.min = -1});
  args.StringList({"--stop"}, "TEXT", "end generation before TEXT (repeatable)", &stop_strings);
  args.Flag({"--ignore-eos"}, "generate through end-of-generation tokens", &ignore_eos);
  args.String({"--tokenizer"}, "PATH",
              "tokenizer.json, SentencePiece .model or llama2.c tokenizer.bin (default: the "
              "model's own)",
              &tokenizer_path);
  AddSamplingFlags(args, sampling_flags);
  AddSessionFlags(args, session_flags);
  args.Flag({"--no-bos"}, "do not start the prompt with BOS", &no_bos);
  args.Flag({"--special"},
            "special tokens written in the prompt (<|im_start|>, <|eot_id|>) become those tokens",
            &parse_special);
  AddAttentionFlags(args, attention);
  args.Flag({"-v", "--verbose"}, "print the execution plan (ISA, threads, memory)", &verbose);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty()) {
    std::fprintf(stderr, "favor generate: -m PATH is required\n\n%s", args.Usage().c_str());
    return 2;
  }
  if (session_flags.dtype != "f32" && session_flags.dtype != "bf16") {
    return UsageError(absl::StrCat("--dtype must be f32 or bf16, got '", session_flags.dtype, "'"));
  }
  if (!prompt_file.empty() && args.Given("-p")) return UsageError("-p and -f both give the prompt");
  for (const std::string& stop : stop_strings) {
    if (stop.empty()) return UsageError("--stop: the stop string is empty");
  }
  auto attention_spec = ParseAttentionFlags(args, attention);
  if (!attention_spec.ok()) return UsageError(std::string(attention_spec.status().message()));
  if (!prompt_file.empty()) {
    auto text = ReadPromptFile(prompt_file);
    if (!text.ok()) return Fail(text.status());
    prompt = *std::move(text);
  }
  if (escape) prompt = ProcessEscapes(prompt);
  const text::SamplerOptions sampling = ToSamplerOptions(sampling_flags);

  const auto load_start = Clock::now();
  auto model = runtime::Model::Load(
      model_path, {.tokenizer_path = tokenizer_path, .weights = WeightsType(session_flags)});
  if (!model.ok()) return Fail(model.status());
  auto variant = (*model)->Variant(*attention_spec);
  if (!variant.ok()) return Fail(variant.status());
  auto session = runtime::Session::Create(*variant, ToSessionOptions(session_flags, verbose));
  if (!session.ok()) return Fail(session.status());
  const double load_seconds = Seconds(load_start);
  WarnBeyondTrainedContext("generate", (*session)->context(), (*model)->config().max_seq_len);

  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  auto prompt_ids = tokenizer.Encode(
      prompt, {.add_bos = !no_bos && tokenizer.add_bos(), .parse_special = parse_special});
  if (!prompt_ids.ok()) return Fail(prompt_ids.status());
  WarnUnrepresentable("generate", tokenizer, *prompt_ids, prompt);
  if (prompt_ids->empty()) {
    return Fail(absl::InvalidArgumentError("empty prompt and --no-bos: nothing to start from"));
  }
  if (static_cast<int64_t>(prompt_ids->size()) >= (*session)->context()) {
    return Fail(absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt_ids->size(),
                                                   " tokens but the context holds ",
                                                   (*session)->context(), " (use -c)")));
  }

  // The prompt as the tokenizer reads it, then each token's text as it becomes final: together
  // the decoding of the whole sequence.
  auto prompt_text = tokenizer.Decode(*prompt_ids);
  if (!prompt_text.ok()) return Fail(prompt_text.status());
  std::fwrite(prompt_text->data(), 1, prompt_text->size(), stdout);
  std::fflush(stdout);
  const InterruptScope interrupt;
  runtime::GenerationOptions generation{.sampling = sampling,
                                        .max_tokens = n_predict,
                                        .stop_at_eos = !ignore_eos,
                                        .stop_strings = stop_strings};
  auto result = runtime::Generate(**session, tokenizer, *prompt_ids, generation,
                                  [&interrupt](int32_t, const std::string& fresh) {
                                    std::fwrite(fresh.data(), 1, fresh.size(), stdout);
                                    std::fflush(stdout);
                                    return !interrupt.interrupted();
                                  });
  if (!result.ok()) return Fail(result.status());
  const auto generated = static_cast<int64_t>(result->tokens.size());
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const std::string& attention_name = variant->attention;
  std::fprintf(
      stderr, "%s",
      absl::StrFormat(
          "\nfavor: stop: %s | load %.3f s | prompt %d tokens in %.3f s (%.1f tokens/s) | "
          "generated %d tokens in %.3f s (%.1f tokens/s) | seed %d | %s, %d threads | "
          "attention %s, state %.2f MiB\n",
          DescribeStop(*result, interrupt.interrupted(), n_predict, (*session)->context()),
          load_seconds, prompt_ids->size(), result->prompt_seconds,
          static_cast<double>(prompt_ids->size()) / result->prompt_seconds, generated,
          result->generation_seconds,
          generated > 0 ? static_cast<double>(generated) / result->generation_seconds : 0.0,
          result->seed, kernels::IsaName((*session)->executor().isa()),
          (*session)->executor().threads(), attention_name,
          static_cast<double>((*session)->StateBytes()) / (1 << 20))
          .c_str());
  return 0;
}

}  // namespace favor::cli
