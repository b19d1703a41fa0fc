#include "tools/attention_flags.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/rf/positive.h"

namespace favor::cli {

void AddAttentionFlags(ArgParser& args, AttentionFlags& flags) {
  runtime::AttentionConfig& attention = flags.config;
  args.String({"--attention"}, "KIND",
              "exact (default), favor+ (PosRF), favor++ (OPRF), favor# (SADERF), hybrid (exact "
              "sinks and window, favor# tail), window (exact sinks and window only)",
              &attention.kind);
  args.String({"--rf"}, "KIND",
              "random features of favor# and hybrid attention: posrf|gerf|oprf|saderf|aderf|sderf",
              &attention.rf);
  args.Int({"--features"}, "M", "random features per head (default 256)", &attention.features,
           {.min = 1, .max = 65536});
  args.Int({"--favor-seed"}, "N", "seed of the random projections (default 0)", &flags.seed,
           {.min = 0});
  args.String({"--favor-stats"}, "SRC",
              "feature statistics: prompt (favor+/++/#: the prompt's), calibrated "
              "(MODEL.favor-stats) or FILE; hybrid: calibrated when MODEL.favor-stats exists, "
              "else the sequence's own, taken causally",
              &attention.stats);
  args.String({"--favor-layers"}, "LIST", "layers to swap, e.g. 0,2-4 (default: all)",
              &flags.layers);
  args.Int({"--favor-chunk"}, "C", "prefill chunk of the causal prefix sums (default 64)",
           &attention.chunk, {.min = 1, .max = 4096});
  args.Int({"--window"}, "W", "hybrid and window attention: the last W tokens exact (default 64)",
           &attention.window, {.min = 0, .max = 1 << 20});
  args.Int({"--sinks"}, "S", "hybrid and window attention: the first S tokens exact (default 4)",
           &attention.sinks, {.min = 0, .max = 1 << 20});
  args.String({"--favor-plan"}, "FILE",
              "hybrid attention with the per-head windows of a plan (favor calibrate --plan): "
              "calibrated (MODEL.favor-stats) or FILE; it also fixes the sinks, the tail's kind "
              "and its statistics",
              &attention.plan);
}

absl::Status ResolveAttentionFlags(const ArgParser& args, AttentionFlags& flags) {
  runtime::AttentionConfig& attention = flags.config;
  FAVOR_ASSIGN_OR_RETURN(attention.layers, runtime::ParseLayerList(flags.layers));
  attention.seed = static_cast<uint64_t>(flags.seed);
  const std::string& kind = attention.kind;
  auto refuse = [](const std::vector<std::string>& flag_names, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(flag_names.front(), " ", why));
  };
  const std::vector<std::string> feature_flags = {"--features", "--rf", "--favor-stats",
                                                  "--favor-seed", "--favor-chunk"};
  if (!attention.plan.empty()) {
    for (const char* flag : {"--window", "--sinks", "--rf", "--favor-stats", "--features"}) {
      if (args.Given(flag)) {
        return refuse({flag},
                      "overrides what the --favor-plan was measured with (the plan fixes the "
                      "windows, sinks, tail kind, features and statistics)");
      }
    }
    if (kind != "exact" && kind != "hybrid") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--favor-plan runs hybrid attention; --attention ", kind, " contradicts it"));
    }
    return absl::OkStatus();
  }
  if (kind == "exact") {
    for (const char* flag : {"--features", "--rf", "--favor-stats", "--favor-seed",
                             "--favor-layers", "--favor-chunk", "--window", "--sinks"}) {
      if (args.Given(flag)) {
        return refuse({flag},
                      "applies to approximate attention only (--attention favor+|favor++|favor#|"
                      "hybrid|window)");
      }
    }
    return absl::OkStatus();
  }
  if (kind == "window") {
    for (const std::string& flag : feature_flags) {
      if (args.Given(flag)) {
        return refuse({flag},
                      "applies to random features; window attention has none (older tokens are "
                      "dropped; --attention hybrid keeps them in a random-feature tail)");
      }
    }
  }
  if (args.Given("--rf") && (kind == "favor+" || kind == "favor++")) {
    FAVOR_ASSIGN_OR_RETURN(const rf::RfKind named, rf::ParseRfKind(attention.rf));
    const rf::RfKind implied = kind == "favor+" ? rf::RfKind::kPos : rf::RfKind::kOprf;
    if (named != implied) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--attention ", kind, " means ", rf::RfKindName(implied), " features; --rf ",
          attention.rf, " contradicts it (use --attention favor# --rf ", attention.rf, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace favor::cli
