#include "engine/runtime/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/text/stop_strings.h"
#include "engine/text/text_stream.h"

namespace favor::runtime {
namespace {

// Non-finite logits mean the weights or the activations overflowed: sampling from them would
// produce garbage (and NaN breaks the sampler's ordering), so generation stops with an error.
absl::Status CheckLogitsFinite(std::span<const float> logits, int64_t position) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i])) {
      return absl::DataLossError(absl::StrCat("the model produced a non-finite logit (", logits[i],
                                              " for token ", i, ") at position ", position,
                                              ": its weights or activations overflowed"));
    }
  }
  return absl::OkStatus();
}

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
      return "max_tokens";
    case StopReason::kEndOfSequence:
      return "end_of_generation";
    case StopReason::kStopString:
      return "stop_string";
    case StopReason::kCallback:
      return "callback";
    case StopReason::kContextFull:
      return "context_full";
  }
  return "unknown";
}

absl::StatusOr<GenerationResult> Generate(Session& session, const text::Tokenizer& tokenizer,
                                          std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const TokenCallback& on_token) {
  FAVOR_RETURN_IF_ERROR(options.sampling.Validate());
  for (const std::string& stop : options.stop_strings) {
    if (stop.empty()) return absl::InvalidArgumentError("a stop string is empty");
  }
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  const int64_t free = session.context() - session.position();
  if (static_cast<int64_t>(prompt.size()) >= free) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt.size(),
                                              " tokens but the context has room for ", free - 1,
                                              " (context ", session.context(), ")"));
  }
  // The caller's stop strings, then the end-of-generation markers spelled out as text.
  std::vector<std::string> stops = options.stop_strings;
  const size_t first_marker = stops.size();
  if (options.stop_at_eos) {
    const auto& markers = tokenizer.end_of_generation_texts();
    stops.insert(stops.end(), markers.begin(), markers.end());
  }

  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  const auto prompt_start = Clock::now();
  FAVOR_ASSIGN_OR_RETURN(auto logits, session.Feed(prompt));
  result.prompt_seconds = Seconds(prompt_start);

  text::SamplerOptions sampling = options.sampling;
  if (sampling.seed == text::kRandomSeed) sampling.seed = std::random_device{}();
  result.seed = sampling.seed;
  text::Sampler sampler(sampling);
  text::TextStream stream(tokenizer, prompt);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  text::StopStrings stop_matcher(stops);
  // Adds final text and returns what may be released; records a stop that appeared in it.
  auto take = [&](const std::string& fresh) {
    std::string released = stop_matcher.Add(fresh);
    if (const auto matched = stop_matcher.matched()) {
      result.stop = *matched < first_marker ? StopReason::kStopString : StopReason::kEndOfSequence;
      result.stop_text = stops[*matched];
      result.stopped_in_text = true;
    }
    result.text += released;
    return released;
  };
  const int64_t limit = options.max_tokens < 0 ? session.context() : options.max_tokens;
  const auto generation_start = Clock::now();
  while (true) {
    if (static_cast<int64_t>(result.tokens.size()) >= limit) {
      result.stop = StopReason::kMaxTokens;
      break;
    }
    FAVOR_RETURN_IF_ERROR(CheckLogitsFinite(logits, session.position()));
    // Embedding rows past the vocabulary (padding) have no text: never sampled.
    const int32_t next = sampler.Sample(
        logits.first(std::min<size_t>(logits.size(), static_cast<size_t>(tokenizer.vocab_size()))),
        history);
    if (options.stop_at_eos && tokenizer.IsEndOfGeneration(next)) {
      result.stop = StopReason::kEndOfSequence;
      result.stop_text = tokenizer.IdToPiece(next);
      break;
    }
    history.push_back(next);
    result.tokens.push_back(next);
    FAVOR_ASSIGN_OR_RETURN(const std::string fresh, stream.Push(next));
    const std::string released = take(fresh);
    const bool go_on = on_token == nullptr || on_token(next, released);
    if (stop_matcher.matched().has_value()) break;
    if (!go_on) {
      result.stop = StopReason::kCallback;
      break;
    }
    if (session.position() >= session.context()) {
      result.stop = StopReason::kContextFull;
      break;
    }
    if (static_cast<int64_t>(result.tokens.size()) >= limit) {
      result.stop = StopReason::kMaxTokens;
      break;
    }
    FAVOR_ASSIGN_OR_RETURN(logits, session.Feed({&next, 1}));
  }
  if (!stop_matcher.matched().has_value()) {
    // The end of the sequence: an incomplete character comes out as the whole decoding has it
    // (a stop it completes still counts), and text that might have begun a stop string never did.
    FAVOR_ASSIGN_OR_RETURN(const std::string rest, stream.Flush());
    std::string released = take(rest);
    if (!stop_matcher.matched().has_value()) {
      const std::string held = stop_matcher.Finish();
      result.text += held;
      released += held;
    }
    if (on_token != nullptr && !released.empty()) on_token(kNoToken, released);
  }
  result.generation_seconds = Seconds(generation_start);
  return result;
}

}  // namespace favor::runtime
