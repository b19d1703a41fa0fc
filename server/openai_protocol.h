// The OpenAI HTTP API as favor speaks it: request bodies of /v1/chat/completions and
// /v1/completions parsed and checked into typed requests, and the response bodies, stream chunks
// and error objects written back. No HTTP and no model here: what a client can send is parsed in
// one place, tested and fuzzed on its own.
//
// Extensions, as llama-server has its own: "top_k", "min_p", "repeat_penalty", "ignore_eos", and
// "attention": {"kind": "hybrid", "features": 64, "window": 128, "sinks": 4, "seed": 1,
// "rf": "saderf", "statistics": "prompt|calibrated|causal"} choosing the request's attention.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat/jinja_value.h"
#include "engine/runtime/generation.h"
#include "favor/attention.hpp"

namespace favor::server {

enum class Endpoint { kChatCompletions, kCompletions };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChatCompletions;
  std::string model;                   // As asked; empty: the server's.
  chat::List messages;                 // Chat: the conversation.
  std::optional<std::string> prompt;   // Completions: text,
  std::vector<int32_t> prompt_tokens;  // or token ids.
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  std::optional<int64_t> max_tokens;  // max_tokens / max_completion_tokens.
  std::optional<float> temperature, top_p, min_p, repeat_penalty;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  std::optional<AttentionSpec> attention;
  // Log-probabilities of the generated tokens with this many alternatives each (chat: logprobs
  // and top_logprobs; completions: logprobs N); -1: none. Not with streaming.
  int logprobs = -1;
};

// Parses and checks a request body. Errors are InvalidArgument naming the field ("'temperature'
// must be a number in [0, 2]").
absl::StatusOr<CompletionRequest> ParseCompletionRequest(Endpoint endpoint, absl::string_view body);

// The request's generation options over the server's defaults.
runtime::GenerationOptions ToGenerationOptions(const CompletionRequest& request,
                                               const runtime::GenerationOptions& defaults);

// "stop" or "length", as OpenAI reports why a choice ended.
const char* FinishReason(runtime::StopReason stop);

// What every response and chunk of one request repeats.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kChatCompletions;
  std::string id;  // "chatcmpl-..." or "cmpl-...".
  int64_t created = 0;
  std::string model;
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int64_t cached_tokens = 0;  // Prompt tokens a slot held already (prompt_tokens_details).
};

// Timings as llama-server reports them, with the attention that ran.
struct Timings {
  double prompt_ms = 0, predicted_ms = 0;
  std::string attention;
  int64_t state_bytes = 0;  // The sequence state of the slot.
};

// The text a token stands for (Tokenizer::TokenText), for log-probabilities.
using TokenText = std::function<std::string(int32_t)>;

// A whole (non-streaming) response; with result.logprobs, the choice's logprobs in the endpoint's
// format.
std::string CompletionResponse(const ResponseHeader& header,
                               const runtime::GenerationResult& result, const Usage& usage,
                               const Timings& timings, const TokenText& token_text = nullptr);
// One streamed chunk: text, the role first (chat), a finish reason last.
std::string StreamChunk(const ResponseHeader& header, const std::string& text, bool first,
                        const char* finish_reason);
// The last chunk with usage (stream_options.include_usage): no choices.
std::string UsageChunk(const ResponseHeader& header, const Usage& usage, const Timings& timings);

// An OpenAI error object: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int http_status = 500;
  std::string type;  // invalid_request_error, authentication_error, server_error, ...
  std::string code;  // Empty: null.
  std::string message;
};
// The HTTP status and error for a failed request: InvalidArgument 400, OutOfRange (a prompt past
// the context) 400 context_length_exceeded, NotFound 404, ResourceExhausted 503 (busy),
// Unavailable 503 (shutting down), others 500.
ApiError ErrorFor(const absl::Status& status);
std::string ErrorBody(const ApiError& error);

// GET /v1/models.
std::string ModelsResponse(const std::string& model, int64_t created, int64_t context,
                           int64_t vocab_size);

}  // namespace favor::server
