// The generation loop shared by the CLI and the library API: prefill the prompt, then sample one
// token at a time until the token budget, end of sequence, a stop string, the caller's callback
// or the full context stops it. Text is streamed as it becomes final; text that could still turn
// into a stop string is held back until it cannot.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/runtime/session.h"
#include "engine/text/sampler.h"
#include "engine/text/tokenizer.h"

namespace favor::runtime {

struct GenerationOptions {
  text::SamplerOptions sampling;
  int64_t max_tokens = 128;  // < 0: until the context is full.
  // End at the tokenizer's end-of-generation tokens (and at their marker texts spelled out with
  // ordinary pieces); false (--ignore-eos) samples on through them.
  bool stop_at_eos = true;
  std::vector<std::string> stop_strings;  // Generation ends before the first one.
};

enum class StopReason { kMaxTokens, kEndOfSequence, kStopString, kCallback, kContextFull };
const char* StopReasonName(StopReason reason);

struct GenerationResult {
  std::vector<int32_t> tokens;  // Generated, without the prompt.
  std::string text;             // Their text, cut before a stop string.
  StopReason stop = StopReason::kMaxTokens;
  // What ended it: the stop string, or the end-of-generation token's piece or marker text.
  std::string stop_text;
  // Whether the stop was found in the text (a stop string, a marker spelled out with ordinary
  // pieces): `text` then ends before the text of the last tokens.
  bool stopped_in_text = false;
  uint64_t seed = 0;  // The sampling seed used (drawn when the options asked for kRandomSeed).
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0, generation_seconds = 0;
};

// Called for every generated token with the text that became final with it (possibly empty);
// returning false stops generation after this token. Text held back because it might have begun
// a stop string, or because it ends inside a character, comes at the end with token kNoToken. The
// texts, concatenated, are the result's: the decoding of prompt + generated tokens minus that of
// the prompt, cut before a stop string. An end-of-generation token is not among the tokens.
inline constexpr int32_t kNoToken = -1;
using TokenCallback = std::function<bool(int32_t token, const std::string& text)>;

// `prompt` is fed from the session's current position (a fresh session: from the start).
absl::StatusOr<GenerationResult> Generate(Session& session, const text::Tokenizer& tokenizer,
                                          std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const TokenCallback& on_token = nullptr);

}  // namespace favor::runtime
