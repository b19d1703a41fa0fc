// favor calibrate: runs a model with exact attention over a calibration text and saves, per layer
// and key/value head, the statistics of its queries and keys. `--favor-stats calibrated` (or FILE)
// then fixes the random-feature parameters from them: strictly causal, the same for every prompt.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/rf/calibration.h"
#include "engine/runtime/model.h"
#include "engine/runtime/session.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

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
  args.String({"--tokenizer"}, "PATH", "SentencePiece .model or llama2.c tokenizer.bin",
              &tokenizer_path);
  args.Int({"-c", "--ctx-size"}, "N",
           "window: the text is fed in windows of N tokens (default: the model's context)",
           &context);
  args.Int({"-t", "--threads"}, "N", "threads (default: physical cores)", &threads);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty() || text_path.empty()) {
    std::fprintf(stderr, "favor calibrate: -m PATH and -f TEXT are required\n\n%s",
                 args.Usage().c_str());
    return 2;
  }
  if (out_path.empty()) out_path = runtime::DefaultCalibrationPath(model_path);
  std::ifstream in(text_path, std::ios::binary);
  if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot open '", text_path, "'")));
  std::stringstream text;
  text << in.rdbuf();

  runtime::LoadOptions load;
  load.tokenizer_path = tokenizer_path;
  load.tap_statistics = true;
  auto model = runtime::Model::Load(model_path, load);
  if (!model.ok()) return Fail(model.status());
  auto session =
      runtime::Session::Create(**model, {.context = context, .threads = static_cast<int>(threads)});
  if (!session.ok()) return Fail(session.status());
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  auto ids = tokenizer.Encode(text.str(), false);
  if (!ids.ok()) return Fail(ids.status());
  if (ids->empty())
    return Fail(absl::InvalidArgumentError(absl::StrCat("'", text_path, "' holds no text")));
  // Windows of the context, each starting with BOS like a prompt.
  const auto start = std::chrono::steady_clock::now();
  const int64_t window = (*session)->context() - 1;
  for (size_t begin = 0; begin < ids->size(); begin += static_cast<size_t>(window)) {
    std::vector<int32_t> chunk = {tokenizer.bos_id()};
    const size_t end = std::min(ids->size(), begin + static_cast<size_t>(window));
    chunk.insert(chunk.end(), ids->begin() + static_cast<std::ptrdiff_t>(begin),
                 ids->begin() + static_cast<std::ptrdiff_t>(end));
    (*session)->Reset();
    if (auto fed = (*session)->Feed(chunk); !fed.ok()) return Fail(fed.status());
  }
  const rf::Calibration& statistics = *(*model)->statistics();
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
