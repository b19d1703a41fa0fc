#include "engine/runtime/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>

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
      return "end_of_sequence";
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
  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  const auto prompt_start = Clock::now();
  FAVOR_ASSIGN_OR_RETURN(auto logits, session.Feed(prompt));
  result.prompt_seconds = Seconds(prompt_start);

  text::Sampler sampler(options.sampling);
  text::TextStream stream(tokenizer);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::string pending;  // Final text held back: it may be the start of a stop string.
  const int64_t limit = options.max_tokens < 0 ? session.context() : options.max_tokens;
  const auto generation_start = Clock::now();
  while (true) {
    if (static_cast<int64_t>(result.tokens.size()) >= limit) {
      result.stop = StopReason::kMaxTokens;
      break;
    }
    FAVOR_RETURN_IF_ERROR(CheckLogitsFinite(logits, session.position()));
    const int32_t next = sampler.Sample(logits, history);
    if (options.stop_at_eos && next == tokenizer.eos_id()) {
      result.stop = StopReason::kEndOfSequence;
      break;
    }
    history.push_back(next);
    result.tokens.push_back(next);
    FAVOR_ASSIGN_OR_RETURN(std::string fresh, stream.Push(next));
    pending += fresh;
    bool stopped = false;
    for (const std::string& stop : options.stop_strings) {
      if (const size_t at = pending.find(stop); at != std::string::npos) {
        pending.resize(at);
        stopped = true;
      }
    }
    const size_t hold = stopped ? 0 : PendingStopPrefix(pending, options.stop_strings);
    std::string released = pending.substr(0, pending.size() - hold);
    pending.erase(0, released.size());
    result.text += released;
    const bool go_on = on_token == nullptr || on_token(next, released);
    if (stopped) {
      result.stop = StopReason::kStopString;
      break;
    }
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
  if (result.stop != StopReason::kStopString && !pending.empty()) {  // Never became a stop.
    result.text += pending;
    if (on_token != nullptr) on_token(kNoToken, pending);
  }
  result.generation_seconds = Seconds(generation_start);
  return result;
}

}  // namespace favor::runtime
