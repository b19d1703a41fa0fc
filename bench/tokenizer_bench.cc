// Tokenizer throughput on about 1 MiB of mixed text (this repository's C++ sources and docs, and
// the tokenizer test corpus: CJK, emoji, accents, whitespace runs), encoding only (the vocabulary
// is loaded once, outside the timing), for llama.cpp's vocabulary files: byte-level BPE with four
// pre-tokenizers, and SentencePiece. bench/tokenize_vs_llama.sh compares with llama-tokenize on
// the same files end to end.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "engine/core/storage.h"
#include "engine/text/tokenizer.h"

namespace favor::bench {
namespace {

// ~1 MiB: the sources of engine/ and the docs, repeated, cut at a character boundary.
const std::string& MixedText() {
  static const std::string text = [] {
    std::string all;
    const std::filesystem::path root(FAVOR_SOURCE_DIR);
    for (const char* file :
         {"README.md", "tests/data/tokenizers/corpus.json", "engine/text/byte_level_bpe.cc",
          "engine/io/gguf.cc", "engine/ops/favor_attention.cc", "docs/library.md"}) {
      auto bytes = ReadFileBytes((root / file).string());
      if (bytes.ok()) all += *bytes;
    }
    std::string out;
    while (!all.empty() && out.size() < (size_t{1} << 20)) out += all;
    out.resize(size_t{1} << 20);
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    return out;
  }();
  return text;
}

void BM_Tokenize(benchmark::State& state, const char* vocabulary) {
  auto tokenizer = text::Tokenizer::FromFile(std::string(FAVOR_VOCAB_DIR) + "/ggml-vocab-" +
                                             vocabulary + ".gguf");
  if (!tokenizer.ok()) {
    state.SkipWithError(std::string(tokenizer.status().message()).c_str());
    return;
  }
  const std::string& text = MixedText();
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = (*tokenizer)->Encode(text, text::EncodeOptions{});
    tokens = ids.ok() ? ids->size() : 0;
    benchmark::DoNotOptimize(ids);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

BENCHMARK_CAPTURE(BM_Tokenize, gpt2, "gpt-2")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tokenize, deepseek_llm, "deepseek-llm")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tokenize, falcon, "falcon")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tokenize, starcoder, "starcoder")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tokenize, llama_spm, "llama-spm")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace favor::bench
