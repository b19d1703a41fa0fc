#include "models/decoder.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/embedding.h"
#include "engine/ops/last_row.h"
#include "engine/ops/layer_norm.h"
#include "engine/ops/matmul.h"
#include "engine/ops/position_embedding.h"
#include "engine/ops/rms_norm.h"
#include "engine/ops/rope.h"

namespace favor::models {
namespace {

// Traits whose ops the engine does not have yet: refused by name instead of built wrongly.
absl::Status CheckBuildable(const io::ModelConfig& c, const std::string& source) {
  auto lacking = [&](const char* what) {
    return absl::UnimplementedError(absl::StrCat(source, ": architecture '", c.architecture,
                                                 "' needs ", what,
                                                 ", which the engine cannot build yet"));
  };
  if (c.positions == io::PositionKind::kRotary && c.head_dim() % 2 != 0) {
    return lacking("rotary positions over an odd head size");
  }
  return absl::OkStatus();
}

// Norm weights are tiny: keep them in f32 whatever the file stores.
absl::StatusOr<Tensor> AsF32(const Tensor& tensor) {
  if (tensor.dtype() == DType::kF32) return tensor;
  FAVOR_ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(DType::kF32, tensor.shape()));
  GetDTypeInfo(tensor.dtype())
      .to_f32(tensor.raw_data(), out.mutable_data<float>(), tensor.NumElements());
  return out;
}

kernels::RopeStyle RopeStyleOf(io::RotaryPairs pairs) {
  return pairs == io::RotaryPairs::kHalves ? kernels::RopeStyle::kHalves
                                           : kernels::RopeStyle::kAdjacentPairs;
}

class DecoderBuilder {
 public:
  DecoderBuilder(const io::ModelFile& model, const BuildOptions& options)
      : model_(model), options_(options), graph_(std::make_shared<Graph>()) {}

