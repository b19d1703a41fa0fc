// Streaming with stop conditions: tokens are printed as they come; generation ends at the end of
// the first sentence (a stop string) or after 20 tokens containing a given word (the callback).
//   streaming MODEL [PROMPT]
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
  auto session = favor::Session::Create(*model);
  if (!session.ok()) return 1;

  favor::GenerateOptions options;
  options.max_tokens = 200;
  options.sampling.seed = 42;    // Reproducible sampling.
  options.stop_strings = {"."};  // Stop at the end of the first sentence...
  std::string so_far;
  int tokens = 0;
  auto on_token = [&](int32_t, const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    so_far += text;
    // ...or once 20 tokens have mentioned a dog.
    return !(++tokens >= 20 && so_far.find("dog") != std::string::npos);
  };
  const std::string prompt = argc > 2 ? argv[2] : "Once upon a time";
  std::printf("%s", prompt.c_str());
  auto out = (*session)->Generate(prompt, options, on_token);
  if (!out.ok()) {
    std::fprintf(stderr, "\nerror: %s\n", std::string(out.status().message()).c_str());
    return 1;
  }
  std::printf("\n[%zu tokens, stopped by %s, %.1f tokens/s]\n", out->tokens.size(),
              favor::StopReasonName(out->stop),
              static_cast<double>(out->tokens.size()) / out->generation_seconds);
  return 0;
}
