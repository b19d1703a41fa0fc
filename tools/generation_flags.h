// The options of the commands that generate (generate, chat), declared once (names, help,
// defaults): sampling, parsed into text::SamplerOptions, and how the session runs.
#pragma once

#include <cstdint>
#include <string>

#include "engine/core/dtype.h"
#include "engine/runtime/session.h"
#include "engine/text/sampler.h"
#include "tools/cli_args.h"

namespace favor::cli {

struct SamplingFlags {
  float temperature = text::SamplerOptions{}.temperature;
  int64_t top_k = 40;
  float top_p = text::SamplerOptions{}.top_p;
  float min_p = text::SamplerOptions{}.min_p;
  float repeat_penalty = text::SamplerOptions{}.repeat_penalty;
  int64_t repeat_last_n = 64;
  int64_t seed = -1;
};

void AddSamplingFlags(ArgParser& args, SamplingFlags& flags);
text::SamplerOptions ToSamplerOptions(const SamplingFlags& flags);

struct SessionFlags {
  int64_t threads = 0, context = 0, batch = 512;
  std::string dtype = "f32";
};

// -t, -c, -b, --dtype.
void AddSessionFlags(ArgParser& args, SessionFlags& flags);
// The weights' compute type (--dtype, checked to be f32 or bf16 by the caller) and the session's
// options from the flags.
DType WeightsType(const SessionFlags& flags);
runtime::SessionOptions ToSessionOptions(const SessionFlags& flags, bool verbose = false);

}  // namespace favor::cli