  absl::StatusOr<std::shared_ptr<Graph>> Build() {
    const io::ModelConfig& c = model_.config;
    Graph& g = *graph_;
    FAVOR_ASSIGN_OR_RETURN(const ValueId tokens,
                           g.AddInput("tokens", {DType::kI32, Shape{kSeqLen}}));
    FAVOR_ASSIGN_OR_RETURN(const ValueId table,
                           g.AddConstant("token_embd.weight", Weight("token_embd.weight")));
    FAVOR_ASSIGN_OR_RETURN(ValueId x,
                           g.Add("embed", std::make_shared<EmbeddingOp>(), {table, tokens}));
    if (c.positions == io::PositionKind::kLearned) {
      FAVOR_ASSIGN_OR_RETURN(Tensor learned, AsF32(Weight("position_embd.weight")));
      FAVOR_ASSIGN_OR_RETURN(const ValueId positions,
                             g.AddConstant("position_embd.weight", std::move(learned)));
      FAVOR_ASSIGN_OR_RETURN(
          x, g.Add("positions", std::make_shared<PositionEmbeddingOp>(), {x, positions}));
    }
    if (c.embedding_scale != 1.0f) {
      FAVOR_ASSIGN_OR_RETURN(
          x,
          g.Add("embed_scale",
                std::make_shared<ElementwiseOp>(ElementwiseKind::kScale, c.embedding_scale), {x}));
    }

    const int64_t head_dim = c.head_dim();
    const kernels::RopeStyle style = RopeStyleOf(c.rotary_pairs);
    // RoPE scaling (Llama 3's, linear) as per-frequency divisors: GGUF's rope_freqs tensor, or
    // the one the Hugging Face loader derives from config.json's rope_scaling.
    std::vector<double> factors;
    if (auto it = model_.tensors.find("rope_freqs.weight"); it != model_.tensors.end()) {
      FAVOR_ASSIGN_OR_RETURN(const Tensor f32, AsF32(it->second));
      factors.assign(f32.data<float>(), f32.data<float>() + f32.NumElements());
    }
    FAVOR_ASSIGN_OR_RETURN(auto rope_q, RopeOp::Create({.n_heads = c.n_heads,
                                                        .head_dim = head_dim,
                                                        .theta = c.rope_theta,
                                                        .style = style,
                                                        .frequency_factors = factors,
                                                        .magnitude = c.rope_attention_factor}));
    FAVOR_ASSIGN_OR_RETURN(auto rope_k, RopeOp::Create({.n_heads = c.n_kv_heads,
                                                        .head_dim = head_dim,
                                                        .theta = c.rope_theta,
                                                        .style = style,
                                                        .frequency_factors = factors,
                                                        .magnitude = c.rope_attention_factor}));
    const AttentionHeads heads = {.n_heads = c.n_heads,
                                  .n_kv_heads = c.n_kv_heads,
                                  .head_dim = head_dim,
                                  .scale = c.query_scale};
    FAVOR_ASSIGN_OR_RETURN(auto global_attention,
                           AttentionOp::Create(heads, {.soft_cap = c.attention_soft_cap}));
    FAVOR_ASSIGN_OR_RETURN(
        auto local_attention,
        AttentionOp::Create(heads, {.window = c.sliding_window, .soft_cap = c.attention_soft_cap}));
    auto add = std::make_shared<ElementwiseOp>(ElementwiseKind::kAdd);
    auto gated = std::make_shared<ElementwiseOp>(c.feed_forward == io::FeedForwardKind::kGeGlu
                                                     ? ElementwiseKind::kGeGlu
                                                     : ElementwiseKind::kSwiGlu);
    auto gelu = std::make_shared<ElementwiseOp>(ElementwiseKind::kGelu);
    const std::string gated_name =
        c.feed_forward == io::FeedForwardKind::kGeGlu ? "ffn_geglu" : "ffn_swiglu";
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const auto& attention = c.LocalLayer(l) ? local_attention : global_attention;
      const std::string p = absl::StrCat("blk.", l, ".");
      FAVOR_ASSIGN_OR_RETURN(const ValueId h, Norm(p + "attn_norm", x));
      FAVOR_ASSIGN_OR_RETURN(const ValueId q_proj, Linear(p + "attn_q", h));
      FAVOR_ASSIGN_OR_RETURN(const ValueId k_proj, Linear(p + "attn_k", h));
      FAVOR_ASSIGN_OR_RETURN(const ValueId v, Linear(p + "attn_v", h));
      ValueId q = q_proj, k = k_proj;
      if (c.positions == io::PositionKind::kRotary) {
        FAVOR_ASSIGN_OR_RETURN(q, g.Add(p + "rope_q", rope_q, {q_proj}));
        FAVOR_ASSIGN_OR_RETURN(k, g.Add(p + "rope_k", rope_k, {k_proj}));
      }
      FAVOR_ASSIGN_OR_RETURN(const ValueId a, g.Add(p + "attention", attention, {q, k, v}));
      FAVOR_ASSIGN_OR_RETURN(ValueId o, Linear(p + "attn_output", a));
      if (c.post_norms) {
        FAVOR_ASSIGN_OR_RETURN(o, Norm(p + "post_attention_norm", o));
      }
      FAVOR_ASSIGN_OR_RETURN(x, g.Add(p + "attn_residual", add, {x, o}));
      FAVOR_ASSIGN_OR_RETURN(const ValueId f, Norm(p + "ffn_norm", x));
      FAVOR_ASSIGN_OR_RETURN(const ValueId up, Linear(p + "ffn_up", f));
      ValueId act;
      if (c.feed_forward == io::FeedForwardKind::kGelu) {
        FAVOR_ASSIGN_OR_RETURN(act, g.Add(p + "ffn_gelu", gelu, {up}));
      } else {
        FAVOR_ASSIGN_OR_RETURN(const ValueId gate, Linear(p + "ffn_gate", f));
        FAVOR_ASSIGN_OR_RETURN(act, g.Add(p + gated_name, gated, {gate, up}));
      }
      FAVOR_ASSIGN_OR_RETURN(ValueId down, Linear(p + "ffn_down", act));
      if (c.post_norms) {
        FAVOR_ASSIGN_OR_RETURN(down, Norm(p + "post_ffw_norm", down));
      }
      FAVOR_ASSIGN_OR_RETURN(x, g.Add(p + "ffn_residual", add, {x, down}));
    }
    // Generation needs the last position only; scoring bypasses this node (runtime::Model).
    FAVOR_ASSIGN_OR_RETURN(x, g.Add("last_position", std::make_shared<LastRowOp>(), {x}));
    FAVOR_ASSIGN_OR_RETURN(const ValueId normed, Norm("output_norm", x));
    const std::string head = model_.tensors.count("output.weight") > 0 ? "output" : "token_embd";
    FAVOR_ASSIGN_OR_RETURN(ValueId logits, Linear(head, normed, "output"));
    if (c.final_soft_cap > 0.0f) {
      FAVOR_ASSIGN_OR_RETURN(logits, g.Add("output_soft_cap",
                                           std::make_shared<ElementwiseOp>(
                                               ElementwiseKind::kSoftCap, c.final_soft_cap),
                                           {logits}));
    }
    FAVOR_RETURN_IF_ERROR(g.MarkOutput(logits));
    return graph_;
  }

