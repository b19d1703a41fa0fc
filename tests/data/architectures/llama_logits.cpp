// Reference logits from llama.cpp, for tests/data/architectures (a scratch tool built against
// libllama outside the favor build; llama.cpp is the oracle, never a dependency): every
// position's logits for a token sequence, one line per position, %.9g, as `favor logits` prints.
//   g++ -O2 -std=c++17 llama_logits.cpp -I$LLAMA_CPP/include -I$LLAMA_CPP/ggml/include \
//       -L$LLAMA_CPP/build/bin -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA_CPP/build/bin -o
//       llama-logits
//   llama-logits MODEL.gguf 1,15,27,...
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>
#include "llama.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL ids\n", argv[0]);
    return 2;
  }
  std::vector<llama_token> ids;
  std::stringstream ss(argv[2]);
  for (std::string item; std::getline(ss, item, ',');) ids.push_back(std::atoi(item.c_str()));
  llama_backend_init();
  if (!getenv("VERBOSE")) llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto mparams = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(argv[1], mparams);
  if (!model) {
    fprintf(stderr, "load failed\n");
    return 1;
  }
  auto cparams = llama_context_default_params();
  cparams.n_ctx = ids.size() + 8;
  cparams.n_batch = ids.size();
  cparams.n_ubatch = ids.size();
  cparams.n_threads = 2;
  cparams.type_k = GGML_TYPE_F32;  // The default f16 cache rounds K and V: compare in f32.
  cparams.type_v = GGML_TYPE_F32;
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (!ctx) {
    fprintf(stderr, "context failed\n");
    return 1;
  }
  llama_batch batch = llama_batch_init(ids.size(), 0, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.token[i] = ids[i];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = ids.size();
  if (llama_decode(ctx, batch) != 0) {
    fprintf(stderr, "decode failed\n");
    return 1;
  }
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  for (size_t i = 0; i < ids.size(); ++i) {
    const float* row = llama_get_logits_ith(ctx, i);
    for (int v = 0; v < n_vocab; ++v) printf(v ? " %.9g" : "%.9g", row[v]);
    printf("\n");
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
