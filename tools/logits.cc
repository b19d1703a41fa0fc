// favor logits: the logits of every position of a token sequence, one line per position (the
// vocabulary's values separated by spaces, %.9g: enough digits to round-trip a float). The tool
// engines are compared with (llama.cpp's logits on the same GGUF and ids), and the way to check
// that decoding token by token (--stepwise) gives what the whole-sequence forward pass gives.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "tools/attention_flags.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/prompt_text.h"

namespace favor::cli {
namespace {

int Fail(const absl::Status& status) { return PrintFailure("logits", status); }
int UsageError(const std::string& message) { return PrintUsageError("logits", message); }

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& list) {
  std::vector<int32_t> ids;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(item, &id) || id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ids: '", item, "' is not a token id (a list like 1,15,27)"));
    }
    ids.push_back(id);
  }
  return ids;
}

void PrintRow(std::span<const float> row) {
  std::string line;
  line.reserve(row.size() * 12);
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) line += ' ';
    char number[32];
    const int length = std::snprintf(number, sizeof(number), "%.9g", static_cast<double>(row[i]));
    line.append(number, static_cast<size_t>(length));
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

}  // namespace

int Logits(int argc, char** argv) {
  std::string model_path, tokenizer_path, ids_list, prompt;
  int64_t threads = 0;
  bool stepwise = false, no_bos = false, parse_special = false, escape = false;
  AttentionFlags attention;
  ArgParser args("logits");
  args.String({"-m", "--model"}, "PATH", "model file or directory", &model_path);
  args.String({"--ids"}, "LIST", "token ids, comma-separated (1,15,27)", &ids_list);
  args.String({"-p", "--prompt"}, "TEXT", "text to tokenize instead of --ids", &prompt);
  args.Flag({"-e", "--escape"}, "process \\n, \\t, \\\\, \\\", \\xHH in the text", &escape);
  args.Flag({"--no-bos"}, "with -p: do not add BOS", &no_bos);
  args.Flag({"--special"}, "with -p: special tokens written in the text are tokens",
            &parse_special);
  args.String({"--tokenizer"}, "PATH", "tokenizer (default: the model's own)", &tokenizer_path);
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads, {0, 1024});
  args.Flag({"--stepwise"}, "feed one token at a time (decode), not the whole sequence at once",
            &stepwise);
  AddAttentionFlags(args, attention);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty()) return UsageError("-m PATH is required");
  if (ids_list.empty() == !args.Given("-p")) {
    return UsageError("give the tokens with --ids LIST or the text with -p TEXT (one of them)");
  }
  auto spec = ParseAttentionFlags(args, attention);
  if (!spec.ok()) return UsageError(std::string(spec.status().message()));

  auto model = runtime::Model::Load(model_path, {.tokenizer_path = tokenizer_path});
  if (!model.ok()) return Fail(model.status());
  std::vector<int32_t> ids;
  if (!ids_list.empty()) {
    auto parsed = ParseIds(ids_list);
    if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
    ids = *std::move(parsed);
  } else {
    const text::Tokenizer& tokenizer = (*model)->tokenizer();
    if (escape) prompt = ProcessEscapes(prompt);
    auto encoded = tokenizer.Encode(
        prompt, {.add_bos = !no_bos && tokenizer.add_bos(), .parse_special = parse_special});
    if (!encoded.ok()) return Fail(encoded.status());
    ids = *std::move(encoded);
  }
  if (ids.empty()) return UsageError("no tokens to run");
  const int64_t vocab = (*model)->config().vocab_size;
  for (const int32_t id : ids) {
    if (id >= vocab) {
      return Fail(absl::OutOfRangeError(
          absl::StrCat("token id ", id, " is outside the model's vocabulary of ", vocab)));
    }
  }
  auto variant = (*model)->Variant(
      *spec, stepwise ? runtime::Logits::kLastPosition : runtime::Logits::kAllPositions);
  if (!variant.ok()) return Fail(variant.status());
  const auto count = static_cast<int64_t>(ids.size());
  auto session = runtime::Session::Create(
      *variant, {.context = count, .threads = static_cast<int>(threads), .max_batch = count});
  if (!session.ok()) return Fail(session.status());
  if (stepwise) {
    for (const int32_t id : ids) {
      auto logits = (*session)->Feed(std::span(&id, 1));
      if (!logits.ok()) return Fail(logits.status());
      PrintRow(*logits);
    }
    return 0;
  }
  auto logits = (*session)->Feed(ids);
  if (!logits.ok()) return Fail(logits.status());
  for (int64_t t = 0; t < count; ++t) {
    PrintRow(logits->subspan(static_cast<size_t>(t * vocab), static_cast<size_t>(vocab)));
  }
  return 0;
}

}  // namespace favor::cli
