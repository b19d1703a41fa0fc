// The generation loop shared by the CLI and the library API: prefill the prompt, then sample one
// token at a time until the token budget, end of sequence, a stop string, the caller's callback
// or the full context stops it. Text is streamed as it becomes final; text that could still turn
// into a stop string is held back until it cannot.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/runtime/session.h"
#include "engine/text/sampler.h"
#include "engine/text/stop_strings.h"
#include "engine/text/text_stream.h"
#include "engine/text/tokenizer.h"

namespace favor::runtime {

struct GenerationOptions {
  text::SamplerOptions sampling;
  int64_t max_tokens = 128;  // < 0: until the context is full.
  // End at the tokenizer's end-of-generation tokens (and at their marker texts spelled out with
  // ordinary pieces); false (--ignore-eos) samples on through them.
  bool stop_at_eos = true;
  std::vector<std::string> stop_strings;  // Generation ends before the first one.
  // >= 0: record each generated token's log-probability under the model (its raw distribution,
  // before temperature and the samplers) and this many most likely tokens with theirs (OpenAI's
  // logprobs / top_logprobs). -1: none.
  int logprobs = -1;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // Most likely first.
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
  std::vector<TokenLogprob> logprobs;  // One per token, with GenerationOptions::logprobs >= 0.
};

// Called for every generated token with the text that became final with it (possibly empty);
// returning false stops generation after this token. Text held back because it might have begun
// a stop string, or because it ends inside a character, comes at the end with token kNoToken. The
// texts, concatenated, are the result's: the decoding of prompt + generated tokens minus that of
// the prompt, cut before a stop string. An end-of-generation token is not among the tokens.
inline constexpr int32_t kNoToken = -1;
using TokenCallback = std::function<bool(int32_t token, const std::string& text)>;

// One sequence's generation apart from the model runs: sampling, the end-of-generation tokens,
// stop strings and the streamed text. Generate drives one on a session; a Batch drives many, their
// tokens fed together in one pass.
class SequenceGenerator {
 public:
  // Checks the options. `prompt`: the tokens held before generation (the text is what follows
  // them). `tokenizer` must outlive the generator.
  static absl::StatusOr<std::unique_ptr<SequenceGenerator>> Create(
      const text::Tokenizer& tokenizer, std::span<const int32_t> prompt,
      const GenerationOptions& options);

  // Given the logits after the last token fed (`held` tokens held of `context`), samples the next
  // token and streams its text. Returns the token to feed next, or nothing when generation ended
  // (result().stop says why; call Finish).
  absl::StatusOr<std::optional<int32_t>> Next(std::span<const float> logits, int64_t held,
                                              int64_t context, const TokenCallback& on_token);
  // Ends the text: releases what was held back (an incomplete character, the start of a stop
  // string that never came), through `on_token` with kNoToken.
  absl::Status Finish(const TokenCallback& on_token);
  // Ends early by the caller's choice (a cancelled request): StopReason::kCallback, then Finish.
  absl::Status Cancel(const TokenCallback& on_token);

  const GenerationResult& result() const { return result_; }
  GenerationResult& result() { return result_; }

 private:
  SequenceGenerator(const text::Tokenizer& tokenizer, std::span<const int32_t> prompt,
                    const GenerationOptions& options);
  std::string Take(const std::string& fresh);
  void RecordLogprob(std::span<const float> logits, int32_t token);

  const text::Tokenizer& tokenizer_;
  GenerationOptions options_;
  std::vector<std::string> stops_;  // The caller's stop strings, then the marker texts.
  size_t first_marker_ = 0;
  text::Sampler sampler_;
  text::TextStream stream_;
  std::vector<int32_t> history_;
  text::StopStrings stop_matcher_;
  GenerationResult result_;
  bool finished_ = false;
  std::vector<int32_t> order_;  // Scratch of the top log-probabilities.
};

// `prompt` is fed from the session's current position (a fresh session: from the start).
absl::StatusOr<GenerationResult> Generate(Session& session, const text::Tokenizer& tokenizer,
                                          std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const TokenCallback& on_token = nullptr);

}  // namespace favor::runtime
