// favor tokenize: a text's token ids and pieces under a model's vocabulary (a model, a
// vocabulary-only GGUF, or a tokenizer file), as llama-tokenize prints them (one "id -> 'text'"
// per line), or the ids alone as a list with --ids. BOS (and EOS) as the vocabulary says; special
// tokens written in the text are found only with --special, as llama-tokenize's
// --parse-special.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/storage.h"
#include "engine/runtime/model.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/prompt_text.h"

namespace favor::cli {

int Tokenize(int argc, char** argv) {
  std::string model_path, prompt, prompt_file, tokenizer_path;
  bool ids_only = false, no_bos = false, escape = false, parse_special = false;
  ArgParser args("tokenize");
  args.String({"-m", "--model"}, "PATH",
              "model whose vocabulary to use (or a vocabulary-only GGUF)", &model_path);
  args.String({"-p", "--prompt"}, "TEXT", "text to tokenize", &prompt);
  args.String({"-f", "--file"}, "FILE", "read the text from a file", &prompt_file);
  args.Flag({"-e", "--escape"}, "process \\n, \\t, \\\\, \\\", \\xHH in the text", &escape);
  args.String({"--tokenizer"}, "PATH", "tokenizer (default: the model's own)", &tokenizer_path);
  args.Flag({"--ids"}, "print only the ids, as a list: [1, 450, 11203]", &ids_only);
  args.Flag({"--no-bos"}, "do not add BOS (or EOS) even if the vocabulary asks for them", &no_bos);
  args.Flag({"--special"}, "special tokens written in the text (<|im_end|>) become those tokens",
            &parse_special);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty() && tokenizer_path.empty()) {
    std::fprintf(stderr, "favor tokenize: -m PATH (or --tokenizer PATH) is required\n\n%s",
                 args.Usage().c_str());
    return 2;
  }
  if (prompt_file.empty() == !args.Given("-p")) {
    return PrintUsageError("tokenize", "give the text with -p TEXT or -f FILE (one of them)");
  }
  if (!prompt_file.empty()) {
    auto text = ReadFileBytes(prompt_file);
    if (!text.ok()) return PrintFailure("tokenize", text.status());
    prompt = *std::move(text);
  }
  if (escape) prompt = ProcessEscapes(prompt);
  auto tokenizer = runtime::LoadTokenizer(model_path, tokenizer_path);
  if (!tokenizer.ok()) return PrintFailure("tokenize", tokenizer.status());
  const text::Tokenizer& vocabulary = **tokenizer;
  auto ids = vocabulary.Encode(prompt, {.add_bos = !no_bos && vocabulary.add_bos(),
                                        .add_eos = !no_bos && vocabulary.add_eos(),
                                        .parse_special = parse_special});
  if (!ids.ok()) return PrintFailure("tokenize", ids.status());
  WarnUnrepresentable("tokenize", vocabulary, *ids, prompt);
  if (ids_only) {
    std::printf("[%s]\n", absl::StrJoin(*ids, ", ").c_str());
    return 0;
  }
  for (const int32_t id : *ids) {
    const std::string text = vocabulary.TokenText(id);
    std::printf("%6d -> '", id);
    std::fwrite(text.data(), 1, text.size(), stdout);  // Raw bytes: a byte token may hold a NUL.
    std::printf("'\n");
  }
  return 0;
}

}  // namespace favor::cli