 private:
  const Tensor& Weight(const std::string& name) const { return model_.tensors.at(name); }

  absl::StatusOr<ValueId> Norm(const std::string& name, ValueId x) {
    FAVOR_ASSIGN_OR_RETURN(Tensor weight, AsF32(Weight(name + ".weight")));
    if (model_.config.norm == io::NormKind::kLayer) {
      FAVOR_ASSIGN_OR_RETURN(Tensor bias, AsF32(Weight(name + ".bias")));
      FAVOR_ASSIGN_OR_RETURN(const ValueId w,
                             graph_->AddConstant(name + ".weight", std::move(weight)));
      FAVOR_ASSIGN_OR_RETURN(const ValueId b, graph_->AddConstant(name + ".bias", std::move(bias)));
      return graph_->Add(name, std::make_shared<LayerNormOp>(model_.config.norm_eps), {x, w, b});
    }
    if (model_.config.norm_adds_one) {
      // Gemma's (1 + w), folded into a copy once (the file's tensor may be a read-only mapping).
      FAVOR_ASSIGN_OR_RETURN(Tensor shifted, Tensor::Allocate(DType::kF32, weight.shape()));
      for (int64_t i = 0; i < weight.NumElements(); ++i) {
        shifted.mutable_data<float>()[i] = 1.0f + weight.data<float>()[i];
      }
      weight = std::move(shifted);
    }
    FAVOR_ASSIGN_OR_RETURN(const ValueId w,
                           graph_->AddConstant(name + ".weight", std::move(weight)));
    return graph_->Add(name, std::make_shared<RmsNormOp>(model_.config.norm_eps), {x, w});
  }

  // x W^T, plus the bias where the model has one (validated against the architecture's slots).
  absl::StatusOr<ValueId> Linear(const std::string& weight, ValueId x, std::string node = "") {
    FAVOR_ASSIGN_OR_RETURN(
        auto op, MatMulOp::Create(Weight(weight + ".weight"), {.weight_name = weight + ".weight",
                                                               .layout = WeightLayout::kOutByIn,
                                                               .compute = options_.weights}));
    const std::string name = node.empty() ? weight : node;
    FAVOR_ASSIGN_OR_RETURN(const ValueId y, graph_->Add(name, op, {x}));
    const std::string bias_name = weight + ".bias";
    if (model_.tensors.count(bias_name) == 0) return y;
    FAVOR_ASSIGN_OR_RETURN(Tensor bias, AsF32(Weight(bias_name)));
    FAVOR_ASSIGN_OR_RETURN(const ValueId b, graph_->AddConstant(bias_name, std::move(bias)));
    return graph_->Add(name + "_bias", std::make_shared<ElementwiseOp>(ElementwiseKind::kAdd),
                       {y, b});
  }

  const io::ModelFile& model_;
  BuildOptions options_;
  std::shared_ptr<Graph> graph_;
};

}  // namespace

