// Exact attention against FAVOR# on the same prompt, from one loaded model: the generated text,
// the per-sequence state (KV cache vs constant random-feature sums) and the perplexity of a text.
//   compare_attention MODEL [PROMPT]
#include <cstdio>
#include <string>

#include "favor/favor.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [PROMPT]\n", argv[0]);
    return 2;
  }
  auto model = favor::Model::Load(argv[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const std::string prompt = argc > 2 ? argv[2] : "Once upon a time";
  favor::AttentionSpec exact;
  favor::AttentionSpec favor_sharp{.kind = favor::AttentionKind::kFavorSharp, .features = 256};
  favor::AttentionSpec window{.kind = favor::AttentionKind::kWindow, .window = 32, .sinks = 4};
  for (const auto& [name, attention] : {std::pair{"exact", exact}, std::pair{"favor#", favor_sharp},
                                        std::pair{"window W=32", window}}) {
    auto session = favor::Session::Create(*model, {.attention = attention});
    if (!session.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, std::string(session.status().message()).c_str());
      return 1;
    }
    favor::GenerateOptions options;
    options.max_tokens = 32;
    options.sampling.temperature = 0;
    auto out = (*session)->Generate(prompt, options);
    auto score = (*session)->Score(prompt + " there was a little girl who liked to play.");
    if (!out.ok() || !score.ok()) return 1;
    std::printf("%-12s state %8.1f KiB  perplexity %6.2f  | %s%s\n", name,
                static_cast<double>((*session)->state_bytes()) / 1024, score->perplexity,
                prompt.c_str(), out->text.c_str());
  }
  return 0;
}
