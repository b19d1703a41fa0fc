// The attention options of a command that runs one attention (generate): declared once, and
// checked for options that do not apply to the attention chosen, so a flag is never silently
// ignored.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "engine/runtime/attention_config.h"
#include "tools/cli_args.h"

namespace favor::cli {

struct AttentionFlags {
  runtime::AttentionConfig config;
  std::string layers;  // --favor-layers, parsed by Resolve.
  int64_t seed = 0;    // --favor-seed.
};

void AddAttentionFlags(ArgParser& args, AttentionFlags& flags);

// Parses the layer list and refuses combinations that would be ignored or contradict each other:
// random-feature options with exact or window-only attention, --rf against the kind it names,
// and options that override what a per-head plan was measured with.
absl::Status ResolveAttentionFlags(const ArgParser& args, AttentionFlags& flags);

}  // namespace favor::cli