std::vector<TensorSlot> DecoderTensors(const io::ModelConfig& c) {
  const int64_t q_dim = c.n_heads * c.head_dim(), kv_dim = c.n_kv_heads * c.head_dim();
  std::vector<TensorSlot> slots = {
      {"token_embd.weight", Shape{c.vocab_size, c.dim}},
      {"output_norm.weight", Shape{c.dim}},
      {"output.weight", Shape{c.vocab_size, c.dim}, /*optional=*/c.tied_embeddings},
      // RoPE scaling's per-frequency divisors (Llama 3.1+).
      {"rope_freqs.weight", Shape{c.head_dim() / 2}, /*optional=*/true},
  };
  if (c.positions == io::PositionKind::kLearned) {
    slots.push_back({"position_embd.weight", Shape{c.max_seq_len, c.dim}});
  }
  const bool layer_norm = c.norm == io::NormKind::kLayer;
  if (layer_norm) slots.push_back({"output_norm.bias", Shape{c.dim}});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    for (const TensorSlot& slot : std::initializer_list<TensorSlot>{
             {p + "attn_norm.weight", Shape{c.dim}},
             {p + "attn_q.weight", Shape{q_dim, c.dim}},
             {p + "attn_k.weight", Shape{kv_dim, c.dim}},
             {p + "attn_v.weight", Shape{kv_dim, c.dim}},
             {p + "attn_output.weight", Shape{c.dim, q_dim}},
             {p + "ffn_norm.weight", Shape{c.dim}},
         }) {
      slots.push_back(slot);
    }
    if (c.feed_forward != io::FeedForwardKind::kGelu) {
      slots.push_back({p + "ffn_gate.weight", Shape{c.hidden_dim, c.dim}});
    }
    slots.push_back({p + "ffn_up.weight", Shape{c.hidden_dim, c.dim}});
    slots.push_back({p + "ffn_down.weight", Shape{c.dim, c.hidden_dim}});
    if (layer_norm) {
      slots.push_back({p + "attn_norm.bias", Shape{c.dim}});
      slots.push_back({p + "ffn_norm.bias", Shape{c.dim}});
    }
    if (c.post_norms) {
      slots.push_back({p + "post_attention_norm.weight", Shape{c.dim}});
      slots.push_back({p + "post_ffw_norm.weight", Shape{c.dim}});
    }
    if (c.attention_bias) {
      slots.push_back({p + "attn_q.bias", Shape{q_dim}});
      slots.push_back({p + "attn_k.bias", Shape{kv_dim}});
      slots.push_back({p + "attn_v.bias", Shape{kv_dim}});
    }
    if (c.linear_biases) {
      slots.push_back({p + "attn_output.bias", Shape{c.dim}});
      slots.push_back({p + "ffn_up.bias", Shape{c.hidden_dim}});
      slots.push_back({p + "ffn_down.bias", Shape{c.dim}});
    }
  }
  return slots;
}

absl::Status ValidateTensors(const io::ModelFile& model) {
  std::set<std::string> read;
  for (const TensorSlot& slot : DecoderTensors(model.config)) {
    read.insert(slot.name);
    auto it = model.tensors.find(slot.name);
    if (it == model.tensors.end()) {
      if (slot.optional) continue;
      return absl::NotFoundError(absl::StrCat(model.path, ": missing tensor '", slot.name, "'"));
    }
    if (!(it->second.shape() == slot.shape)) {
      return absl::InvalidArgumentError(absl::StrCat(model.path, ": tensor '", slot.name, "' is ",
                                                     it->second.DebugString(), ", expected shape ",
                                                     slot.shape.ToString()));
    }
  }
  for (const auto& [name, tensor] : model.tensors) {
    if (read.count(name) == 0) {
      return absl::UnimplementedError(absl::StrCat(
          model.path, ": tensor '", name, "' has no place in the ", model.config.architecture,
          " decoder (a bias or an extra weight the engine cannot apply yet)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Graph>> BuildDecoder(const io::ModelFile& model,
                                                    const BuildOptions& options) {
  FAVOR_RETURN_IF_ERROR(CheckBuildable(model.config, model.path));
  return DecoderBuilder(model, options).Build();
}

}  // namespace favor::models
