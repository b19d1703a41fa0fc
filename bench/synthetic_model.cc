// Writes a llama2.c checkpoint (legacy format) with random weights of a named shape, and a
// matching tokenizer.bin, so that speed can be measured at real model sizes without downloading
// anything:
//   favor_synthetic_model --shape stories110M --out /tmp/s110m
//   favor generate -m /tmp/s110m/model.bin -n 128
#include <sys/stat.h>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "models/synthetic.h"

namespace {

int Usage() {
  std::fprintf(
      stderr,
      "usage: favor_synthetic_model --shape tiny|stories15M|stories110M|llama-1b --out DIR\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape_name, out;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--shape") {
      shape_name = argv[i + 1];
    } else if (flag == "--out") {
      out = argv[i + 1];
    } else {
      return Usage();
    }
  }
  // The shapes of favor bench --shape (models/synthetic.h), written as a llama2.c checkpoint.
  const auto found = favor::models::FindSyntheticShape(shape_name);
  if (!found.ok() || out.empty() || argc != 5) return Usage();
  const favor::models::SyntheticShape* shape = &*found;
  if (shape->architecture != "llama" || shape->head_dim != 0 || shape->rope_theta != 10000.0) {
    std::fprintf(stderr,
                 "favor_synthetic_model: a llama2.c checkpoint holds Llama shapes only; "
                 "'%s' is %s (use favor bench --shape %s)\n",
                 shape->name.c_str(), shape->architecture.c_str(), shape->name.c_str());
    return 2;
  }
  const int32_t header[7] = {
      static_cast<int32_t>(shape->dim),        static_cast<int32_t>(shape->hidden_dim),
      static_cast<int32_t>(shape->n_layers),   static_cast<int32_t>(shape->n_heads),
      static_cast<int32_t>(shape->n_kv_heads), static_cast<int32_t>(shape->vocab_size),
      static_cast<int32_t>(shape->max_seq_len)};
  ::mkdir(out.c_str(), 0755);

  const int64_t dim = shape->dim, hidden = shape->hidden_dim, layers = shape->n_layers;
  const int64_t head_dim = dim / shape->n_heads, kv_dim = shape->n_kv_heads * head_dim;
  const int64_t vocab = shape->vocab_size;
  std::ofstream model(out + "/model.bin", std::ios::binary);
  model.write(reinterpret_cast<const char*>(header), sizeof(header));
  std::mt19937 rng(1234);
  auto write = [&](int64_t count, float scale, float offset) {
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> block(static_cast<size_t>(count));
    for (float& v : block) v = offset + dist(rng);
    model.write(reinterpret_cast<const char*>(block.data()),
                static_cast<std::streamsize>(block.size() * sizeof(float)));
  };
  const float w = 0.02f;               // Small weights keep activations in a sane range.
  write(vocab * dim, w, 0);            // token embedding
  write(layers * dim, 0.1f, 1.0f);     // attention norms
  write(layers * dim * dim, w, 0);     // wq
  write(layers * kv_dim * dim, w, 0);  // wk
  write(layers * kv_dim * dim, w, 0);  // wv
  write(layers * dim * dim, w, 0);     // wo
  write(layers * dim, 0.1f, 1.0f);     // ffn norms
  write(layers * hidden * dim, w, 0);  // w1
  write(layers * dim * hidden, w, 0);  // w2
  write(layers * hidden * dim, w, 0);  // w3
  write(dim, 0.1f, 1.0f);              // final norm
  write(2 * shape->max_seq_len * head_dim / 2, 0, 0);  // RoPE tables (unused)
  model.close();

  std::ofstream tokenizer(out + "/tokenizer.bin", std::ios::binary);
  const int32_t max_length = 16;
  tokenizer.write(reinterpret_cast<const char*>(&max_length), 4);
  auto piece = [&](const std::string& text, float score) {
    const auto length = static_cast<int32_t>(text.size());
    tokenizer.write(reinterpret_cast<const char*>(&score), 4);
    tokenizer.write(reinterpret_cast<const char*>(&length), 4);
    tokenizer.write(text.data(), length);
  };
  piece("<unk>", 0);
  piece("\n<s>\n", 0);
  piece("\n</s>\n", 0);
  char byte_piece[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(byte_piece, sizeof(byte_piece), "<0x%02X>", b);
    piece(byte_piece, 0);
  }
  for (int64_t i = 259; i < vocab; ++i) piece(" w" + std::to_string(i), -static_cast<float>(i));
  std::printf(
      "wrote %s/model.bin and %s/tokenizer.bin (%s: dim %lld, %lld layers, %lld heads, ffn %lld, "
      "vocab %lld)\n",
      out.c_str(), out.c_str(), shape->name.c_str(), static_cast<long long>(shape->dim),
      static_cast<long long>(shape->n_layers), static_cast<long long>(shape->n_heads),
      static_cast<long long>(shape->hidden_dim), static_cast<long long>(shape->vocab_size));
  return 0;
}
