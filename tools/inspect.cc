// favor inspect: what a model file holds (format, architecture, tensors, tokenizer, metadata).
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/chat/chat_template.h"
#include "engine/core/dnnl_context.h"
#include "engine/core/threading.h"
#include "engine/kernels/kernels.h"
#include "engine/rf/calibration.h"
#include "engine/runtime/attention_resolution.h"
#include "engine/runtime/model.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace favor::cli {

int Inspect(int argc, char** argv) {
  std::string model_path, tokenizer_path;
  bool all_tensors = false;
  ArgParser args("inspect");
  args.String({"-m", "--model"}, "PATH", "model: .gguf, llama2.c .bin, or Hugging Face directory",
              &model_path);
  args.String({"--tokenizer"}, "PATH", "SentencePiece .model or llama2.c tokenizer.bin",
              &tokenizer_path);
  args.Flag({"--tensors"}, "list every tensor (default: the first layer's and the globals)",
            &all_tensors);
  std::string stats_path;
  args.String({"--favor-stats"}, "FILE",
              "also describe a statistics file and its hybrid plan (default: MODEL.favor-stats "
              "when it exists)",
              &stats_path);
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  if (model_path.empty()) {
    std::fprintf(stderr, "favor inspect: -m PATH is required\n\n%s", args.Usage().c_str());
    return 2;
  }
  auto model = runtime::Model::Load(model_path, {.tokenizer_path = tokenizer_path});
  if (!model.ok()) {
    std::fprintf(stderr, "favor inspect: error: %s\n",
                 std::string(model.status().message()).c_str());
    return 1;
  }
  const io::ModelFile& file = (*model)->file();
  const io::ModelConfig& c = file.config;
  std::printf("model:        %s\nformat:       %s\narchitecture: %s\n", file.path.c_str(),
              file.format.c_str(), c.architecture.c_str());
  // What sets the architecture apart from plain Llama, as the decoder builds it.
  std::vector<std::string> traits;
  traits.push_back(c.feed_forward == io::FeedForwardKind::kGeGlu  ? "GeGLU feed-forward"
                   : c.feed_forward == io::FeedForwardKind::kGelu ? "GELU feed-forward"
                                                                  : "SwiGLU feed-forward");
  if (c.norm == io::NormKind::kLayer) traits.push_back("LayerNorm");
  if (c.positions == io::PositionKind::kLearned) traits.push_back("learned absolute positions");
  if (c.linear_biases) {
    traits.push_back("biases on every projection");
  } else if (c.attention_bias) {
    traits.push_back("q/k/v biases");
  }
  if (c.norm_adds_one) traits.push_back("norms scale by (1 + w)");
  if (c.post_norms) traits.push_back("post-attention and post-FFN norms");
  if (c.embedding_scale != 1.0f) {
    traits.push_back(absl::StrCat("embeddings x ", c.embedding_scale));
  }
  if (c.query_scale != 0.0f) traits.push_back(absl::StrCat("query scale ", c.query_scale));
  if (c.sliding_window > 0) {
    traits.push_back(
        absl::StrCat("sliding window ", c.sliding_window, " on ",
                     c.sliding_window_period <= 1 ? std::string("every layer")
                     : c.sliding_window_period == 2
                         ? std::string("even layers (odd ones global)")
                         : absl::StrCat("layers l % ", c.sliding_window_period, " < ",
                                        c.sliding_window_period - 1, " (the others global)")));
  }
  if (c.attention_soft_cap > 0.0f) {
    traits.push_back(absl::StrCat("scores soft-capped at ", c.attention_soft_cap));
  }
  if (c.final_soft_cap > 0.0f) {
    traits.push_back(absl::StrCat("logits soft-capped at ", c.final_soft_cap));
  }
  if (file.tensors.count("rope_freqs.weight") > 0) traits.push_back("RoPE scaling factors");
  if (c.rope_attention_factor != 1.0) {
    traits.push_back(absl::StrCat("longrope attention factor ", c.rope_attention_factor,
                                  " (short factors: context limited to the original ",
                                  c.max_seq_len, ")"));
  }
  std::printf("traits:       %s\n", absl::StrJoin(traits, "; ").c_str());
  std::printf(
      "dims:         dim %lld, layers %lld, heads %lld, kv heads %lld, head dim %lld, ffn %lld\n",
      static_cast<long long>(c.dim), static_cast<long long>(c.n_layers),
      static_cast<long long>(c.n_heads), static_cast<long long>(c.n_kv_heads),
      static_cast<long long>(c.head_dim()), static_cast<long long>(c.hidden_dim));
  std::printf("vocab:        %lld, context %lld, %s eps %g, rope theta %g (%s), output head %s\n",
              static_cast<long long>(c.vocab_size), static_cast<long long>(c.max_seq_len),
              c.norm == io::NormKind::kRms ? "rms" : "layer norm", c.norm_eps, c.rope_theta,
              c.rotary_pairs == io::RotaryPairs::kHalves ? "halves" : "adjacent pairs",
              c.tied_embeddings ? "tied to the embedding" : "separate");
  const text::Tokenizer& tokenizer = (*model)->tokenizer();
  std::printf("tokenizer:    %s, %d pieces, bos %d '%s', eos %d '%s', adds bos: %s\n",
              tokenizer.origin().c_str(), tokenizer.vocab_size(), tokenizer.bos_id(),
              tokenizer.IdToPiece(tokenizer.bos_id()).c_str(), tokenizer.eos_id(),
              tokenizer.IdToPiece(tokenizer.eos_id()).c_str(), tokenizer.add_bos() ? "yes" : "no");
  std::string end_of_generation;
  for (const int32_t id : tokenizer.end_of_generation()) {
    absl::StrAppend(&end_of_generation, end_of_generation.empty() ? "" : ", ", id, " '",
                    tokenizer.IdToPiece(id), "'");
  }
  std::printf("              %s; generation ends at %s\n", tokenizer.description().c_str(),
              end_of_generation.c_str());
  // The chat template: whether the interpreter runs it, and whether it takes a system message.
  if (tokenizer.chat_template().empty()) {
    std::printf("chat:         no chat template (favor chat needs --chat-template NAME)\n");
  } else {
    const auto chat_template =
        chat::ChatTemplate::Create(tokenizer.chat_template(), "", "", "the model's");
    std::printf("chat:         the model's template, %zu bytes: %s\n",
                tokenizer.chat_template().size(),
                !chat_template.ok() ? std::string(chat_template.status().message()).c_str()
                : chat_template->supports_system_role()
                    ? "runs, takes a system message"
                    : "runs; a system message is merged into the first user turn");
  }
  int64_t parameters = 0, bytes = 0;
  for (const auto& [name, tensor] : file.tensors) {
    parameters += tensor.NumElements();
    bytes += tensor.NumBytes();
  }
  std::printf("tensors:      %zu, %lld parameters, %.2f MiB in memory\n", file.tensors.size(),
              static_cast<long long>(parameters), static_cast<double>(bytes) / (1 << 20));
  {
    // What the file stores, by type: the weights are computed in that form (quantized ones in
    // place, with int8 activations).
    std::map<std::string, int> counts;
    for (const auto& [name, tensor] : file.tensors)
      ++counts[std::string(DTypeName(tensor.dtype()))];
    std::vector<std::string> parts;
    for (const auto& [type, count] : counts) parts.push_back(absl::StrCat(type, " x", count));
    std::printf("stored:       %s\n", absl::StrJoin(parts, ", ").c_str());
  }
  for (const auto& [name, tensor] : file.tensors) {
    const bool first_layer = name.rfind("blk.0.", 0) == 0;
    const bool global = name.rfind("blk.", 0) != 0;
    if (all_tensors || first_layer || global) {
      std::printf("  %-28s %s\n", name.c_str(), tensor.DebugString().c_str());
    }
  }
  if (!file.metadata.empty()) std::printf("metadata:\n");
  for (const auto& [key, value] : file.metadata)
    std::printf("  %-40s %s\n", key.c_str(), value.c_str());
  const bool explicit_stats = !stats_path.empty();
  if (!explicit_stats) stats_path = runtime::DefaultCalibrationPath(model_path);
  if (explicit_stats || std::filesystem::exists(stats_path)) {
    auto calibration = rf::LoadCalibration(stats_path);
    if (!calibration.ok()) return PrintFailure("inspect", calibration.status());
    if (static_cast<int64_t>(calibration->layers.size()) != c.n_layers ||
        calibration->head_dim != c.head_dim()) {
      return PrintFailure("inspect", absl::InvalidArgumentError(absl::StrCat(
                                         stats_path, ": statistics of ", calibration->layers.size(),
                                         " layers with head dim ", calibration->head_dim,
                                         " do not fit this model")));
    }
    std::printf("statistics:   %s: %lld calibration tokens, %zu layers x %zu kv heads\n",
                stats_path.c_str(), static_cast<long long>(calibration->tokens),
                calibration->layers.size(),
                calibration->layers.empty() ? size_t{0} : calibration->layers[0].size());
    if (calibration->plan.has_value()) {
      std::printf("%s", rf::DescribePlan(*calibration->plan).c_str());
    } else {
      std::printf("              no hybrid plan (favor calibrate --plan makes one)\n");
    }
  }
  return 0;
}

int Info(int argc, char** argv) {
  ArgParser args("info");
  if (const auto exit_code = args.ParseCommand(argc, argv)) return *exit_code;
  auto isa = kernels::IsaFromEnvironment();
  if (!isa.ok()) {
    std::fprintf(stderr, "favor: %s\n", std::string(isa.status().message()).c_str());
    return 1;
  }
  std::printf("favor %s\n", FAVOR_VERSION);
  std::printf("kernels:  %s (supported:", std::string(kernels::IsaName(*isa)).c_str());
  for (auto supported : kernels::SupportedIsas()) {
    std::printf(" %s", std::string(kernels::IsaName(supported)).c_str());
  }
  std::printf(")\nthreads:  %d (physical cores)\nmatmul:   %s\n", PhysicalCoreCount(),
              DnnlDescription().c_str());
  return 0;
}

}  // namespace favor::cli
