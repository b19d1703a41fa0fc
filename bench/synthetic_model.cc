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

namespace {

struct ShapeSpec {
  const char* name;
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

constexpr ShapeSpec kShapes[] = {
    {"stories15M", 288, 768, 6, 6, 6, 32000, 256},
    {"stories110M", 768, 2048, 12, 12, 12, 32000, 1024},
    {"llama-1b", 2048, 5632, 16, 32, 8, 32000, 2048},
};

int Usage() {
  std::fprintf(stderr,
               "usage: favor_synthetic_model --shape stories15M|stories110M|llama-1b --out DIR\n");
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
  const ShapeSpec* shape = nullptr;
  for (const ShapeSpec& s : kShapes) {
    if (shape_name == s.name) shape = &s;
  }
  if (shape == nullptr || out.empty() || argc != 5) return Usage();
  ::mkdir(out.c_str(), 0755);

  const int64_t dim = shape->dim, hidden = shape->hidden_dim, layers = shape->n_layers;
  const int64_t head_dim = dim / shape->n_heads, kv_dim = shape->n_kv_heads * head_dim;
  const int64_t vocab = shape->vocab_size;
  std::ofstream model(out + "/model.bin", std::ios::binary);
  model.write(reinterpret_cast<const char*>(&shape->dim), 7 * sizeof(int32_t));
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
  write(2 * shape->seq_len * head_dim / 2, 0, 0);  // RoPE tables (unused)
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
      "wrote %s/model.bin and %s/tokenizer.bin (%s: dim %d, %d layers, %d heads, ffn %d, vocab "
      "%d)\n",
      out.c_str(), out.c_str(), shape->name, shape->dim, shape->n_layers, shape->n_heads,
      shape->hidden_dim, shape->vocab_size);
  return 0;
}
