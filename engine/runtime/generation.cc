#include "engine/runtime/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
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

// How many trailing bytes of `text` could begin a stop string (and must wait).
size_t PendingStopPrefix(const std::string& text, const std::vector<std::string>& stops) {
  size_t longest = 0;
  for (const std::string& stop : stops) {
    for (size_t n = std::min(stop.size() - 1, text.size()); n > longest; --n) {
      if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
        longest = n;
        break;
      }
    }
  }
  return longest;
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
  std::string pending;  // Final text held back: it may be the start of a stop string.
  bool stopped = false;
  // Adds final text; true when a stop (string or marker) has appeared in it.
  auto take = [&](const std::string& fresh) {
    pending += fresh;
    size_t earliest = std::string::npos;
    for (size_t i = 0; i < stops.size(); ++i) {
      const size_t at = pending.find(stops[i]);
      if (at == std::string::npos || at >= earliest) continue;
      earliest = at;
      result.stop = i < first_marker ? StopReason::kStopString : StopReason::kEndOfSequence;
      result.stop_text = stops[i];
    }
    if (earliest != std::string::npos) pending.resize(earliest);
    return earliest != std::string::npos;
  };
  // Hands out the pending text that can no longer begin a stop string (all of it at the end).
  auto release = [&](bool all) {
    const size_t hold = all ? 0 : PendingStopPrefix(pending, stops);
    std::string released = pending.substr(0, pending.size() - hold);
    pending.erase(0, released.size());
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
    const int32_t next = sampler.Sample(logits, history);
    if (options.stop_at_eos && tokenizer.IsEndOfGeneration(next)) {
      result.stop = StopReason::kEndOfSequence;
      result.stop_text = tokenizer.IdToPiece(next);
      break;
    }
    history.push_back(next);
    result.tokens.push_back(next);
    FAVOR_ASSIGN_OR_RETURN(const std::string fresh, stream.Push(next));
    stopped = take(fresh);
    const std::string released = release(stopped);
    const bool go_on = on_token == nullptr || on_token(next, released);
    if (stopped) break;
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
  if (!stopped) {
    // The end of the sequence: an incomplete character comes out as the whole decoding has it,
    // and text that might have begun a stop string never did.
    FAVOR_ASSIGN_OR_RETURN(const std::string rest, stream.Flush());
    take(rest);  // A stop completed by the flushed text still counts.
    const std::string released = release(true);
    if (on_token != nullptr && !released.empty()) on_token(kNoToken, released);
  }
  result.generation_seconds = Seconds(generation_start);
  return result;
}

}  // namespace favor::runtime
