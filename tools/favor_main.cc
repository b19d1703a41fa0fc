// The favor command-line tool.
#include <cstdio>
#include <string>

#include "tools/cli_args.h"
#include "tools/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: favor <command> [options]   (favor <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  generate   generate text from a prompt (streams tokens; summary on stderr)\n"
    "  calibrate  gather per-layer query/key statistics that fix FAVOR# features\n"
    "  variance   compare the variance of the random-feature estimators (closed form, Monte "
    "Carlo)\n"
    "  chat       a conversation with a chat model (its chat template, turns prefilled once)\n"
    "  serve      an OpenAI-compatible HTTP server with continuous batching (--parallel N)\n"
    "  bench      speed and memory of exact and random-feature attention (pp/tg at depth)\n"
    "  eval       quality of random-feature attention against exact (perplexity, KL, top-1)\n"
    "  inspect    show a model file's architecture, tensors, tokenizer and metadata\n"
    "  quantize   rewrite a GGUF model with its weight matrices in another type (q8_0, q4_0, ...)\n"
    "  tokenize   show the token ids and pieces of a text\n"
    "  logits     print the logits of every position of a token sequence\n"
    "  info       show the CPU features, chosen ISA, threads and oneDNN version\n"
    "\n"
    "  favor --version   the version\n"
    "\n"
    "environment:\n"
    "  FAVOR_ISA=scalar|avx2|avx512   force the SIMD kernels\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "generate") return favor::cli::Generate(argc, argv);
  if (command == "chat") return favor::cli::Chat(argc, argv);
  if (command == "serve") return favor::cli::Serve(argc, argv);
  if (command == "inspect") return favor::cli::Inspect(argc, argv);
  if (command == "calibrate") return favor::cli::Calibrate(argc, argv);
  if (command == "variance") return favor::cli::Variance(argc, argv);
  if (command == "info") return favor::cli::Info(argc, argv);
  if (command == "bench") return favor::cli::Bench(argc, argv);
  if (command == "eval") return favor::cli::Eval(argc, argv);
  if (command == "tokenize") return favor::cli::Tokenize(argc, argv);
  if (command == "logits") return favor::cli::Logits(argc, argv);
  if (command == "quantize") return favor::cli::Quantize(argc, argv);
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::printf("%s\n", favor::cli::VersionLine().c_str());
    return 0;
  }
  std::fprintf(stderr,
               "favor: unknown command '%s' (commands: generate, chat, serve, calibrate, variance, "
               "bench, eval, "
               "inspect, quantize, tokenize, logits, info; see favor --help)\n",
               command.c_str());
  return 2;
}
