#include "engine/runtime/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"

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

namespace {

// The caller's stop strings, then the end-of-generation markers spelled out as text.
std::vector<std::string> StopsOf(const text::Tokenizer& tokenizer,
                                 const GenerationOptions& options) {
  std::vector<std::string> stops = options.stop_strings;
  if (options.stop_at_eos) {
    const auto& markers = tokenizer.end_of_generation_texts();
    stops.insert(stops.end(), markers.begin(), markers.end());
  }
  return stops;
}

text::SamplerOptions WithSeed(text::SamplerOptions sampling) {
  if (sampling.seed == text::kRandomSeed) sampling.seed = std::random_device{}();
  return sampling;
}

}  // namespace

SequenceGenerator::SequenceGenerator(const text::Tokenizer& tokenizer,
                                     std::span<const int32_t> prompt,
                                     const GenerationOptions& options)
    : tokenizer_(tokenizer),
      options_(options),
      stops_(StopsOf(tokenizer, options)),
      first_marker_(options.stop_strings.size()),
      sampler_(options.sampling),
      stream_(tokenizer, prompt),
      history_(prompt.begin(), prompt.end()),
      stop_matcher_(stops_) {
  result_.prompt_tokens = static_cast<int64_t>(prompt.size());
  result_.seed = options.sampling.seed;
}

absl::StatusOr<std::unique_ptr<SequenceGenerator>> SequenceGenerator::Create(
    const text::Tokenizer& tokenizer, std::span<const int32_t> prompt,
    const GenerationOptions& options) {
  FAVOR_RETURN_IF_ERROR(options.sampling.Validate());
  for (const std::string& stop : options.stop_strings) {
    if (stop.empty()) return absl::InvalidArgumentError("a stop string is empty");
  }
  GenerationOptions seeded = options;
  seeded.sampling = WithSeed(options.sampling);
  return std::unique_ptr<SequenceGenerator>(new SequenceGenerator(tokenizer, prompt, seeded));
}

// Adds final text and returns what may be released; records a stop that appeared in it.
std::string SequenceGenerator::Take(const std::string& fresh) {
  std::string released = stop_matcher_.Add(fresh);
  if (const auto matched = stop_matcher_.matched()) {
    result_.stop = *matched < first_marker_ ? StopReason::kStopString : StopReason::kEndOfSequence;
    result_.stop_text = stops_[*matched];
    result_.stopped_in_text = true;
  }
  result_.text += released;
  return released;
}

void SequenceGenerator::RecordLogprob(std::span<const float> logits, int32_t token) {
  // log softmax in double: the sum over a vocabulary of exp differences loses little then.
  const float largest = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float logit : logits) sum += std::exp(static_cast<double>(logit - largest));
  const double log_sum = static_cast<double>(largest) + std::log(sum);
  auto logprob = [&](int32_t id) {
    return static_cast<float>(static_cast<double>(logits[static_cast<size_t>(id)]) - log_sum);
  };
  TokenLogprob entry{.token = token, .logprob = logprob(token)};
  const auto top = std::min<size_t>(static_cast<size_t>(options_.logprobs), logits.size());
  if (top > 0) {
    order_.resize(logits.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int32_t>(i);
    std::partial_sort(
        order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(top), order_.end(),
        [&](int32_t a, int32_t b) {
          return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
                 (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
        });
    for (size_t i = 0; i < top; ++i) entry.top.emplace_back(order_[i], logprob(order_[i]));
  }
  result_.logprobs.push_back(std::move(entry));
}

absl::StatusOr<std::optional<int32_t>> SequenceGenerator::Next(std::span<const float> logits,
                                                               int64_t held, int64_t context,
                                                               const TokenCallback& on_token) {
  const int64_t limit = options_.max_tokens < 0 ? context : options_.max_tokens;
  if (static_cast<int64_t>(result_.tokens.size()) >= limit) {
    result_.stop = StopReason::kMaxTokens;
    return std::nullopt;
  }
  FAVOR_RETURN_IF_ERROR(CheckLogitsFinite(logits, held));
  // Embedding rows past the vocabulary (padding) have no text: never sampled.
  const std::span<const float> vocabulary =
      logits.first(std::min<size_t>(logits.size(), static_cast<size_t>(tokenizer_.vocab_size())));
  const int32_t next = sampler_.Sample(vocabulary, history_);
  if (options_.stop_at_eos && tokenizer_.IsEndOfGeneration(next)) {
    result_.stop = StopReason::kEndOfSequence;
    result_.stop_text = tokenizer_.IdToPiece(next);
    return std::nullopt;
  }
  history_.push_back(next);
  result_.tokens.push_back(next);
  if (options_.logprobs >= 0) RecordLogprob(vocabulary, next);
  FAVOR_ASSIGN_OR_RETURN(const std::string fresh, stream_.Push(next));
  const std::string released = Take(fresh);
  const bool go_on = on_token == nullptr || on_token(next, released);
  if (stop_matcher_.matched().has_value()) return std::nullopt;
  if (!go_on) {
    result_.stop = StopReason::kCallback;
    return std::nullopt;
  }
  if (held >= context) {
    result_.stop = StopReason::kContextFull;
    return std::nullopt;
  }
  if (static_cast<int64_t>(result_.tokens.size()) >= limit) {
    result_.stop = StopReason::kMaxTokens;
    return std::nullopt;
  }
  return next;
}

absl::Status SequenceGenerator::Finish(const TokenCallback& on_token) {
  if (finished_) return absl::OkStatus();
  finished_ = true;
  if (stop_matcher_.matched().has_value()) return absl::OkStatus();
  // The end of the sequence: an incomplete character comes out as the whole decoding has it
  // (a stop it completes still counts), and text that might have begun a stop string never did.
  FAVOR_ASSIGN_OR_RETURN(const std::string rest, stream_.Flush());
  std::string released = Take(rest);
  if (!stop_matcher_.matched().has_value()) {
    const std::string held = stop_matcher_.Finish();
    result_.text += held;
    released += held;
  }
  if (on_token != nullptr && !released.empty()) on_token(kNoToken, released);
  return absl::OkStatus();
}

absl::Status SequenceGenerator::Cancel(const TokenCallback& on_token) {
  result_.stop = StopReason::kCallback;
  return Finish(on_token);
}

absl::StatusOr<GenerationResult> Generate(Session& session, const text::Tokenizer& tokenizer,
                                          std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const TokenCallback& on_token) {
  FAVOR_ASSIGN_OR_RETURN(auto generator, SequenceGenerator::Create(tokenizer, prompt, options));
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  const int64_t free = session.context() - session.position();
  if (static_cast<int64_t>(prompt.size()) >= free) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt.size(),
                                              " tokens but the context has room for ", free - 1,
                                              " (context ", session.context(), ")"));
  }
  const auto prompt_start = Clock::now();
  FAVOR_ASSIGN_OR_RETURN(auto logits, session.Feed(prompt));
  generator->result().prompt_seconds = Seconds(prompt_start);
  const auto generation_start = Clock::now();
  while (true) {
    FAVOR_ASSIGN_OR_RETURN(
        const std::optional<int32_t> next,
        generator->Next(logits, session.position(), session.context(), on_token));
    if (!next.has_value()) break;
    FAVOR_ASSIGN_OR_RETURN(logits, session.Feed({&*next, 1}));
  }
  FAVOR_RETURN_IF_ERROR(generator->Finish(on_token));
  generator->result().generation_seconds = Seconds(generation_start);
  return std::move(generator->result());
}

}  // namespace favor::runtime
