// Minimal generation: load a model, open a session, generate greedily.
//   minimal MODEL [PROMPT]
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
  options.max_tokens = 64;
  options.sampling.temperature = 0;  // Greedy.
  auto out = (*session)->Generate(argc > 2 ? argv[2] : "Once upon a time", options);
  if (!out.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(out.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", out->text.c_str());
  return 0;
}
