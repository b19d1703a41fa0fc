// The Llama architecture (Llama 1/2/3-style decoders, TinyLlama, the llama2.c models):
// token embedding; per layer RMSNorm, q/k/v projections, RoPE, grouped-query causal attention,
// output projection and residual, RMSNorm, SwiGLU feed-forward and residual; final RMSNorm and the
// output head (tied to the embedding or separate). The RoPE convention comes from the file
// (adjacent pairs for llama2.c and GGUF, halves for Hugging Face).
#pragma once

#include "models/registry.h"

namespace favor::models {

absl::StatusOr<std::shared_ptr<Graph>> BuildLlama(const io::ModelFile& model,
                                                  const BuildOptions& options);

}  // namespace favor::models
